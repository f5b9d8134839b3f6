import { type BigIntStats, type Dirent, lstatSync, readdirSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { attributeBits } from '../files/file-attributes';
import { displayName, fsPath, hostPlatform, isPlainText, nameText } from '../files/file-names';

/** What the scan learns of a file without reading it: enough to tell whether it changed. */
export interface FileFacts {
  size: number;
  /** Modification time in nanoseconds since the epoch, exact (bigint stat). */
  mtimeNs: bigint;
  /**
   * The file system's id for the file (inode; NTFS file index on Windows), which survives a
   * rename. "" where the file system has none.
   */
  fileId: string;
  /**
   * When the file was made, in nanoseconds: the birth time (statx btime on Linux, the creation
   * time on Windows), or, where the file system keeps none (NFS, FAT), the status-change time
   * (ctime), which every new file gets afresh too. A file id alone is no identity: ext4 and
   * tmpfs give a deleted file's inode to the next file made, NTFS on FAT volumes reuses
   * directory slots. A rename keeps the birth time; a new file never has its predecessor's.
   * 0 where unknown (an index of an older connector).
   */
  birthNs: bigint;
  /** Read-only and hidden, as bits (files/file-attributes.ts). */
  attributes: number;
  /** POSIX permission bits (mode & 0o7777), recorded on Linux; -1 on Windows (whose mode Node makes up) or where unknown. */
  mode: number;
}

export interface ScannedFile extends FileFacts {
  /**
   * "/"-separated path below the root, exactly as named (never normalized; files/file-names.ts
   * turns names that are not text into a lossless string): the name in the index and snapshots.
   */
  relative: string;
  /** The path to give fs calls: a string, or the exact bytes for a name that is not text. */
  diskPath: string | Buffer;
}

/** A symbolic link or junction: recorded, never followed. */
export interface ScannedLink {
  relative: string;
  /** The link's target as the link holds it, as a lossless string (files/file-names.ts). */
  target: string;
  /** What it points to now ("file" when it points nowhere). */
  kind: 'file' | 'dir';
  /** Set when it leads out of every archive root: where it leads (what is there is not backed up). */
  leadsOutTo?: string;
}

export interface ScanEvents {
  file(file: ScannedFile): void;
  /** A folder with nothing in it, kept in the snapshot so that a restore recreates it. */
  emptyFolder(relative: string): void;
  /** Every folder below the root (not the root), with its time and mode, which a restore gives back. */
  folder?(relative: string, facts: { mtimeNs: bigint; mode: number }): void;
  link(link: ScannedLink): void;
  /** A folder or file that cannot be read, or is no document (a FIFO, a device): a warning, not a failure. */
  unreadable(relative: string, reason: string): void;
}

export interface ScanOptions {
  /** Folders and files asked for at once. @default 1 on a local disk, 32 on a network share */
  parallel?: number;
  pause?: () => Promise<void> | undefined;
  /** Names below the root that carry the hidden attribute (Windows). */
  hidden?: ReadonlySet<string>;
  /** The archive roots as real paths: a link that leads out of all of them is reported. @default the root scanned */
  roots?: string[];
}

export function factsOf(stats: BigIntStats, hidden = false): FileFacts {
  return {
    size: Number(stats.size),
    mtimeNs: stats.mtimeNs,
    fileId: stats.ino > 0n ? stats.ino.toString() : '',
    birthNs: stats.birthtimeNs > 0n ? stats.birthtimeNs : stats.ctimeNs,
    attributes: attributeBits(Number(stats.mode), hidden),
    mode: hostPlatform === 'posix' ? Number(stats.mode) & 0o7777 : -1,
  };
}

/** The facts of one file now (bigint stat: NTFS file ids exceed 2^53, and times are exact). */
export async function currentFacts(file: string | Buffer, hidden = false): Promise<FileFacts> {
  return factsOf(await stat(file, { bigint: true }), hidden);
}

/** True for a Windows UNC share (\\server\share\…): there every stat is a network round trip. */
export function isNetworkPath(root: string): boolean {
  return /^(\\\\|\/\/)[^\\/?.]/.test(root);
}

/**
 * Walks one archive root. On a local disk, directory listing and stat calls are syscalls that
 * cost microseconds, and synchronous calls are several times faster than the thread-pool round
 * trip; on a network share every call waits on the network, so many folders and files are
 * asked in parallel instead. Names are read as bytes and kept exactly (a Latin-1 name on Linux,
 * an unpaired surrogate on Windows, decomposed Unicode). Links are reported, never followed, so
 * nothing outside the root is read and no loop is possible; FIFOs, sockets and devices are
 * reported as no documents. Paths longer than 260 characters work.
 */
export async function scanRoot(rootPath: string, events: ScanEvents, options: ScanOptions = {}): Promise<void> {
  const parallel = options.parallel ?? (isNetworkPath(rootPath) ? 32 : 1);
  const hidden = options.hidden;
  let roots: string[] | undefined;
  const realRoots = () =>
    (roots ??= (options.roots ?? [rootPath]).map((root) => {
      try {
        return realpathSync.native(root);
      } catch {
        return path.resolve(root);
      }
    }));
  const folders: Array<{ relative: string; disk: string | Buffer }> = [{ relative: '', disk: rootPath }];
  const folderFacts = (relative: string, s: BigIntStats) =>
    events.folder!(relative, { mtimeNs: s.mtimeNs, mode: hostPlatform === 'posix' ? Number(s.mode) & 0o7777 : -1 });
  const visit = (
    relative: string,
    folder: string | Buffer,
    entries: Array<Dirent<string> | Dirent<Buffer>>,
    stats: (file: string | Buffer) => BigIntStats | Promise<BigIntStats>,
  ) => {
    if (entries.length === 0 && relative !== '') events.emptyFolder(relative);
    const files: Array<Promise<void> | void> = [];
    for (const entry of entries) {
      const name = typeof entry.name === 'string' ? entry.name : nameText(entry.name);
      const child = relative ? `${relative}/${name}` : name;
      const diskPath = typeof folder === 'string' && isPlainText(name) ? path.join(folder, name) : fsPath(rootPath, child);
      const report = (s: BigIntStats) => events.file(Object.assign(factsOf(s, hidden?.has(child) === true), { relative: child, diskPath }));
      const failed = (error: unknown) => events.unreadable(child, readFailure(error));
      try {
        if (entry.isDirectory()) folders.push({ relative: child, disk: diskPath });
        else if (entry.isFile()) {
          const s = stats(diskPath);
          // Not `instanceof Promise`: promises from another realm (a test runner's) fail that check.
          files.push('then' in s ? s.then(report, failed) : report(s));
        } else if (entry.isSymbolicLink()) {
          // Rare: synchronous calls even on a share. Windows lists every reparse point as a link
          // (deduplicated and cloud files too); lstat tells a real link from a file.
          const own = lstatSync(diskPath, { bigint: true });
          if (own.isSymbolicLink()) events.link(describeLink(child, diskPath, realRoots()));
          else if (own.isFile()) report(statSync(diskPath, { bigint: true }));
          else if (own.isDirectory()) folders.push({ relative: child, disk: diskPath });
          else events.unreadable(child, notADocument(own));
        } else {
          events.unreadable(child, notADocument(entry));
        }
      } catch (error) {
        failed(error);
      }
    }
    return files;
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
      const { relative, disk } = folders.pop()!;
      let entries: Array<Dirent<string> | Dirent<Buffer>>;
      try {
        if (relative !== '' && events.folder) folderFacts(relative, statSync(disk, { bigint: true }));
        entries = readdirSync(disk, { withFileTypes: true });
        if (entries.some(lossy)) entries = readdirSync(disk, { withFileTypes: true, encoding: 'buffer' });
      } catch (error) {
        if (relative === '') throw new RootUnreadable(rootPath, error); // the root itself: a configuration problem, not a warning
        events.unreadable(relative, readFailure(error));
        continue;
      }
      visit(relative, disk, entries, (file) => statSync(file, { bigint: true }));
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
        const { relative, disk } = folders.pop()!;
        active++;
        // The folder's own time and mode are asked for alongside its listing: no extra round trip on a share.
        const listing = readdir(disk, { withFileTypes: true }).then(
          (entries): Array<Dirent<string> | Dirent<Buffer>> | Promise<Array<Dirent<Buffer>>> =>
            entries.some(lossy) ? readdir(disk, { withFileTypes: true, encoding: 'buffer' }) : entries,
        );
        Promise.all([listing, relative !== '' && events.folder ? stat(disk, { bigint: true }) : undefined])
          .then(
            ([entries, own]) => {
              if (own) folderFacts(relative, own);
              return Promise.all(visit(relative, disk, entries, (file) => stat(file, { bigint: true })));
            },
            (error: unknown) => {
              if (relative === '') throw new RootUnreadable(rootPath, error);
              events.unreadable(relative, readFailure(error));
            },
          )
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

/** The archive root itself cannot be listed (missing, unreachable, denied): the archive part fails, with the cause. */
export class RootUnreadable extends Error {
  constructor(
    readonly rootPath: string,
    override readonly cause: unknown,
  ) {
    super((cause as Error).message);
  }
}

/**
 * Names come as strings, which is fastest; a name that is not text (not UTF-8 on Linux, an
 * unpaired surrogate on Windows) shows as U+FFFD there, and then the folder is read again as
 * bytes (a real U+FFFD in a name costs that second read too, nothing more).
 */
function lossy(entry: Dirent<string> | Dirent<Buffer>): boolean {
  return typeof entry.name === 'string' && entry.name.includes('\uFFFD');
}

/** A link as the snapshot records it: its target text, what it points to, and whether that is outside the archive. */
function describeLink(relative: string, diskPath: string | Buffer, roots: string[]): ScannedLink {
  const target = nameText(readlinkSync(diskPath, { encoding: 'buffer' }));
  let kind: ScannedLink['kind'] = 'file';
  let leadsOutTo: string | undefined;
  try {
    kind = statSync(diskPath).isDirectory() ? 'dir' : 'file';
    const real =
      typeof diskPath === 'string' ? realpathSync.native(diskPath) : nameText(realpathSync.native(diskPath, { encoding: 'buffer' }));
    const inside = roots.some((root) => isSameOrBelow(real, root));
    if (!inside) leadsOutTo = displayName(real);
  } catch {
    // Dangling, or a loop: it points nowhere, so nothing is left out.
  }
  return { relative, target, kind, leadsOutTo };
}

/**
 * True when `inner` is `outer` or lies below it (both real paths, compared as this platform's
 * path module does: without case on Windows). Decided by path segments: a folder called
 * "..old" inside the root is inside; only a first segment that is exactly ".." leads out.
 */
export function isSameOrBelow(inner: string, outer: string, paths: typeof path = path): boolean {
  const rel = paths.relative(outer, inner);
  return rel === '' || (rel.split(paths.sep)[0] !== '..' && !paths.isAbsolute(rel));
}

function notADocument(entry: { isFIFO(): boolean; isSocket(): boolean; isBlockDevice(): boolean; isCharacterDevice(): boolean }): string {
  const what = entry.isFIFO()
    ? 'a named pipe (FIFO)'
    : entry.isSocket()
      ? 'a socket'
      : entry.isBlockDevice() || entry.isCharacterDevice()
        ? 'a device'
        : 'not a file, folder or link';
  return `${what}: no document, not backed up`;
}

/** Why a file or folder could not be read, and what to do about it. */
export function readFailure(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied (give the service account read access)';
  if (code === 'ENOENT') return 'deleted while the backup ran';
  if (code === 'EBUSY') return 'locked by another program';
  if (code === 'ENAMETOOLONG') return 'path too long for this file system';
  if (code === 'ELOOP') return 'a loop of links';
  if (code === 'EIO') return 'the disk or share reported a read error (EIO)';
  return `cannot be read: ${(error as Error).message}`.slice(0, 280);
}
