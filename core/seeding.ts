/**
 * Seeding: an archive too large to send in one backup window (a first backup of 300 GB over a
 * 50 Mbit/s link) is sent over several nights. Each run's database backups complete and validate;
 * its archive snapshot holds what is in S3 so far and `archive.pending` (protocol/manifest.ts) what
 * is not yet. The run records how far the archive has come; the tenant records the seeding as a
 * whole (when it started, when it last made progress, done / total), which `so-backup status`
 * shows ("seeding 42 %, about 2 more nights") and the hourly check alarms on when it stalls.
 * How far one run's archive has come (ArchiveProgress, seedingPercent) is read from its manifest
 * alone, so it lives with the manifest (protocol/archive-progress.ts), where so-connector restore
 * reads it too.
 */
import { type ArchiveProgress, archiveProgress, seedingPercent } from '../protocol';

export { type ArchiveProgress, archiveProgress, seedingPercent };

/** A tenant's seeding in progress (absent once an archive run completes). */
export interface SeedingState {
  /** The first run that left files pending, and when it finished. */
  startedRunId: string;
  startedAt: string;
  /**
   * When the latest run that made progress finished: a run that sent archive bytes AND left fewer
   * bytes pending than any run of this seeding before it (`leastPendingBytes`). Deleting pending
   * files sends nothing; re-sending today's changed files leaves the backlog as it was: neither counts.
   */
  lastProgressAt: string;
  /** The latest run counted (a retried finalize of the same run is not counted twice). */
  lastRunId: string;
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  bytesTotal: number;
  /** Runs counted since seeding started, and the archive bytes they sent (today's changes too). */
  runs: number;
  bytesSent: number;
  /**
   * The fewest bytes any run of this seeding left pending (the backlog's low-water mark). Absent in
   * a state recorded before it existed: then the last run's pending (`bytesTotal - bytesDone`).
   */
  leastPendingBytes?: number;
  /**
   * The backlog bytes sent since seeding started: the first run's archive bytes, then per run
   * the connector's `backlogSent` (or, without it, the bytes it took off the low-water mark, at
   * most what it sent: `min(sent, least - pending)`). The estimate's rate per night. Absent in an
   * older state: `bytesSent`.
   */
  backlogBytesSent?: number;
  /** The last run's pending bytes already in S3 as parts of paused uploads: parts sent since count as sent. */
  partsBytes?: number;
}

/** No progress for this long and the seeding is stalled (alarmed on). */
export const SEEDING_STALLED_AFTER_HOURS = 24;

/**
 * The tenant's seeding after a run whose archive validated: undefined when nothing is pending
 * (a complete archive run ends the seeding), otherwise the state carried on from `previous`
 * (started now when there was none).
 *
 * Progress is a run that sent backlog: files the previous run left pending, as the connector
 * counts them (the manifest's `archive.backlogSent`: it keeps the pending files' names between
 * runs). That cannot be faked by what happens to the archive meanwhile:
 * - deleting pending files lowers the pending count but sends no backlog: no progress;
 * - re-sending a changed file every night while the backlog waits: no progress, stalled after a day;
 * - new files arriving faster than a night sends (a bulk import): the backlog still goes down,
 *   so it is progress (no false alarm), and the estimate goes by backlog bytes sent per night.
 * A connector that does not count it (an older one, or its state folder lost) is judged by the
 * low-water rule instead: a run that sent archive bytes AND left fewer bytes pending than any run
 * of this seeding before it (deleting pending files while re-sending a changed one fools it).
 * A large file paused between parts at the window's end is pending whole, but its parts in S3 are
 * sent: pending is counted without them (`partsBytes`), and parts added since the last run count
 * as backlog sent, so a night that only sends parts of one huge file is progress too.
 * A run without progress keeps `lastProgressAt`.
 */
export function nextSeeding(
  previous: SeedingState | undefined,
  progress: ArchiveProgress,
  run: { runId: string; finishedAt: string },
): SeedingState | undefined {
  if (progress.pendingFiles === 0) return undefined;
  if (previous?.lastRunId === run.runId) return previous;
  const parts = progress.partsBytes ?? 0;
  /** Pending bytes not yet in S3 in any form. */
  const stillToSend = progress.pendingBytes - parts;
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
      leastPendingBytes: stillToSend,
      backlogBytesSent: progress.uploadedBytes + parts,
      ...(parts ? { partsBytes: parts } : {}),
    };
  }
  const least = previous.leastPendingBytes ?? previous.bytesTotal - previous.bytesDone;
  const newParts = Math.max(0, parts - (previous.partsBytes ?? 0));
  const sent = progress.uploadedBytes + newParts;
  // The connector's count of backlog sent (files the last run left pending) when it knows it;
  // else the low-water rule, which deleting pending files while re-sending a changed one can fool.
  const backlogSent =
    progress.backlogSentBytes !== undefined
      ? progress.backlogSentBytes + newParts
      : sent > 0
        ? Math.min(sent, Math.max(0, least - stillToSend))
        : 0;
  return {
    ...previous,
    ...done,
    lastRunId: run.runId,
    lastProgressAt: backlogSent > 0 ? run.finishedAt : previous.lastProgressAt,
    runs: previous.runs + 1,
    bytesSent: previous.bytesSent + progress.uploadedBytes,
    leastPendingBytes: Math.min(least, stillToSend),
    backlogBytesSent: (previous.backlogBytesSent ?? previous.bytesSent) + backlogSent,
    partsBytes: parts,
  };
}

/**
 * How many more nightly runs the pending bytes need at the rate so far: backlog bytes sent per
 * run since seeding started (`backlogBytesSent`, not re-sent changes); undefined when no run has
 * sent any backlog yet (no rate to go by).
 */
export function seedingNightsLeft(
  state: Pick<SeedingState, 'bytesDone' | 'bytesTotal' | 'runs' | 'bytesSent' | 'backlogBytesSent'>,
): number | undefined {
  const perRun = state.runs > 0 ? (state.backlogBytesSent ?? state.bytesSent) / state.runs : 0;
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
