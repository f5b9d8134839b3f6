import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { ArchiveSummary } from '../../../protocol';
import type { ObjectStore } from '../store/object-store';
import { ArchiveIndex } from './archive-index';
import { type ArchiveRoot, type MirrorOptions, type MirrorResult, mirrorArchive } from './archive-mirror';
import { writeSnapshot } from '../repository/snapshots';

/**
 * The archive part of a backup run: mirror the roots, store the run's snapshot (every file at its
 * exact version, gzip-compressed JSON), then save the index. Returns the manifest's summary; when
 * the backup window (`windowEndsAt`) ended before every new or changed file was sent, its
 * `pending` says how many files and bytes the next run still has to send.
 */
export async function backupArchive(
  run: { tenantId: string; runId: string },
  roots: ArchiveRoot[],
  deps: { store: ObjectStore; stateDir: string; logger: Logger } & Pick<
    MirrorOptions,
    'onProgress' | 'signal' | 'concurrency' | 'hiddenAttribute' | 'windowEndsAt' | 'now' | 'windowAlarm' | 'uploadRate'
  >,
): Promise<ArchiveSummary> {
  const { store, logger } = deps;
  const index = await ArchiveIndex.load(deps.stateDir);
  if (index.found.state !== 'loaded')
    logger.warn({ index: index.found }, 'archive index missing or damaged: rebuilding it from what S3 holds');
  const backlog = await loadBacklog(deps.stateDir, logger);
  const mirrored = await mirrorArchive(run.tenantId, roots, store, index, { ...deps, backlog });
  const snapshot = await writeSnapshot(store, run, mirrored);
  // One after the other: each builds its text in batches, and the two at once doubled peak memory.
  if (index.dirty) await index.save();
  await saveBacklog(deps.stateDir, mirrored.pending.ids);
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
    ...(mirrored.pending.files > 0 ? { pending: pendingSummary(mirrored.pending) } : {}),
    ...(mirrored.backlogSent ? { backlogSent: mirrored.backlogSent } : {}),
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
      pendingFiles: mirrored.pending.files,
      pendingBytes: mirrored.pending.bytes,
      pendingPartsBytes: mirrored.pending.partsBytes,
    },
    summary.pending
      ? `archive mirrored until the backup window ended: ${summary.uploadedFiles} file(s), ${summary.uploadedBytes} bytes sent; ${summary.pending.files} file(s), ${summary.pending.bytes} bytes left for the next run${summary.pending.partsBytes ? ` (${summary.pending.partsBytes} bytes of them already in S3 as parts of paused uploads, not sent again)` : ''}`
      : `archive mirrored: ${summary.uploadedFiles} file(s), ${summary.uploadedBytes} bytes sent; nothing pending`,
  );
  return summary;
}

/**
 * The files a run left pending (the backup window ended first), kept in the state folder for the
 * next run, which counts sending them as backlog sent (the manifest's `backlogSent`, which the
 * cloud's seeding goes by: core/seeding.ts). Written after every run: an empty list when nothing
 * is pending.
 */
const BACKLOG_FILE = 'archive-pending.json';
const backlogFileSchema = z.object({ ids: z.array(z.string()) });

/** The previous run's pending files; undefined when there is no record (a first run, an older connector) or it is damaged. */
async function loadBacklog(stateDir: string, logger: Logger): Promise<Set<string> | undefined> {
  let text: string;
  try {
    text = await readFile(path.join(stateDir, BACKLOG_FILE), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    return new Set(backlogFileSchema.parse(JSON.parse(text)).ids);
  } catch {
    logger.warn(
      { file: BACKLOG_FILE },
      "the record of the last run's pending archive files is damaged; this run does not count backlog sent",
    );
    return undefined;
  }
}

async function saveBacklog(stateDir: string, ids: readonly string[]): Promise<void> {
  const file = path.join(stateDir, BACKLOG_FILE);
  await mkdir(stateDir, { recursive: true });
  await writeFile(`${file}.tmp`, JSON.stringify({ ids }));
  await rename(`${file}.tmp`, file);
}

/** The manifest's `pending`: `partsBytes` only when a paused upload left parts in S3. */
function pendingSummary(pending: MirrorResult['pending']): NonNullable<ArchiveSummary['pending']> {
  const { files, bytes, partsBytes } = pending;
  return { files, bytes, reason: 'window', ...(partsBytes > 0 ? { partsBytes } : {}) };
}
