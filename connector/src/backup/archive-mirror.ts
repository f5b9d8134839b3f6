import { opendir, stat } from 'node:fs/promises';
import path from 'node:path';
import { keyLayout, type SkippedFile, type SnapshotFile } from '../../../protocol';
import { ConnectorError } from '../errors';
import type { ObjectStore, StoredObject } from '../store';
import type { ArchiveIndex } from './archive-index';

export interface ArchiveRoot {
  name: string;
  path: string;
}

export interface MirrorResult {
  files: SnapshotFile[];
  uploadedFiles: number;
  uploadedBytes: number;
  deletedFiles: number;
  /** Files (or folders) that could not be read consistently; the run succeeds with warnings. */
  skipped: SkippedFile[];
}

const ATTEMPTS = 3;
const RETRY_DELAY_MS = 250;

const UPLOAD_CONCURRENCY = 8;

/**
 * Mirrors archive roots into S3: a file whose size and mtime match the index is neither read nor
 * sent; a new or changed file is read once (hashed as it is sent) and becomes a new version; a
 * file gone from disk gets a delete marker. Returns the snapshot: every file at its exact version.
 */
export async function mirrorArchive(
  tenantId: string,
  roots: ArchiveRoot[],
  store: ObjectStore,
  index: ArchiveIndex,
  onProgress: (done: number, uploadedBytes: number) => void,
): Promise<MirrorResult> {
  const result: MirrorResult = { files: [], uploadedFiles: 0, uploadedBytes: 0, deletedFiles: 0, skipped: [] };
  const seen = new Set<string>();
  const pending: Array<{ root: ArchiveRoot; relative: string; size: number; mtimeMs: number }> = [];
  for (const root of roots) {
    for await (const relative of walk(root.path, '', (folder, reason) => result.skipped.push({ root: root.name, path: folder || '.', reason }))) {
      let info;
      try {
        info = await stat(path.join(root.path, ...relative.split('/')));
      } catch (error) {
        result.skipped.push({ root: root.name, path: relative, reason: readFailure(error) });
        continue;
      }
      const id = `${root.name}/${relative}`;
      seen.add(id);
      const known = index.entries.get(id);
      if (known && known.size === info.size && known.mtimeMs === info.mtimeMs) {
        result.files.push({ root: root.name, path: relative, key: known.key, versionId: known.versionId, size: known.size, mtimeMs: known.mtimeMs, sha256: known.sha256, uploaded: false, s3Checksum: known.s3Checksum });
      } else {
        pending.push({ root, relative, size: info.size, mtimeMs: info.mtimeMs });
      }
    }
  }
  let next = 0;
  let done = 0;
  await Promise.all(Array.from({ length: Math.min(UPLOAD_CONCURRENCY, pending.length) }, async () => {
    while (next < pending.length) {
      const file = pending[next++]!;
      const key = keyLayout.archiveFile(tenantId, file.root.name, file.relative);
      const id = `${file.root.name}/${file.relative}`;
      const outcome = await uploadConsistent(store, key, path.join(file.root.path, ...file.relative.split('/')));
      if ('reason' in outcome) {
        result.skipped.push({ root: file.root.name, path: file.relative, reason: outcome.reason });
        // The last good version (if any) stays in the snapshot: the file as it was at the previous run.
        const known = index.entries.get(id);
        if (known) result.files.push({ root: file.root.name, path: file.relative, key: known.key, versionId: known.versionId, size: known.size, mtimeMs: known.mtimeMs, sha256: known.sha256, uploaded: false, s3Checksum: known.s3Checksum });
        continue;
      }
      const { stored, mtimeMs } = outcome;
      file.mtimeMs = mtimeMs;
      const s3Checksum = stored.s3Checksum.type === 'COMPOSITE' ? stored.s3Checksum : undefined;
      index.entries.set(`${file.root.name}/${file.relative}`, { size: stored.size, mtimeMs: file.mtimeMs, sha256: stored.sha256, key, versionId: stored.versionId, s3Checksum });
      result.files.push({ root: file.root.name, path: file.relative, key, versionId: stored.versionId, size: stored.size, mtimeMs: file.mtimeMs, sha256: stored.sha256, uploaded: true, s3Checksum });
      result.uploadedFiles++;
      result.uploadedBytes += stored.size;
      onProgress(++done, result.uploadedBytes);
    }
  }));
  for (const [id, entry] of index.entries) {
    const rootName = id.slice(0, id.indexOf('/'));
    if (seen.has(id) || !roots.some((r) => r.name === rootName)) continue;
    await store.markDeleted(entry.key);
    index.entries.delete(id);
    result.deletedFiles++;
  }
  result.files.sort((a, b) => (a.root + '/' + a.path).localeCompare(b.root + '/' + b.path));
  return result;
}

/**
 * Uploads a file whose size and mtime stay the same while it is read; a file that changes
 * (someone saving it) or is locked is tried again, then reported.
 */
async function uploadConsistent(store: ObjectStore, key: string, file: string): Promise<{ stored: StoredObject; mtimeMs: number } | { reason: string }> {
  let reason = '';
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    try {
      const before = await stat(file);
      const stored = await store.putFile(key, file);
      const after = await stat(file);
      if (before.size === after.size && before.mtimeMs === after.mtimeMs && stored.size === after.size) return { stored, mtimeMs: after.mtimeMs };
      reason = `changed while being read (${ATTEMPTS} attempts)`;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EBUSY' && code !== 'EAGAIN' && !(error instanceof ConnectorError && error.code === 'FILE_CHANGED')) {
        if (code === 'EACCES' || code === 'EPERM' || code === 'ENOENT') return { reason: readFailure(error) };
        throw error;
      }
      reason = code === 'EBUSY' ? `locked by another program (${ATTEMPTS} attempts)` : `changed while being read (${ATTEMPTS} attempts)`;
    }
    await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS * attempt));
  }
  return { reason };
}

function readFailure(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied (give the service account read access)';
  if (code === 'ENOENT') return 'deleted while the backup ran';
  if (code === 'EBUSY') return 'locked by another program';
  return `cannot be read: ${(error as Error).message}`;
}

/** Every regular file below a folder, as a "/"-separated relative path; unreadable folders are reported, not fatal. */
async function* walk(folder: string, prefix: string, unreadable: (relative: string, reason: string) => void): AsyncGenerator<string> {
  let dir;
  try {
    dir = await opendir(folder);
  } catch (error) {
    if (prefix === '') throw error; // the root itself: a configuration problem, not a warning
    unreadable(prefix, readFailure(error));
    return;
  }
  for await (const entry of dir) {
    const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) yield* walk(path.join(folder, entry.name), relative, unreadable);
    else if (entry.isFile()) yield relative;
  }
}
