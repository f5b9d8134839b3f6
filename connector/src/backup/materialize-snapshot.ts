import { createHash } from 'node:crypto';
import { closeSync, futimesSync, openSync, renameSync, writeSync } from 'node:fs';
import { mkdir, utimes } from 'node:fs/promises';
import path from 'node:path';
import type { Artifact, SnapshotFile } from '../../../protocol';
import { ConnectorError } from '../errors';
import { type ObjectStore, readObject } from '../store/object-store';
import { downloadArtifact } from '../restore/download-artifact';

export interface MaterializeOptions {
  /** Only files for which this returns true (e.g. one file, or one folder). @default every file */
  filter?(file: SnapshotFile): boolean;
  /** Downloads at once. @default 24 */
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
 * `<root>/<path>`. Every file is checked (a small one whole against its SHA-256, a large one part
 * by part against S3's part checksums) before it gets its name, and fetched again when the
 * transfer damaged it, so a damaged download never looks like a restored file. Paths that would
 * escape the folder are refused.
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
  /** Folders already created: most files share their folder with others. */
  const made = new Set<string>();
  await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 24, chosen.length) }, async () => {
    while (next < chosen.length) {
      const file = chosen[next++]!;
      const destination = inside(file);
      const folder = path.dirname(destination);
      if (!made.has(folder)) {
        await mkdir(folder, { recursive: true });
        made.add(folder);
      }
      if (file.size > IN_MEMORY_BYTES) {
        // Large files: parallel ranged GETs, each part checked as it arrives, resumable.
        await downloadArtifact(store, artifactOf(file), destination, { attempts: options.attempts });
        await utimes(destination, new Date(file.mtimeMs), new Date(file.mtimeMs));
      } else {
        await writeSmallFile(store, file, destination, options.attempts ?? 3);
      }
      bytes += file.size;
      options.onFile?.(file);
    }
  }));
  return { files: chosen.length, bytes };
}

/** Files up to this size are fetched into memory, checked, and written in one go. */
const IN_MEMORY_BYTES = 4 * 1024 * 1024;

function artifactOf(file: SnapshotFile): Artifact {
  return {
    key: file.key, versionId: file.versionId, size: file.size, sha256: file.sha256,
    s3Checksum: file.s3Checksum ?? { algorithm: 'SHA256', type: 'FULL_OBJECT', value: Buffer.from(file.sha256, 'hex').toString('base64') },
  };
}

/** Fetches a small file whole, checks its SHA-256, then writes it under a temporary name and renames it into place. */
async function writeSmallFile(store: Pick<ObjectStore, 'getVersion'>, file: SnapshotFile, destination: string, attempts: number): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    let body: Buffer;
    try {
      body = await readObject(store, file.key, file.versionId);
    } catch (error) {
      if (attempt >= attempts) throw error;
      continue;
    }
    const actual = createHash('sha256').update(body).digest('hex');
    if (actual === file.sha256) {
      // Synchronous calls: for small files the thread-pool round trips cost more than the writes
      // (the archive scan reads the disk this way for the same reason).
      const temporary = `${destination}.so-backup-partial`;
      const fd = openSync(temporary, 'w');
      try {
        writeSync(fd, body, 0, body.length, 0);
        futimesSync(fd, new Date(file.mtimeMs), new Date(file.mtimeMs));
      } finally {
        closeSync(fd);
      }
      renameSync(temporary, destination);
      return;
    }
    if (attempt >= attempts) {
      throw new ConnectorError('RESTORE_CHECKSUM_MISMATCH', `${file.root}/${file.path} (version ${file.versionId}) downloaded ${attempt} time(s) with SHA-256 ${actual}, expected ${file.sha256}: the transfer is damaged on the way`);
    }
  }
}
