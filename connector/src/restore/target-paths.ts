import { randomBytes } from 'node:crypto';
import { existsSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { NamePlatform } from '../files/file-names';

/**
 * How a file system compares names, for the restore's guards and its plan:
 *   - Windows (NTFS, SMB shares): case-insensitive and case-preserving; no Unicode normalization.
 *   - Linux (ext4, xfs): names are bytes; "A" and "a" are two names.
 *   - macOS (APFS, HFS+): case-insensitive by default and normalization-insensitive.
 * The platform default is a guess; a restore target's own behaviour is probed (probeSemantics).
 */
export interface NameSemantics {
  platform: NamePlatform;
  caseInsensitive: boolean;
  normalizationInsensitive: boolean;
}

export function defaultSemantics(platform: NodeJS.Platform = process.platform): NameSemantics {
  if (platform === 'win32') return { platform: 'win32', caseInsensitive: true, normalizationInsensitive: false };
  if (platform === 'darwin') return { platform: 'posix', caseInsensitive: true, normalizationInsensitive: true };
  return { platform: 'posix', caseInsensitive: false, normalizationInsensitive: false };
}

/**
 * One name as the file system compares it. Case folds one UTF-16 unit at a time, as NTFS's
 * upcase table does (ß stays ß; no name grows).
 */
export function foldName(name: string, semantics: NameSemantics): string {
  let folded = semantics.normalizationInsensitive ? name.normalize('NFC') : name;
  if (semantics.caseInsensitive) {
    let upper = '';
    for (const unit of folded) {
      const up = unit.toUpperCase();
      upper += up.length === unit.length ? up : unit;
    }
    folded = upper;
  }
  return folded;
}

/**
 * A path in the form two paths on the same file system compare equal in: absolute, the `\\?\`
 * and `\\?\UNC\` prefixes removed, separators unified, no trailing separator (but for a drive
 * or share root), and names folded as the file system compares them.
 */
export function comparablePath(p: string, semantics: NameSemantics): string {
  const paths = semantics.platform === 'win32' ? path.win32 : path.posix;
  let plain = p;
  if (semantics.platform === 'win32') {
    plain = plain.replace(/\//g, '\\');
    if (/^\\\\\?\\UNC\\/i.test(plain)) plain = `\\\\${plain.slice(8)}`;
    else if (/^\\\\[?.]\\[A-Za-z]:/.test(plain)) plain = plain.slice(4);
  }
  let resolved = paths.resolve(plain);
  const root = paths.parse(resolved).root;
  while (resolved.length > root.length && (resolved.endsWith('\\') || resolved.endsWith('/'))) resolved = resolved.slice(0, -1);
  return foldName(resolved, semantics);
}

/** True when `inner` is `outer` or lies below it, compared as the file system compares names. */
export function isSameOrInside(inner: string, outer: string, semantics: NameSemantics): boolean {
  const a = comparablePath(inner, semantics);
  const b = comparablePath(outer, semantics);
  if (a === b) return true;
  const separator = semantics.platform === 'win32' ? '\\' : '/';
  return a.startsWith(b.endsWith(separator) ? b : b + separator);
}

/** True when either path is the other or lies inside it. */
export function overlaps(a: string, b: string, semantics: NameSemantics): boolean {
  return isSameOrInside(a, b, semantics) || isSameOrInside(b, a, semantics);
}

/**
 * The path with its existing part resolved by the file system itself (realpath): links and
 * junctions followed, 8.3 short names and mapped drives expanded on Windows. The part that
 * does not exist yet is kept as given.
 */
export function canonicalPath(p: string, paths: typeof path = path): string {
  const absolute = paths.resolve(p);
  let existing = absolute;
  const rest: string[] = [];
  while (!existsSync(existing)) {
    const parent = paths.dirname(existing);
    if (parent === existing) return absolute;
    rest.unshift(paths.basename(existing));
    existing = parent;
  }
  try {
    return paths.join(realpathSync.native(existing), ...rest);
  } catch {
    return absolute;
  }
}

/**
 * True when `a` is, holds or lies inside `b` as the file system knows its folders: by device
 * and inode (on Windows the volume serial number and the file id), which a bind mount, a second
 * share or drive letter for the same folder, or a junction cannot disguise. Each existing
 * folder from `a` (or its nearest existing parent) up to the top is compared with `b`, and the
 * other way round. Paths of this server only; a folder whose file system gives no inode (0)
 * is not compared.
 */
export function overlapsOnDisk(a: string, b: string, paths: typeof path = path): boolean {
  const idOf = (p: string) => {
    try {
      const s = statSync(p, { bigint: true, throwIfNoEntry: false });
      return s && s.ino !== 0n ? `${s.dev}:${s.ino}` : undefined;
    } catch {
      return undefined;
    }
  };
  const inside = (inner: string, outer: string) => {
    const outerId = idOf(outer);
    if (outerId === undefined) return false;
    for (let at = paths.resolve(inner); ; at = paths.dirname(at)) {
      if (idOf(at) === outerId) return true;
      if (paths.dirname(at) === at) return false;
    }
  };
  return inside(a, b) || inside(b, a);
}

/**
 * How the file system holding `folder` compares names, found by asking it: a probe file is
 * created and looked up under its upper-case and its decomposed (NFD) name. Linux on an SMB
 * share or a case-folding ext4 folder is case-insensitive too, whatever the platform says.
 * Falls back to the platform's default when the folder cannot be written.
 */
export function probeSemantics(folder: string, platform: NodeJS.Platform = process.platform): NameSemantics {
  const semantics = defaultSemantics(platform);
  const name = `.sob-probe-${randomBytes(4).toString('hex')}-\u00e9a`;
  const probe = path.join(folder, name);
  try {
    writeFileSync(probe, '', { flag: 'wx' });
  } catch {
    return semantics;
  }
  try {
    return {
      ...semantics,
      caseInsensitive: existsSync(path.join(folder, name.toUpperCase())),
      normalizationInsensitive: existsSync(path.join(folder, name.normalize('NFD'))),
    };
  } finally {
    rmSync(probe, { force: true });
  }
}
