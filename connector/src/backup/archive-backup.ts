import type { Logger } from 'pino';
import type { ArchiveSummary } from '../../../protocol';
import type { ObjectStore } from '../store/object-store';
import { ArchiveIndex } from './archive-index';
import { type ArchiveRoot, type MirrorOptions, mirrorArchive } from './archive-mirror';
import { writeSnapshot } from '../repository/snapshots';

/**
 * The archive part of a backup run: mirror the roots, store the run's snapshot (every file at its
 * exact version, gzip-compressed JSON), then save the index. Returns the manifest's summary.
 */
export async function backupArchive(
  run: { tenantId: string; runId: string },
  roots: ArchiveRoot[],
  deps: { store: ObjectStore; stateDir: string; logger: Logger } & Pick<
    MirrorOptions,
    'onProgress' | 'signal' | 'concurrency' | 'hiddenAttribute'
  >,
): Promise<ArchiveSummary> {
  const { store, logger } = deps;
  const index = await ArchiveIndex.load(deps.stateDir);
  if (index.found.state !== 'loaded')
    logger.warn({ index: index.found }, 'archive index missing or damaged: rebuilding it from what S3 holds');
  const mirrored = await mirrorArchive(run.tenantId, roots, store, index, deps);
  const snapshot = await writeSnapshot(store, run, mirrored);
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
    links: mirrored.links.length,
    readFiles: mirrored.readFiles,
    snapshot,
  };
  if (mirrored.rebuilt) logger.info(mirrored.rebuilt, 'archive index rebuilt from S3');
  if (mirrored.skipped.length > 0)
    logger.warn({ skipped: mirrored.skipped.slice(0, 20) }, `${mirrored.skipped.length} archive file(s) skipped`);
  logger.info(
    {
      files: summary.files,
      links: summary.links,
      readFiles: mirrored.readFiles,
      uploadedFiles: summary.uploadedFiles,
      uploadedBytes: summary.uploadedBytes,
      copiedFiles: summary.copiedFiles,
      deletedFiles: summary.deletedFiles,
    },
    'archive mirrored',
  );
  return summary;
}
