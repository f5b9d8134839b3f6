import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { Logger } from 'pino';
import { type ArchiveSummary, keyLayout, type SnapshotFile } from '../../../protocol';
import type { ObjectStore } from '../store/object-store';
import { ArchiveIndex } from './archive-index';
import { type ArchiveRoot, type MirrorOptions, mirrorArchive } from './archive-mirror';

const gzipAsync = promisify(gzip);

/**
 * The archive part of a backup run: mirror the roots, store the run's snapshot (every file at its
 * exact version, gzip-compressed JSON), then save the index. Returns the manifest's summary.
 */
export async function backupArchive(
  run: { tenantId: string; runId: string },
  roots: ArchiveRoot[],
  deps: { store: ObjectStore; stateDir: string; logger: Logger } & Pick<MirrorOptions, 'onProgress' | 'signal' | 'concurrency'>,
): Promise<ArchiveSummary> {
  const { store, logger } = deps;
  const index = await ArchiveIndex.load(deps.stateDir);
  if (index.found.state !== 'loaded') logger.warn({ index: index.found }, 'archive index missing or damaged: rebuilding it from what S3 holds');
  const mirrored = await mirrorArchive(run.tenantId, roots, store, index, deps);
  const snapshot = await store.putBuffer(keyLayout.snapshot(run.tenantId), await gzipSnapshot(run.runId, mirrored.snapshotFiles(), mirrored.emptyFolders), 'application/gzip');
  // One after the other: each builds its text in batches, and the two at once doubled peak memory.
  if (index.dirty) await index.save();
  const summary: ArchiveSummary = {
    roots,
    files: mirrored.files,
    bytes: mirrored.bytes,
    uploadedFiles: mirrored.uploadedFiles,
    uploadedBytes: mirrored.uploadedBytes,
    copiedFiles: mirrored.copiedFiles,
    deletedFiles: mirrored.deletedFiles,
    skippedFiles: mirrored.skipped.length,
    skipped: mirrored.skipped.slice(0, 1000),
    snapshot,
  };
  if (mirrored.rebuilt) logger.info(mirrored.rebuilt, 'archive index rebuilt from S3');
  if (mirrored.skipped.length > 0) logger.warn({ skipped: mirrored.skipped.slice(0, 20) }, `${mirrored.skipped.length} archive file(s) skipped`);
  logger.info({ files: summary.files, uploadedFiles: summary.uploadedFiles, uploadedBytes: summary.uploadedBytes, copiedFiles: summary.copiedFiles, deletedFiles: summary.deletedFiles }, 'archive mirrored');
  return summary;
}

/**
 * The snapshot as gzip, serialized and compressed 1,000 files at a time: each batch is one gzip
 * member, and concatenated members are one valid gzip file (RFC 1952), so no string of the whole
 * snapshot is ever built. Batches compress on the thread pool while the next ones serialize.
 */
export async function gzipSnapshot(runId: string, files: Iterable<SnapshotFile>, emptyFolders: Array<{ root: string; path: string }>): Promise<Buffer[]> {
  const members: Array<Promise<Buffer>> = [];
  let inFlight: Array<Promise<Buffer>> = [];
  const compress = async (text: string) => {
    const member = gzipAsync(text, { level: 1 });
    members.push(member);
    inFlight.push(member);
    if (inFlight.length >= 2) {
      await inFlight[0];
      inFlight = inFlight.slice(1);
    }
  };
  let batch = `{"kind":"so-backup-archive-snapshot","v":1,"runId":${JSON.stringify(runId)},"emptyFolders":${JSON.stringify(emptyFolders)},"files":[`;
  let inBatch = 0;
  let first = true;
  for (const file of files) {
    batch += (first ? '' : ',') + JSON.stringify(file);
    first = false;
    if (++inBatch === 1000) {
      await compress(batch);
      batch = '';
      inBatch = 0;
    }
  }
  await compress(batch + ']}');
  return Promise.all(members); // sent as they are, never joined into one more copy
}
