import { exactPathBytes, type SnapshotFile, type SnapshotFolder, type SnapshotLink } from '../../../protocol';
import { displayName, isWtf8, nameText } from '../files/file-names';
import { foldName, type NameSemantics } from './target-paths';

/** What a restore writes: files, links and empty folders of a snapshot. */
export type RestoreEntry =
  | { kind: 'file'; entry: SnapshotFile }
  | { kind: 'link'; entry: SnapshotLink }
  | { kind: 'folder'; entry: SnapshotFolder };

/** One entry placed on the target: the names to write, and why they differ from the snapshot's, if they do. */
export interface PlacedEntry {
  item: RestoreEntry;
  /** "/"-joined names below the root's destination folder, in the target's name strings (files/file-names.ts). */
  relative: string;
  /** Set when the restored name is not the exact name: why. */
  renamed?: string;
}

/**
 * Where each entry goes on a target file system, decided before anything is written. The exact
 * name is used whenever the target can hold it. Names the target cannot tell apart (case on
 * Windows, normalization on macOS) are never merged: the first (in byte order) keeps its name,
 * the others get " (conflict N)" before the extension, and a folder name that differs only so
 * lands in the folder of that name; each is reported. On Windows, names that are not Unicode
 * (from a Linux server) and characters Windows forbids (< > : " \ | ? * and controls) are
 * replaced and reported too.
 */
export function planRestore(items: RestoreEntry[], semantics: NameSemantics): PlacedEntry[] {
  const withBytes = items.map((item) => ({ item, bytes: exactPathBytes(item.entry) }));
  withBytes.sort((a, b) => (a.item.entry.root < b.item.entry.root ? -1 : a.item.entry.root > b.item.entry.root ? 1 : Buffer.compare(a.bytes, b.bytes)));
  /** Folded folder path → the spelling already given to it. */
  const folders = new Map<string, string>();
  /** Folded paths of files, links and empty folders placed so far → their names. */
  const taken = new Map<string, string>();
  const placed: PlacedEntry[] = [];
  for (const { item, bytes } of withBytes) {
    const reasons: string[] = [];
    const names = segments(bytes).map((segment) => targetName(segment, semantics, reasons));
    const spelled: string[] = [];
    let foldedPrefix = `${item.entry.root}`;
    for (let i = 0; i < names.length - 1; i++) {
      foldedPrefix += `/${foldName(names[i]!, semantics)}`;
      const existing = folders.get(foldedPrefix);
      if (existing === undefined) {
        // A file of this name is there already: the folder gets a conflict name (and keeps it for its other entries).
        let spelling = names[i]!;
        if (taken.has(foldedPrefix)) {
          spelling = freeName(spelling, foldedPrefix.slice(0, foldedPrefix.lastIndexOf('/')), semantics, taken, folders);
          reasons.push(`folder "${displayName(names[i]!)}" restored as "${displayName(spelling)}": a file of the same name on this file system`);
        }
        folders.set(foldedPrefix, spelling);
        spelled.push(spelling);
      } else {
        if (existing !== names[i]) reasons.push(`folder "${displayName(names[i]!)}" restored into "${displayName(existing)}": this file system does not tell the two names apart`);
        spelled.push(existing);
      }
    }
    let leaf = names.at(-1)!;
    const parentKey = foldedPrefix;
    const key = `${parentKey}/${foldName(leaf, semantics)}`;
    const other = taken.get(key) ?? (folders.has(key) && item.kind !== 'folder' ? folders.get(key) : undefined);
    if (other !== undefined || (item.kind === 'folder' && taken.has(key))) {
      const first = leaf;
      leaf = freeName(leaf, parentKey, semantics, taken, folders);
      reasons.push(`restored as "${displayName(leaf)}": "${displayName(first)}" and "${displayName(other ?? first)}" are one name on this file system`);
    }
    const relative = [...spelled, leaf].join('/');
    taken.set(`${parentKey}/${foldName(leaf, semantics)}`, leaf);
    if (item.kind === 'folder') folders.set(`${parentKey}/${foldName(leaf, semantics)}`, leaf);
    placed.push({ item, relative, ...(reasons.length > 0 ? { renamed: reasons.join('; ') } : {}) });
  }
  return placed;
}

/** The "/"-separated segments of a path's bytes. */
function segments(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let start = 0; ; ) {
    const end = bytes.indexOf(0x2f, start);
    out.push(bytes.subarray(start, end < 0 ? bytes.length : end));
    if (end < 0) return out;
    start = end + 1;
  }
}

/** A snapshot name as the target's name string; replaced (and the reason recorded) where the target cannot hold it. */
function targetName(segment: Buffer, semantics: NameSemantics, reasons: string[]): string {
  if (semantics.platform !== 'win32') return nameText(segment, 'posix');
  let name = nameText(segment, 'win32');
  // Bytes that are not WTF-8 came from a Linux server; Windows names are Unicode.
  if (!isWtf8(segment)) {
    name = displayName(nameText(segment, 'posix'), 'posix');
    reasons.push(`"${name}" is not Unicode, which Windows names must be: the bytes that are not became U+FFFD`);
  }
  // eslint-disable-next-line no-control-regex
  const allowed = name.replace(/[<>:"\\|?*\u0000-\u001f]/g, '_');
  if (allowed !== name) {
    reasons.push(`"${displayName(name)}" holds characters Windows does not allow in names: they became "_"`);
    name = allowed;
  }
  return name;
}

/** "name (conflict N).ext" with the smallest N that is free in the folder. */
function freeName(name: string, parentKey: string, semantics: NameSemantics, taken: Map<string, string>, folders: Map<string, string>): string {
  const dot = name.lastIndexOf('.');
  const [stem, extension] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
  for (let n = 2; ; n++) {
    const candidate = `${stem} (conflict ${n})${extension}`;
    const key = `${parentKey}/${foldName(candidate, semantics)}`;
    if (!taken.has(key) && !folders.has(key)) return candidate;
  }
}
