import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, utimes } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { SnapshotFile } from '../../../protocol';
import { ConnectorError } from '../errors';
import type { ObjectStore } from '../store/object-store';

export interface MaterializeOptions {
  /** Only files for which this returns true (e.g. one file, or one folder). @default every file */
  filter?(file: SnapshotFile): boolean;
  /** Downloads at once. @default 8 */
  concurrency?: number;
  /** The snapshot's empty folders, recreated (when no filter is given). */
  emptyFolders?: Array<{ root: string; path: string }>;
  /** Downloads per file when its SHA-256 does not match (a damaged transfer). @default 3 */
  attempts?: number;
  /** Called after each file is in place. */
  onFile?(file: SnapshotFile): void;
}

/**
 * Writes a snapshot's files — each at the exact version the snapshot names — into a folder, as
 * `<root>/<path>`. Every file is checked against its SHA-256 while it streams and only then moved
 * into place, so a damaged download never looks like a restored file. Paths that would escape
 * the folder are refused.
 */
export async function materializeSnapshot(files: SnapshotFile[], store: Pick<ObjectStore, 'getVersion'>, folder: string, options: MaterializeOptions = {}): Promise<{ files: number; bytes: number }> {
  const target = path.resolve(folder);
  const inside = (file: { root: string; path: string }) => {
    const destination = path.resolve(target, file.root, ...file.path.split('/'));
    if (!destination.startsWith(target + path.sep)) throw new ConnectorError('SNAPSHOT_PATH_INVALID', `snapshot path ${file.root}/${file.path} would leave ${target}`, { permanent: true });
    return destination;
  };
  if (!options.filter) for (const empty of options.emptyFolders ?? []) await mkdir(inside(empty), { recursive: true });
  const chosen = files.filter((f) => options.filter?.(f) ?? true);
  let next = 0;
  let bytes = 0;
  await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 8, chosen.length) }, async () => {
    while (next < chosen.length) {
      const file = chosen[next++]!;
      const destination = inside(file);
      await mkdir(path.dirname(destination), { recursive: true });
      const temporary = `${destination}.so-backup-partial`;
      for (let attempt = 1; ; attempt++) {
        const hash = createHash('sha256');
        const hashing = new Transform({ transform(chunk: Buffer, _encoding, done) { hash.update(chunk); done(null, chunk); } });
        try {
          await pipeline(await store.getVersion(file.key, file.versionId), hashing, createWriteStream(temporary));
          const actual = hash.digest('hex');
          if (actual !== file.sha256) throw new ConnectorError('RESTORE_CHECKSUM_MISMATCH', `${file.root}/${file.path} (version ${file.versionId}) downloaded ${attempt} time(s) with SHA-256 ${actual}, expected ${file.sha256}: the transfer is damaged on the way`);
          await utimes(temporary, new Date(file.mtimeMs), new Date(file.mtimeMs));
          await rename(temporary, destination);
          bytes += file.size;
          options.onFile?.(file);
          break;
        } catch (error) {
          await rm(temporary, { force: true });
          if (attempt >= (options.attempts ?? 3) || (error as ConnectorError).code === 'SNAPSHOT_PATH_INVALID') throw error;
        }
      }
    }
  }));
  return { files: chosen.length, bytes };
}
