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
 * (from a Linux server), characters Windows forbids (< > : " \ | ? * and controls), device
 * names (CON, NUL.txt, …) and names ending in a dot or a space are replaced and reported too.
 * Entries whose names the target holds as they are placed first, so that a replaced name never
 * takes an exact one's place ("a:b.txt" becomes "a_b (conflict 2).txt" when "a_b.txt" exists).
 */
export function planRestore(items: RestoreEntry[], semantics: NameSemantics): PlacedEntry[] {
  const prepared = items.map((item) => {
    const bytes = exactPathBytes(item.entry);
    const reasons: string[] = [];
    const parts = segments(bytes);
    const names = parts.map((segment) => targetName(segment, semantics, reasons));
    // What the folders are, by their own names (as the target compares them): "ANNA" and "anna" are one folder on Windows.
    const originals = parts.map((segment) => foldName(nameText(segment, 'posix'), semantics));
    return { item, bytes, reasons, names, originals, exact: reasons.length === 0 };
  });
  prepared.sort((a, b) =>
    a.exact !== b.exact
      ? a.exact
        ? -1
        : 1
      : a.item.entry.root < b.item.entry.root
        ? -1
        : a.item.entry.root > b.item.entry.root
          ? 1
          : Buffer.compare(a.bytes, b.bytes),
  );
  /** Folder (root and folded original names) → where it went: its spelled path and folded target path. */
  const folders = new Map<string, { spelled: string[]; key: string }>();
  /** Folded target paths placed so far → what holds them: a folder (of which original) or an entry. */
  const taken = new Map<string, { folder?: string; name: string }>();
  const placed: PlacedEntry[] = [];
  for (const { item, reasons, names, originals } of prepared) {
    const root = item.entry.root;
    let spelled: string[] = [];
    let key = root;
    let original = root;
    const last = item.kind === 'folder' ? names.length : names.length - 1;
    for (let i = 0; i < last; i++) {
      original += `/${originals[i]}`;
      const known = folders.get(original);
      if (known) {
        if (known.spelled[i] !== names[i])
          reasons.push(
            `folder "${displayName(names[i]!)}" restored into "${displayName(known.spelled[i]!)}": this file system does not tell the two names apart`,
          );
        ({ spelled, key } = { spelled: [...known.spelled], key: known.key });
        continue;
      }
      let spelling = names[i]!;
      const holder = taken.get(`${key}/${foldName(spelling, semantics)}`);
      if (holder && holder.folder !== original) {
        // A file, or another folder whose name became this one on the target: this folder gets a name of its own.
        spelling = freeName(spelling, key, semantics, taken);
        reasons.push(
          `folder "${displayName(names[i]!)}" restored as "${displayName(spelling)}": ${holder.folder === undefined ? 'a file of the same name on this file system' : `"${displayName(holder.name)}" has that name on this file system`}`,
        );
      }
      key = `${key}/${foldName(spelling, semantics)}`;
      spelled = [...spelled, spelling];
      taken.set(key, { folder: original, name: spelling });
      folders.set(original, { spelled, key });
    }
    if (item.kind !== 'folder') {
      let leaf = names.at(-1)!;
      const other = taken.get(`${key}/${foldName(leaf, semantics)}`);
      if (other) {
        const first = leaf;
        leaf = freeName(leaf, key, semantics, taken);
        reasons.push(
          `restored as "${displayName(leaf)}": "${displayName(first)}" and "${displayName(other.name)}" are one name on this file system`,
        );
      }
      taken.set(`${key}/${foldName(leaf, semantics)}`, { name: leaf });
      spelled = [...spelled, leaf];
    }
    placed.push({ item, relative: spelled.join('/'), ...(reasons.length > 0 ? { renamed: reasons.join('; ') } : {}) });
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
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what this refuses or escapes
  const allowed = name.replace(/[<>:"\\|?*\u0000-\u001f]/g, '_');
  if (allowed !== name) {
    reasons.push(`"${displayName(name)}" holds characters Windows does not allow in names: they became "_"`);
    name = allowed;
  }
  // Win32 path parsing drops a trailing dot or space: "x." would open "x".
  const trimmed = name.replace(/[. ]+$/, (tail) => '_'.repeat(tail.length));
  if (trimmed !== name) {
    reasons.push(
      `"${displayName(name)}" ends in a dot or a space, which Windows programs drop (they would open another file): they became "_"`,
    );
    name = trimmed;
  }
  // A device name, with any extension, opens the device, not a file (learn.microsoft.com, "Naming Files, Paths, and Namespaces").
  const device = /^(CON|PRN|AUX|NUL|COM[0-9\u00b9\u00b2\u00b3]|LPT[0-9\u00b9\u00b2\u00b3])(?=$|[ .])/i.exec(name);
  if (device) {
    const safe = `${device[1]}_${name.slice(device[1]!.length)}`;
    reasons.push(
      `"${displayName(name)}" is a device name Windows reserves (CON, PRN, AUX, NUL, COM0-9, LPT0-9), which programs cannot open as a file: restored as "${displayName(safe)}"`,
    );
    name = safe;
  }
  return name;
}

/** "name (conflict N).ext" with the smallest N that is free in the folder. */
function freeName(name: string, parentKey: string, semantics: NameSemantics, taken: ReadonlyMap<string, unknown>): string {
  const dot = name.lastIndexOf('.');
  const [stem, extension] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
  for (let n = 2; ; n++) {
    const candidate = `${stem} (conflict ${n})${extension}`;
    if (!taken.has(`${parentKey}/${foldName(candidate, semantics)}`)) return candidate;
  }
}
