/**
 * How far an archive seeded over several nights has come, as one run's manifest says it: the
 * snapshot's files and bytes are in S3, `archive.pending` (manifest.ts) is what the backup
 * window's end left. Shared by the cloud (run records, the tenant's seeding, status) and
 * so-connector restore, so both say the same percentage (docs/bandwidth.md, "Backup window").
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
  /** Of the pending bytes, those already in S3 as parts of uploads paused at the window's end (protocol/manifest.ts). */
  partsBytes?: number;
  /** Of the bytes sent, those of files the previous run left pending (manifest.ts `backlogSent`); absent when the connector did not know them. */
  backlogSentBytes?: number;
}

/**
 * A run's archive progress from its manifest's archive summary, as validated: the snapshot's
 * `files` and `bytes` are in S3; `pending` is what the window's end left (manifest.ts).
 */
export function archiveProgress(archive: {
  files: number;
  bytes: number;
  uploadedBytes: number;
  pending?: { files: number; bytes: number; partsBytes?: number };
  backlogSent?: { files: number; bytes: number };
}): ArchiveProgress {
  const pendingFiles = archive.pending?.files ?? 0;
  const pendingBytes = archive.pending?.bytes ?? 0;
  return {
    ...(archive.pending?.partsBytes ? { partsBytes: archive.pending.partsBytes } : {}),
    ...(archive.backlogSent ? { backlogSentBytes: archive.backlogSent.bytes } : {}),
    filesDone: archive.files,
    filesTotal: archive.files + pendingFiles,
    bytesDone: archive.bytes,
    bytesTotal: archive.bytes + pendingBytes,
    pendingFiles,
    pendingBytes,
    uploadedBytes: archive.uploadedBytes,
  };
}

/** Percent done (by bytes; by files when there are no bytes), 0–100, rounded down so 99.9 % never reads 100 %. */
export function seedingPercent(state: Pick<ArchiveProgress, 'filesDone' | 'filesTotal' | 'bytesDone' | 'bytesTotal'>): number {
  const [done, total] = state.bytesTotal > 0 ? [state.bytesDone, state.bytesTotal] : [state.filesDone, state.filesTotal];
  return total === 0 ? 100 : Math.min(99, Math.floor((done / total) * 100));
}
