/**
 * A run's backup window: how long after a BackupRun starts its connector may go on sending the
 * archive (docs/bandwidth.md, "Backup window"). Not to be confused with the stack's
 * `backupWindowHours`, the span over which tenants without their own backup time have their
 * *start* spread (core/schedule.ts). Databases are always backed up in full; when the window ends
 * the archive starts no new file and the run reports what is still pending (`archive.pending` in
 * the manifest), which the next run sends.
 *
 * Where the window comes from, first that is set: `so-backup backup --window` for one run, the
 * tenant's (`so-backup tenants set --backup-window`), the stack's (`-c runWindowHours`, default
 * DEFAULT_RUN_WINDOW_SECONDS). A window of 0 seconds is "none": the run goes on until it is done.
 */

/** The stack's default: 8 hours. A run started at 22:00–02:00 stops sending the archive by 06:00–10:00. */
export const DEFAULT_RUN_WINDOW_SECONDS = 8 * 3600;
/** The longest window: just under a day (the next night's run would find this one running). */
export const MAX_RUN_WINDOW_SECONDS = 23 * 3600;
/** "none": no window. */
export const NO_WINDOW = 0;

const UNIT_SECONDS = { s: 1, m: 60, h: 3600 } as const;

/**
 * A window ends this long before the stack's backup timeout at the latest, so a run whose window
 * ends is over (its files in flight finished, manifest written, validated) before it is timed out.
 */
export const RUN_WINDOW_MARGIN_SECONDS = 900;

/**
 * The longest window the stack lets a run have: its backup timeout less the margin (Prepare cuts
 * a longer one to this; the CLI refuses one). `runTimeoutSeconds` is the stack's output
 * RunTimeoutSeconds: the backup timeout plus an hour.
 */
export function latestRunWindowSeconds(runTimeoutSeconds: number): number {
  return Math.max(1, runTimeoutSeconds - 3600 - RUN_WINDOW_MARGIN_SECONDS);
}

/**
 * Parses a window: a duration of hours, minutes and seconds ("5h", "90m", "1h30m", "45s"), or
 * "none" (0: no window). Seconds are allowed so a test can use a short window. A unit after a
 * larger one must be under 60 ("1h90m" is refused, naming "2h30m": likely a typo, never guessed).
 * `limit`: the longest window allowed and why (default 23 h: the next night's run).
 * @returns seconds, 1 to `limit.seconds`, or NO_WINDOW
 * @throws RangeError naming what is wrong and what to write
 */
export function parseRunWindow(
  text: string,
  limit: { seconds: number; why: string } = {
    seconds: MAX_RUN_WINDOW_SECONDS,
    why: "the next night's run would find this one still running",
  },
): number {
  const trimmed = text.trim().toLowerCase();
  if (trimmed === 'none') return NO_WINDOW;
  const match = /^(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*(?:(\d+)\s*s)?$/.exec(trimmed);
  const decimal = /^(\d*\.\d+)\s*(h|m)$/.exec(trimmed);
  if (decimal) {
    // "1.5h": whole units only, and the whole-unit form named (never guessed into a window).
    const seconds = Math.round(Number(decimal[1]) * UNIT_SECONDS[decimal[2] as 'h' | 'm']);
    throw new RangeError(`"${text}" is not a duration: write whole units; did you mean "${describeRunWindow(seconds).replace(/ /g, '')}"?`);
  }
  if (!match || trimmed === '' || match.slice(1).every((part) => part === undefined)) {
    throw new RangeError(
      `"${text}" is not a duration: give hours, minutes or seconds, e.g. "5h", "90m", "1h30m" or "45s", or "none" (no window)`,
    );
  }
  const [hours = 0, minutes = 0, seconds = 0] = match.slice(1).map((part) => (part === undefined ? 0 : Number(part)));
  const total = hours * UNIT_SECONDS.h + minutes * UNIT_SECONDS.m + seconds * UNIT_SECONDS.s;
  const overflow = (match[1] !== undefined && minutes >= 60) || ((match[1] !== undefined || match[2] !== undefined) && seconds >= 60);
  if (overflow)
    throw new RangeError(
      `"${text}" is not a duration: ${minutes >= 60 && match[1] !== undefined ? 'minutes' : 'seconds'} after a larger unit must be under 60; did you mean "${describeRunWindow(total).replace(/ /g, '')}"?`,
    );
  if (total < 1) throw new RangeError(`a window of "${text}" is empty: give at least 1s, or "none" for no window`);
  if (total > limit.seconds)
    throw new RangeError(
      `a window of "${text}" is longer than ${describeRunWindow(limit.seconds)}: ${limit.why}; give at most ${describeRunWindow(limit.seconds)}`,
    );
  return total;
}

/** "5h", "1h 30m", "45s", "none": a window as written. */
export function describeRunWindow(seconds: number): string {
  if (seconds === NO_WINDOW) return 'none';
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return [h ? `${h}h` : '', m ? `${m}m` : '', s ? `${s}s` : ''].filter(Boolean).join(' ');
}

/** Which window a run has and where it came from. */
export interface RunWindow {
  /** Seconds (NO_WINDOW: none). */
  seconds: number;
  source: 'run' | 'tenant' | 'stack';
}

/** The run's window: the run's own (`backup --window`), else the tenant's, else the stack's. */
export function runWindowOf(
  request: { windowSeconds?: number },
  tenant: { backupWindowSeconds?: number } | undefined,
  stackSeconds: number,
): RunWindow {
  if (request.windowSeconds !== undefined) return { seconds: request.windowSeconds, source: 'run' };
  if (tenant?.backupWindowSeconds !== undefined) return { seconds: tenant.backupWindowSeconds, source: 'tenant' };
  return { seconds: stackSeconds, source: 'stack' };
}

/**
 * When the run's window ends (ISO 8601), undefined for no window. Counted from the moment the run
 * was requested (its execution's start), not from when the job reached the connector: a run that
 * waited for an offline connector still ends its window when it would have, so the archive does
 * not run on into the working day.
 */
export function windowEndsAt(requestedAt: string | Date, window: Pick<RunWindow, 'seconds'>): string | undefined {
  if (window.seconds === NO_WINDOW) return undefined;
  const start = typeof requestedAt === 'string' ? Date.parse(requestedAt) : requestedAt.getTime();
  if (!Number.isFinite(start)) throw new RangeError(`a run's start "${String(requestedAt)}" is not a time`);
  return new Date(start + window.seconds * 1000).toISOString();
}
