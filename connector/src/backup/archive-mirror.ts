import { opendir, stat } from 'node:fs/promises';
import path from 'node:path';
import { keyLayout, type SnapshotFile } from '../../../protocol';
import type { ObjectStore } from '../store';
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
}

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
  const result: MirrorResult = { files: [], uploadedFiles: 0, uploadedBytes: 0, deletedFiles: 0 };
  const seen = new Set<string>();
  const pending: Array<{ root: ArchiveRoot; relative: string; size: number; mtimeMs: number }> = [];
  for (const root of roots) {
    for await (const relative of walk(root.path)) {
      const info = await stat(path.join(root.path, ...relative.split('/')));
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
      const stored = await store.putFile(key, path.join(file.root.path, ...file.relative.split('/')));
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

/** Every regular file below a folder, as a "/"-separated relative path. */
async function* walk(folder: string, prefix = ''): AsyncGenerator<string> {
  const dir = await opendir(folder);
  for await (const entry of dir) {
    const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) yield* walk(path.join(folder, entry.name), relative);
    else if (entry.isFile()) yield relative;
  }
}
