import { type BigIntStats, type Dirent, readdirSync, statSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';

/** What the scan learns of a file without reading it: enough to tell whether it changed. */
export interface FileFacts {
  size: number;
  mtimeMs: number;
  /**
   * The file system's id for the file (inode; NTFS file index on Windows), which survives a
   * rename. "" where the file system has none.
   */
  fileId: string;
}

export interface ScannedFile extends FileFacts {
  /** "/"-separated path below the root, Unicode NFC: the name the file has in keys, index and snapshots. */
  relative: string;
  /** The path on disk (the name as the file system spells it). */
  diskPath: string;
}

export interface ScanEvents {
  file(file: ScannedFile): void;
  /** A folder with nothing in it, kept in the snapshot so that a restore recreates it. */
  emptyFolder(relative: string): void;
  /** A folder or file that cannot be read: a warning, not a failure. */
  unreadable(relative: string, reason: string): void;
}

export function factsOf(stats: BigIntStats): FileFacts {
  return { size: Number(stats.size), mtimeMs: Number(stats.mtimeNs) / 1e6, fileId: stats.ino > 0n ? stats.ino.toString() : '' };
}

/** The facts of one file now (bigint stat: NTFS file ids exceed 2^53). */
export async function currentFacts(file: string): Promise<FileFacts> {
  return factsOf(await stat(file, { bigint: true }));
}

/** True for a Windows UNC share (\\server\share\…): there every stat is a network round trip. */
export function isNetworkPath(root: string): boolean {
  return /^(\\\\|\/\/)[^\\/?.]/.test(root);
}

/**
 * Walks one archive root. On a local disk, directory listing and stat calls are syscalls that
 * cost microseconds, and synchronous calls are several times faster than the thread-pool round
 * trip; on a network share every call waits on the network, so many folders and files are
 * asked in parallel instead. Names are normalized to NFC; two names that differ only in their
 * Unicode normalization are one name in S3, so the second is reported, not silently merged.
 * Paths longer than 260 characters work: Node prefixes absolute Windows paths with \\?\.
 */
export async function scanRoot(rootPath: string, events: ScanEvents, options: { parallel?: number; pause?: () => Promise<void> | undefined } = {}): Promise<void> {
  const parallel = options.parallel ?? (isNetworkPath(rootPath) ? 32 : 1);
  const folders: string[] = [''];
  const visit = (relative: string, entries: Dirent[], diskFolder: string, stats: (file: string) => BigIntStats | Promise<BigIntStats>) => {
    if (entries.length === 0 && relative !== '') events.emptyFolder(relative);
    const files: Array<Promise<void> | void> = [];
    const names = new Set<string>();
    for (const entry of entries) {
      // eslint-disable-next-line no-control-regex
      const name = /^[\x00-\x7f]*$/.test(entry.name) ? entry.name : entry.name.normalize('NFC');
      const child = relative ? `${relative}/${name}` : name;
      if (names.has(name)) {
        events.unreadable(child, 'another name here differs only in Unicode normalization; rename one of them');
        continue;
      }
      names.add(name);
      const diskPath = path.join(diskFolder, entry.name);
      if (entry.isDirectory()) folders.push(child + '\u0000' + diskPath);
      else if (entry.isFile()) {
        const report = (s: BigIntStats) => events.file(Object.assign(factsOf(s), { relative: child, diskPath }));
        const failed = (error: unknown) => events.unreadable(child, readFailure(error));
        try {
          const s = stats(diskPath);
          // Not `instanceof Promise`: promises from another realm (a test runner's) fail that check.
          files.push('then' in s ? s.then(report, failed) : report(s));
        } catch (error) {
          failed(error);
        }
      }
    }
    return files;
  };
  const folderOf = (item: string) => {
    const at = item.indexOf('\u0000');
    return at < 0 ? { relative: item, disk: rootPath } : { relative: item.slice(0, at), disk: item.slice(at + 1) };
  };

  if (parallel <= 1) {
    let lastYield = performance.now();
    while (folders.length > 0) {
      // Synchronous calls hold the event loop: let the uploads the scan has started move on,
      // and wait while the caller has more work queued than it wants to hold.
      if (performance.now() - lastYield > 10) {
        await new Promise((resolve) => setImmediate(resolve));
        lastYield = performance.now();
      }
      await options.pause?.();
      const { relative, disk } = folderOf(folders.pop()!);
      let entries: Dirent[];
      try {
        entries = readdirSync(disk, { withFileTypes: true });
      } catch (error) {
        if (relative === '') throw error; // the root itself: a configuration problem, not a warning
        events.unreadable(relative, readFailure(error));
        continue;
      }
      visit(relative, entries, disk, (file) => statSync(file, { bigint: true }));
    }
    return;
  }
  let active = 0;
  await new Promise<void>((resolve, reject) => {
    let paused = false;
    const pump = () => {
      const wait = options.pause?.();
      if (wait && !paused) {
        paused = true;
        void wait.then(() => {
          paused = false;
          pump();
        });
      }
      while (active < parallel && folders.length > 0 && !paused) {
        const { relative, disk } = folderOf(folders.pop()!);
        active++;
        readdir(disk, { withFileTypes: true })
          .then((entries) => Promise.all(visit(relative, entries, disk, (file) => stat(file, { bigint: true }))), (error: unknown) => {
            if (relative === '') throw error;
            events.unreadable(relative, readFailure(error));
          })
          .then(() => {
            active--;
            if (active === 0 && folders.length === 0) resolve();
            else pump();
          }, reject);
      }
    };
    pump();
  });
}

/** Why a file or folder could not be read, and what to do about it. */
export function readFailure(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied (give the service account read access)';
  if (code === 'ENOENT') return 'deleted while the backup ran';
  if (code === 'EBUSY') return 'locked by another program';
  if (code === 'ENAMETOOLONG') return 'path too long for this file system';
  return `cannot be read: ${(error as Error).message}`;
}
