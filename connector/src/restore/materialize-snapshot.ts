import { createHash, randomBytes } from 'node:crypto';
import {
  type BigIntStats,
  chmodSync,
  closeSync,
  existsSync,
  fchmodSync,
  futimesSync,
  lstatSync,
  mkdirSync,
  openSync,
  readlinkSync,
  renameSync,
  type Stats,
  statSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import pLimit from 'p-limit';
import { type Artifact, displayText, exactPathBytes, type SnapshotFile, type SnapshotFolder, type SnapshotLink } from '../../../protocol';
import { ConnectorError } from '../errors';
import { hashFile } from '../repository/file-checksums';
import { bitsOf, HIDDEN, type HiddenAttribute, hiddenAttribute, restoredMode } from '../files/file-attributes';
import { displayName, fsPath, hostPlatform, isPlainText, nameText } from '../files/file-names';
import { restoreTime, sameMtime, snapshotMtimeNs, utimesArgument } from '../files/file-times';
import { type ObjectStore, readObject } from '../store/object-store';
import { downloadVerified } from '../repository/download-artifact';
import { planRestore, type RestoreEntry } from './restore-plan';
import { type NameSemantics, probeSemantics } from './target-paths';

export interface MaterializeOptions {
  /** Only files for which this returns true (e.g. one file, or one folder). @default every file, link and empty folder */
  filter?(file: SnapshotFile): boolean;
  /** Downloads at once. @default 24 */
  concurrency?: number;
  /** The snapshot's empty folders, recreated (when no filter is given). */
  emptyFolders?: SnapshotFolder[];
  /** The snapshot's links, recreated as links (when no filter is given). */
  links?: SnapshotLink[];
  /** Every folder of the snapshot with its time and mode: each folder this restore makes gets them. */
  folders?: SnapshotFolder[];
  /** Downloads per file when its SHA-256 does not match (a damaged transfer). @default 3 */
  attempts?: number;
  /** Called after each file is in place. */
  onFile?(file: SnapshotFile): void;
  /** The folder each root's entries go to. @default `<folder>/<root>` */
  rootFolder?(root: string): string;
  /** How the target compares names. @default probed in each root's folder */
  semantics?: NameSemantics;
  /** Sets the hidden attribute (Windows). @default the platform's */
  hiddenAttribute?: HiddenAttribute;
  /** Files of the same name on the target are replaced (a restore into the live archive). @default false: they are reported */
  replace?: boolean;
}

/** A file or link not written under its exact name, or not written at all, and why. */
export interface RestoreProblem {
  /** "<root>/<path>" as the snapshot names it. */
  path: string;
  reason: string;
  /** Where it was written instead, when it was. */
  restoredAs?: string;
}

export interface MaterializeResult {
  /** Files written and checked against their SHA-256 (under their own name or, when `renamed` says so, another). */
  files: number;
  bytes: number;
  links: number;
  folders: number;
  /** Files already there with the same size, time and SHA-256 (with `replace`): checked, and left as they are. */
  unchanged: number;
  /** Written, but not under their exact name (names the target cannot hold or tell apart). */
  renamed: RestoreProblem[];
  /** Not written: the file there is locked, the name is refused, … Nothing partial is left. */
  failed: RestoreProblem[];
}

/**
 * Writes a snapshot's files — each at the exact version the snapshot names — into a folder, as
 * `<root>/<path>` (or each root into its own folder), with their exact names, modification
 * times and attributes; links as links, and empty folders. Every file is checked (a small one
 * whole against its SHA-256, a large one part by part against S3's part checksums) before it
 * gets its name: it is written under a short temporary name in its own folder (so any name the
 * file system accepts can be restored) and renamed into place, so nothing partial ever carries
 * a document's name. Where a file cannot be written (locked, a name the target refuses) it is
 * reported and the others go on; a damaged download or a full disk stops the restore. Paths
 * that would escape the folder are refused, and nothing is ever written through a link: every
 * folder below each root's destination is checked (lstat) and made one level at a time, and
 * what lies below a link or a file in the way is reported, not written. With `replace`, a file
 * that is already there exactly (size, time, SHA-256) is left as it is (the next backup then
 * reads nothing). Folders the restore makes get the snapshot's time and, on Linux, mode.
 */
export async function materializeSnapshot(
  files: SnapshotFile[],
  store: Pick<ObjectStore, 'getVersion'>,
  folder: string,
  options: MaterializeOptions = {},
): Promise<MaterializeResult> {
  const target = path.resolve(folder);
  const rootFolder = (root: string) => {
    const destination = path.resolve(options.rootFolder?.(root) ?? path.join(target, root));
    if (!options.rootFolder && (root.includes('/') || root.includes('\\') || path.dirname(destination) !== target)) {
      throw new ConnectorError('SNAPSHOT_PATH_INVALID', `snapshot root "${root}" would leave ${target}`, { permanent: true });
    }
    return destination;
  };
  const chosen = files.filter((f) => options.filter?.(f) ?? true);
  const items: RestoreEntry[] = [
    ...chosen.map((entry) => ({ kind: 'file' as const, entry })),
    ...(options.filter ? [] : (options.links ?? []).map((entry) => ({ kind: 'link' as const, entry }))),
    ...(options.filter ? [] : (options.emptyFolders ?? []).map((entry) => ({ kind: 'folder' as const, entry }))),
  ];
  for (const { entry } of items) checkInside(entry);
  const result: MaterializeResult = { files: 0, bytes: 0, links: 0, folders: 0, unchanged: 0, renamed: [], failed: [] };
  const hidden = options.hiddenAttribute ?? hiddenAttribute();
  const toHide: Array<{ name: string; file: string | Buffer }> = [];

  // Each root on its own: roots restored into the live archive can lie on different volumes.
  const roots = [...new Set(items.map((i) => i.entry.root))];
  for (const root of roots) {
    const base = rootFolder(root);
    mkdirSync(base, { recursive: true });
    const semantics = options.semantics ?? probeSemantics(base);
    const placed = planRestore(
      items.filter((i) => i.entry.root === root),
      semantics,
    );
    const walk = new FolderWalk(base, root);
    const folderOf = (relative: string) => walk.ensure(parentOf(relative));
    const name = (entry: { root: string; path: string }) => `${entry.root}/${entry.path}`;
    const fail = (entry: { root: string; path: string }, error: unknown) => {
      if (!isPerFile(error)) throw error;
      result.failed.push({ path: name(entry), reason: writeFailure(error) });
    };

    // Folders and links first (cheap, no download); then the files, downloads in parallel.
    for (const { item, relative, renamed } of placed) {
      if (item.kind === 'file') continue;
      try {
        if (item.kind === 'folder') {
          walk.ensure(relative);
          result.folders++;
        } else {
          const parent = folderOf(relative);
          placeLink(item.entry, parent, fsPath(base, relative), options.replace === true);
          result.links++;
        }
        if (renamed) result.renamed.push({ path: name(item.entry), reason: renamed, restoredAs: `${root}/${displayName(relative)}` });
      } catch (error) {
        if (item.kind === 'link' && hostPlatform === 'win32' && (error as NodeJS.ErrnoException).code === 'EPERM' && isPerFile(error)) {
          result.failed.push({
            path: name(item.entry),
            reason:
              'Windows refused to create the symbolic link: it needs the "Create symbolic links" right (an administrator, or Developer Mode)',
          });
        } else {
          fail(item.entry, error);
        }
      }
    }
    const work = placed.filter((p) => p.item.kind === 'file');
    await pLimit(options.concurrency ?? 24).map(work, async ({ item, relative, renamed }) => {
      const file = item.entry as SnapshotFile;
      try {
        const parent = folderOf(relative);
        const destination = fsPath(base, relative);
        const written = await writeFile(store, file, parent, destination, options);
        if (bitsOf(file.attributes) & HIDDEN) toHide.push({ name: name(file), file: destination });
        if (written) {
          result.files++;
          result.bytes += file.size;
        } else {
          result.unchanged++;
        }
        if (renamed) result.renamed.push({ path: name(file), reason: renamed, restoredAs: `${root}/${displayName(relative)}` });
        options.onFile?.(file);
      } catch (error) {
        fail(file, error);
      }
    });
    // Last, once nothing more is written into them: the folders this restore made get their
    // time and mode, the deepest first (a read-only folder would refuse what goes inside).
    const recorded = new Map((options.folders ?? []).filter((f) => f.root === root).map((f) => [nameText(exactPathBytes(f)), f]));
    for (const relative of walk.created.sort((a, b) => b.length - a.length)) {
      const folder = recorded.get(relative);
      if (!folder) continue;
      try {
        setFolderFacts(fsPath(base, relative), folder);
      } catch (error) {
        if (!isPerFile(error)) throw error;
        result.failed.push({
          path: name(folder),
          reason: `the folder was restored, but its time or mode could not be set: ${writeFailure(error)}`,
        });
      }
    }
  }
  // One process per hidden file (Windows has no call Node offers): hidden files are few.
  for (const { name, file } of toHide) {
    if (typeof file !== 'string' || !(await hidden.setHidden(file)))
      result.failed.push({ path: name, reason: 'restored, but Windows refused to set its hidden attribute (attrib +h)' });
  }
  return result;
}

/** The folder part of a "/"-joined relative path ("" for the root). */
function parentOf(relative: string): string {
  const at = relative.lastIndexOf('/');
  return at < 0 ? '' : relative.slice(0, at);
}

/** Something on the way to a restore target that must not be written through: a link, or a file where a folder belongs. */
class PathBlocked extends Error {
  readonly code = 'PATH_BLOCKED';
}

/**
 * The folders below one root's destination, made one level at a time and checked on the way
 * (lstat, which shows a symbolic link or a Windows junction as a link): nothing is ever written
 * through a link that stands where the snapshot has a folder (say, one made in the live archive
 * after the backup, pointing elsewhere). The destination folder itself is the one configured
 * or given, links and all. What is found is kept, so each folder is checked once.
 */
class FolderWalk {
  private readonly known = new Map<string, true | Error>();
  /** Folders this restore made, "/"-joined below the destination. */
  readonly created: string[] = [];

  constructor(
    private readonly base: string,
    private readonly root: string,
  ) {}

  /** The folder `relative` ("" is the destination), made where missing. @throws PathBlocked where a link or a file is in the way */
  ensure(relative: string): string | Buffer {
    const disk = fsPath(this.base, relative);
    if (relative === '') return disk;
    const state = this.known.get(relative);
    if (state instanceof Error) throw state;
    if (state) return disk;
    try {
      this.ensure(parentOf(relative));
      if (!this.isFolder(disk, relative)) {
        try {
          mkdirSync(disk);
          this.created.push(relative);
        } catch (error) {
          // Made meanwhile by someone else: checked like any folder found.
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || !this.isFolder(disk, relative)) throw error;
        }
      }
      this.known.set(relative, true);
      return disk;
    } catch (error) {
      if (isPerFile(error)) this.known.set(relative, error as Error);
      throw error;
    }
  }

  /** True for a folder, false when nothing is there. @throws PathBlocked for a link or a file */
  private isFolder(disk: string | Buffer, relative: string): boolean {
    let own: Stats;
    try {
      own = lstatSync(disk);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
    const shown = `${this.root}/${displayName(relative)}`;
    if (own.isSymbolicLink()) {
      let target = '';
      try {
        target = ` (to ${displayName(nameText(readlinkSync(disk, { encoding: 'buffer' })))})`;
      } catch {
        // unreadable: said without its target
      }
      throw new PathBlocked(
        `the folder ${shown} is now a link${target} on the target: nothing is written through a link, so this was not restored (remove or rename the link and restore again, or restore with --archive-to and copy)`,
      );
    }
    if (!own.isDirectory()) throw new PathBlocked(`a file is in the way of the folder ${shown}: not restored`);
    return true;
  }
}

/** A folder's recorded time and (on Linux) mode. */
function setFolderFacts(folder: string | Buffer, facts: SnapshotFolder): void {
  if (facts.mtimeNs !== undefined) {
    const seconds = utimesArgument(restoreTime(BigInt(facts.mtimeNs), hostPlatform).seconds);
    utimesSync(folder, seconds, seconds);
  }
  const mode = restoredMode(facts, hostPlatform);
  if (mode !== undefined && hostPlatform === 'posix') chmodSync(folder, mode);
}

/** Refuses snapshot paths that are not plain relative paths ("..", absolute, empty segments). */
function checkInside(entry: { root: string; path: string; pathBytes?: string }): void {
  const bytes = exactPathBytes(entry);
  const text = displayText(bytes);
  const parts = text.split('/');
  if (
    bytes.length === 0 ||
    bytes.includes(0) ||
    parts.some((p) => p === '' || p === '.' || p === '..') ||
    (hostPlatform === 'win32' && /^[A-Za-z]:/.test(parts[0]!))
  ) {
    throw new ConnectorError('SNAPSHOT_PATH_INVALID', `snapshot path ${entry.root}/${text} would leave the restore folder`, {
      permanent: true,
    });
  }
}

/** Files up to this size are fetched into memory, checked, and written in one go. */
const IN_MEMORY_BYTES = 4 * 1024 * 1024;

function artifactOf(file: SnapshotFile): Artifact {
  return {
    key: file.key,
    versionId: file.versionId,
    size: file.size,
    sha256: file.sha256,
    s3Checksum: file.s3Checksum ?? { algorithm: 'SHA256', type: 'FULL_OBJECT', value: Buffer.from(file.sha256, 'hex').toString('base64') },
  };
}

/** A short name for the temporary file in `folder`: any document name the folder can hold can be restored. */
function temporaryIn(folder: string | Buffer): string | Buffer {
  const name = `.sob-${randomBytes(6).toString('hex')}.tmp`;
  return typeof folder === 'string'
    ? path.join(folder, name)
    : Buffer.concat([folder, Buffer.from(hostPlatform === 'win32' ? '\\' : '/'), Buffer.from(name)]);
}

/**
 * Fetches a file's exact version, checks it, writes it under a temporary name with its time and
 * attributes, and gives it its name. False when, with `replace`, the file there already is
 * that version (size, time and SHA-256): it is left as it is (its mode set, if that differs).
 */
async function writeFile(
  store: Pick<ObjectStore, 'getVersion'>,
  file: SnapshotFile,
  folder: string | Buffer,
  destination: string | Buffer,
  options: MaterializeOptions,
): Promise<boolean> {
  const attempts = options.attempts ?? 3;
  const time = snapshotMtimeNs(file);
  const seconds = utimesArgument(restoreTime(time.ns, hostPlatform).seconds);
  const mode = restoredMode(file, hostPlatform);
  if (!options.replace) refuseExisting(destination);
  else if (await alreadyThere(file, destination, time)) {
    if (mode !== undefined && (statSync(destination).mode & 0o7777) !== mode) chmodSync(destination, mode);
    return false;
  }
  const temporary = temporaryIn(folder);
  if (file.size > IN_MEMORY_BYTES) {
    // Large files: parallel ranged GETs, each part checked as it arrives.
    await downloadVerified(store, artifactOf(file), temporary, { attempts });
    finish(
      temporary,
      destination,
      () => {
        utimesSync(temporary, seconds, seconds);
        if (mode !== undefined) chmodSync(temporary, mode);
      },
      options.replace === true,
    );
    return true;
  }
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
      const fd = openSync(temporary, 'wx');
      finish(
        temporary,
        destination,
        () => {
          try {
            writeSync(fd, body, 0, body.length, 0);
            futimesSync(fd, seconds, seconds);
            if (mode !== undefined) fchmodSync(fd, mode);
          } finally {
            closeSync(fd);
          }
        },
        options.replace === true,
      );
      return true;
    }
    if (attempt >= attempts) {
      throw new ConnectorError(
        'RESTORE_CHECKSUM_MISMATCH',
        `${file.root}/${file.path} (version ${file.versionId}) downloaded ${attempt} time(s) with SHA-256 ${actual}, expected ${file.sha256}: the transfer is damaged on the way`,
      );
    }
  }
}

/** True when `destination` is a file (not a link) of the snapshot entry's size, time and SHA-256. */
async function alreadyThere(file: SnapshotFile, destination: string | Buffer, time: { ns: bigint; exact: boolean }): Promise<boolean> {
  let own: BigIntStats;
  try {
    own = lstatSync(destination, { bigint: true });
  } catch {
    return false;
  }
  if (!own.isFile() || Number(own.size) !== file.size || !sameMtime(time.ns, own.mtimeNs, hostPlatform, time.exact)) return false;
  return (await hashFile(destination, Infinity))?.sha256 === file.sha256;
}

/** Completes the temporary file, then renames it over the destination; on any failure the temporary file is removed. */
function finish(temporary: string | Buffer, destination: string | Buffer, complete: () => void, replace: boolean): void {
  try {
    complete();
    if (!replace) refuseExisting(destination);
    replaceWith(temporary, destination);
  } catch (error) {
    try {
      unlinkSync(temporary);
    } catch {
      // already gone
    }
    throw error;
  }
}

/**
 * rename() over the destination. Windows refuses to replace a read-only file: its read-only
 * attribute is cleared for the rename and set again if the rename still fails.
 */
function replaceWith(temporary: string | Buffer, destination: string | Buffer): void {
  try {
    renameSync(temporary, destination);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'EACCES') throw error;
    let mode: number;
    try {
      mode = statSync(destination).mode;
    } catch {
      throw error;
    }
    if ((mode & 0o200) !== 0) throw error;
    chmodSync(destination, mode | 0o200);
    try {
      renameSync(temporary, destination);
    } catch (again) {
      chmodSync(destination, mode);
      throw again;
    }
  }
}

/** Outside the live archive the target holds nothing yet: a file already there is never replaced. */
function refuseExisting(destination: string | Buffer): void {
  if (existsSync(destination) || isLink(destination)) throw Object.assign(new Error('already exists'), { code: 'EEXIST' });
}

function isLink(file: string | Buffer): boolean {
  try {
    return lstatSync(file).isSymbolicLink();
  } catch {
    return false;
  }
}

/** A link, created under a temporary name and renamed into place. On Windows a folder link to an absolute path becomes a junction (no privilege needed). */
function placeLink(link: SnapshotLink, folder: string | Buffer, destination: string | Buffer, replace: boolean): void {
  const bytes = exactPathBytes({ path: link.target, pathBytes: link.targetBytes });
  const text = nameText(bytes);
  const target = isPlainText(text) ? text : bytes;
  const type = hostPlatform !== 'win32' ? undefined : link.kind === 'file' ? 'file' : path.win32.isAbsolute(text) ? 'junction' : 'dir';
  if (!replace) refuseExisting(destination);
  const temporary = temporaryIn(folder);
  try {
    symlinkSync(target, temporary, type);
  } catch (error) {
    // A volume without junctions (ReFS, FAT, Wine) may still take a folder symbolic link.
    if (type !== 'junction') throw error;
    symlinkSync(target, temporary, 'dir');
  }
  finish(temporary, destination, () => undefined, replace);
}

/** Errors of one file or link; anything else (a full disk, S3, a damaged download) stops the restore. */
function isPerFile(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return (
    typeof code === 'string' && !['ENOSPC', 'EDQUOT', 'EROFS', 'EMFILE', 'ENFILE'].includes(code) && !(error instanceof ConnectorError)
  );
}

/** What went wrong writing one file, for the person restoring. */
export function writeFailure(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  switch (code) {
    case 'EBUSY':
      return 'in use by another program (locked): not replaced; close it and restore this file again';
    case 'EPERM':
    case 'EACCES':
      return 'access denied: another program holds it open, or the service account may not write there; not replaced';
    case 'EEXIST':
      return 'a file or folder of that name is already there: not replaced';
    case 'EISDIR':
    case 'ENOTEMPTY':
      return 'a folder of that name is in the way: not replaced';
    case 'ENOTDIR':
      return 'a file is in the way of its folder';
    case 'PATH_BLOCKED':
      return (error as Error).message.slice(0, 300);
    case 'ENAMETOOLONG':
      return 'the name is too long for this file system';
    case 'EINVAL':
    case 'EILSEQ':
      return 'this file system does not accept the name';
    default:
      return `not written: ${(error as Error).message}`.slice(0, 300);
  }
}
