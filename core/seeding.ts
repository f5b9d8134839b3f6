/**
 * Seeding: an archive too large to send in one backup window (a first backup of 300 GB over a
 * 50 Mbit/s link) is sent over several nights. Each run's database backups complete and validate;
 * its archive snapshot holds what is in S3 so far and `archive.pending` (protocol/manifest.ts) what
 * is not yet. The run records how far the archive has come; the tenant records the seeding as a
 * whole (when it started, when it last made progress, done / total), which `so-backup status`
 * shows ("seeding 42 %, about 2 more nights") and the hourly check alarms on when it stalls.
 */

/** How far a run's archive has come: in S3 (at their current content) against everything there is. */
export interface ArchiveProgress {
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  bytesTotal: number;
  /** Files and bytes the window's end left for the next run (0 when complete). */
  pendingFiles: number;
  pendingBytes: number;
  /** The archive bytes this run sent. */
  uploadedBytes: number;
}

/** A tenant's seeding in progress (absent once an archive run completes). */
export interface SeedingState {
  /** The first run that left files pending, and when it finished. */
  startedRunId: string;
  startedAt: string;
  /** The latest run that made progress (sent something, or left less pending), and when it finished. */
  lastProgressAt: string;
  /** The latest run counted (a retried finalize of the same run is not counted twice). */
  lastRunId: string;
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  bytesTotal: number;
  /** Runs counted since seeding started, and the archive bytes they sent: the rate per night. */
  runs: number;
  bytesSent: number;
}

/** No progress for this long and the seeding is stalled (alarmed on). */
export const SEEDING_STALLED_AFTER_HOURS = 24;

/**
 * A run's archive progress from its manifest's archive summary, as validated: the snapshot's
 * `files` and `bytes` are in S3; `pending` is what the window's end left (protocol/manifest.ts).
 */
export function archiveProgress(archive: {
  files: number;
  bytes: number;
  uploadedBytes: number;
  pending?: { files: number; bytes: number };
}): ArchiveProgress {
  const pendingFiles = archive.pending?.files ?? 0;
  const pendingBytes = archive.pending?.bytes ?? 0;
  return {
    filesDone: archive.files,
    filesTotal: archive.files + pendingFiles,
    bytesDone: archive.bytes,
    bytesTotal: archive.bytes + pendingBytes,
    pendingFiles,
    pendingBytes,
    uploadedBytes: archive.uploadedBytes,
  };
}

/**
 * The tenant's seeding after a run whose archive validated: undefined when nothing is pending
 * (a complete archive run ends the seeding), otherwise the state carried on from `previous`
 * (started now when there was none). Progress is a run that sent archive bytes or left fewer
 * files or bytes pending than the run before; a run without progress keeps `lastProgressAt`.
 */
export function nextSeeding(
  previous: SeedingState | undefined,
  progress: ArchiveProgress,
  run: { runId: string; finishedAt: string },
): SeedingState | undefined {
  if (progress.pendingFiles === 0) return undefined;
  if (previous?.lastRunId === run.runId) return previous;
  const done = {
    filesDone: progress.filesDone,
    filesTotal: progress.filesTotal,
    bytesDone: progress.bytesDone,
    bytesTotal: progress.bytesTotal,
  };
  if (!previous) {
    return {
      startedRunId: run.runId,
      startedAt: run.finishedAt,
      lastProgressAt: run.finishedAt,
      lastRunId: run.runId,
      ...done,
      runs: 1,
      bytesSent: progress.uploadedBytes,
    };
  }
  const moved =
    progress.uploadedBytes > 0 ||
    progress.pendingFiles < previous.filesTotal - previous.filesDone ||
    progress.pendingBytes < previous.bytesTotal - previous.bytesDone;
  return {
    ...previous,
    ...done,
    lastRunId: run.runId,
    lastProgressAt: moved ? run.finishedAt : previous.lastProgressAt,
    runs: previous.runs + 1,
    bytesSent: previous.bytesSent + progress.uploadedBytes,
  };
}

/** Percent done (by bytes; by files when there are no bytes), 0–100, rounded down so 99.9 % never reads 100 %. */
export function seedingPercent(state: Pick<SeedingState, 'filesDone' | 'filesTotal' | 'bytesDone' | 'bytesTotal'>): number {
  const [done, total] = state.bytesTotal > 0 ? [state.bytesDone, state.bytesTotal] : [state.filesDone, state.filesTotal];
  return total === 0 ? 100 : Math.min(99, Math.floor((done / total) * 100));
}

/**
 * How many more nightly runs the pending bytes need at the rate so far (archive bytes sent per
 * run since seeding started); undefined when no run has sent anything yet (no rate to go by).
 */
export function seedingNightsLeft(state: Pick<SeedingState, 'bytesDone' | 'bytesTotal' | 'runs' | 'bytesSent'>): number | undefined {
  const perRun = state.runs > 0 ? state.bytesSent / state.runs : 0;
  if (perRun <= 0) return undefined;
  return Math.max(1, Math.ceil(Math.max(0, state.bytesTotal - state.bytesDone) / perRun));
}

/** Whether the seeding has made no progress for `afterHours` (default a day). */
export function seedingStalled(state: Pick<SeedingState, 'lastProgressAt'>, now: Date, afterHours = SEEDING_STALLED_AFTER_HOURS): boolean {
  return now.getTime() - Date.parse(state.lastProgressAt) > afterHours * 3_600_000;
}

/** "seeding 42 %, about 2 more nights" / "seeding 42 %, no estimate yet" / "… — NO PROGRESS for 30h". */
export function describeSeeding(state: SeedingState, now: Date): string {
  const nights = seedingNightsLeft(state);
  const estimate = nights === undefined ? 'no estimate yet' : nights === 1 ? 'about 1 more night' : `about ${nights} more nights`;
  const hours = Math.floor((now.getTime() - Date.parse(state.lastProgressAt)) / 3_600_000);
  return `seeding ${seedingPercent(state)} %, ${estimate}${seedingStalled(state, now) ? ` — NO PROGRESS for ${hours}h` : ''}`;
}
