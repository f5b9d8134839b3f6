/** Plain-text rendering for people; `--json` prints the same data unformatted. */
import stringWidth from 'string-width';
import { type ArchiveProgress, seedingPercent } from '../../core';
import { formatRate } from '../../protocol';

export interface Column<T> {
  header: string;
  value: (row: T) => string;
  /** Right-align (numbers, sizes, ages). */
  right?: boolean;
}

/**
 * Columns aligned by display width on a terminal (string-width: East Asian wide characters such
 * as 顧客 take two columns, combining marks none), not by UTF-16 length.
 */
export function table<T>(rows: readonly T[], columns: ReadonlyArray<Column<T>>): string {
  if (rows.length === 0) return '(none)';
  const cells = rows.map((row) => columns.map((column) => column.value(row)));
  const widths = columns.map((column, i) => Math.max(stringWidth(column.header), ...cells.map((line) => stringWidth(line[i]!))));
  const pad = (value: string, i: number) => {
    const fill = ' '.repeat(Math.max(0, widths[i]! - stringWidth(value)));
    return columns[i]!.right ? fill + value : value + fill;
  };
  const line = (values: string[]) => values.map(pad).join('  ').trimEnd();
  return [line(columns.map((c) => c.header)), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

/** "2d 4h", "3h 12m", "45s": how long ago or how long something took. */
export function duration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return '-';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3600)}h`;
}

export function bytes(count: number | undefined): string {
  if (count === undefined) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = count;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** "18m ago", "5h 12m ago", "2d 3h ago"; under a minute "<1m ago" (status LAST BACKUP). */
export function ago(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return 'never';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return '<1m ago';
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  return `${duration(s)} ago`;
}

/** "1 file", "2 files", "1,000 files". */
export function plural(n: number, word: string): string {
  return `${n.toLocaleString('en-US')} ${word}${n === 1 ? '' : 's'}`;
}

/** "2026-11-25 02:00:00" (UTC, with seconds: a window's end, which a short window makes matter) or "-". */
export function whenExact(iso: string | undefined): string {
  return iso ? `${iso.slice(0, 10)} ${iso.slice(11, 19)}` : '-';
}

/** "2026-11-25 02:00" (UTC) or "-". */
export function when(iso: string | undefined): string {
  return iso ? `${iso.slice(0, 10)} ${iso.slice(11, 16)}` : '-';
}

/** "at 19.8 Mbit/s (limit 20 Mbit/s)" from a run's progress; empty when the connector reported no rate. */
export function rateText(progress: { bytesPerSecond?: number; limitBytesPerSecond?: number | null } | undefined): string {
  if (progress?.bytesPerSecond === undefined) return '';
  const limit = progress.limitBytesPerSecond === undefined ? '' : ` (limit ${formatRate(progress.limitBytesPerSecond)})`;
  return ` at ${formatRate(progress.bytesPerSecond)}${limit}`;
}

/** A progress bar for a terminal: "[#########-----------]  45%  build". */
export function progressBar(percent: number | undefined, label: string, width = 30): string {
  if (percent === undefined) return `[${'.'.repeat(width)}]   ?%  ${label}`;
  const filled = Math.round((Math.min(100, Math.max(0, percent)) / 100) * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.round(percent)).padStart(3)}%  ${label}`;
}

/** A run's failure as one line: "Error: cause", without the name twice when the cause already starts with it. */
export function failureText(failure: { error: string; cause: string }): string {
  return failure.cause.startsWith(`${failure.error}: `) ? failure.cause : `${failure.error}: ${failure.cause}`;
}

/** "1,000 of 3,000 files, 93.1 GiB of 279.4 GiB (33 %); 2,000 files, 186.3 GiB left for the next run" (core/seeding.ts ArchiveProgress). */
export function archiveProgressText(progress: Omit<ArchiveProgress, 'uploadedBytes'>): string {
  const done = `${progress.filesDone.toLocaleString('en-US')} of ${plural(progress.filesTotal, 'file')}, ${bytes(progress.bytesDone)} of ${bytes(progress.bytesTotal)}`;
  if (progress.pendingFiles === 0) return `${done}: complete`;
  return `${done} (${seedingPercent(progress)} %); ${plural(progress.pendingFiles, 'file')}, ${bytes(progress.pendingBytes)} left for the next run (the backup window ended)`;
}
