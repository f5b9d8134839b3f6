import { isUtf8 } from 'node:buffer';
import path from 'node:path';
import { displayText } from '../../../protocol';

/**
 * File names as the file system holds them, and as strings the connector can key maps with.
 * Node gives names as bytes with `encoding: 'buffer'`: raw bytes on Linux, WTF-8 on Windows
 * (protocol/archive-path.ts). This module turns them into one string per name and back, with no
 * loss and no normalization, the way Python's os.fsdecode does (PEP 383):
 *   - linux: valid UTF-8 decodes as usual; every byte that is not part of valid UTF-8 becomes the
 *     unpaired surrogate U+DC80–U+DCFF ("surrogateescape"), which valid UTF-8 never yields.
 *   - win32: WTF-8 decodes to the UTF-16 name itself, unpaired surrogates included.
 * A string without unpaired surrogates is also the name Node accepts as a path string; a name
 * with one must go to fs calls as its bytes (fsPath).
 */
export type NamePlatform = 'win32' | 'posix';

export const hostPlatform: NamePlatform = process.platform === 'win32' ? 'win32' : 'posix';

/** The string for a name (or "/"-joined path) given as bytes. */
export function nameText(bytes: Uint8Array, platform: NamePlatform = hostPlatform): string {
  // Nearly every name is valid UTF-8: one native check, one decode.
  if (isUtf8(bytes)) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  let text = '';
  let at = 0;
  let plainFrom = 0;
  const flush = (to: number) => {
    if (to > plainFrom) text += Buffer.from(bytes.buffer, bytes.byteOffset + plainFrom, to - plainFrom).toString('utf8');
  };
  while (at < bytes.length) {
    const length = sequenceLength(bytes, at, platform === 'win32');
    if (length > 0) {
      if (length === 3 && bytes[at] === 0xed && bytes[at + 1]! >= 0xa0) {
        // WTF-8: an unpaired surrogate (only accepted on win32).
        flush(at);
        text += String.fromCharCode(((bytes[at]! & 0x0f) << 12) | ((bytes[at + 1]! & 0x3f) << 6) | (bytes[at + 2]! & 0x3f));
        plainFrom = at + 3;
      }
      at += length;
      continue;
    }
    flush(at);
    text += String.fromCharCode(0xdc00 + bytes[at]!);
    at++;
    plainFrom = at;
  }
  flush(at);
  return text;
}

/** The bytes of a name's string (nameText's inverse). */
export function nameBytes(text: string, platform: NamePlatform = hostPlatform): Buffer {
  if (!/\p{Cs}/u.test(text)) return Buffer.from(text, 'utf8');
  const pieces: Buffer[] = [];
  let plainFrom = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0xd800 || unit > 0xdfff) continue;
    const next = text.charCodeAt(i + 1);
    if (unit <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
      i++; // a pair: plain UTF-8
      continue;
    }
    pieces.push(Buffer.from(text.slice(plainFrom, i), 'utf8'));
    if (platform === 'posix' && unit >= 0xdc80 && unit <= 0xdcff) pieces.push(Buffer.of(unit - 0xdc00));
    else pieces.push(Buffer.of(0xe0 | (unit >> 12), 0x80 | ((unit >> 6) & 0x3f), 0x80 | (unit & 0x3f)));
    plainFrom = i + 1;
  }
  pieces.push(Buffer.from(text.slice(plainFrom), 'utf8'));
  return Buffer.concat(pieces);
}

/** True when Windows can hold a name of these bytes: valid WTF-8 (any bytes on Linux but "/" and NUL, which no name holds). */
export function isWtf8(bytes: Uint8Array): boolean {
  for (let at = 0; at < bytes.length; ) {
    const length = sequenceLength(bytes, at, true);
    if (length === 0) return false;
    at += length;
  }
  return true;
}

/** True when the name's string is also a valid path string (no unpaired surrogate). */
export function isPlainText(text: string): boolean {
  // Most names hold no surrogate at all: one cheap test; the exact one only when they do.
  return !/[\uD800-\uDFFF]/.test(text) || !/\p{Cs}/u.test(text);
}

/**
 * What to give fs calls for `relative` (a "/"-joined name string) below `folder`: a string when
 * the name is plain text, otherwise its exact bytes. Buffer paths get no automatic `\\?\` prefix
 * from Node on Windows, so it is added here (paths beyond 260 characters must keep working).
 */
export function fsPath(folder: string, relative: string, platform: NamePlatform = hostPlatform): string | Buffer {
  const paths = platform === 'win32' ? path.win32 : path.posix;
  const parts = relative === '' ? [] : relative.split('/');
  if (isPlainText(relative)) return paths.join(folder, ...parts);
  const base = platform === 'win32' ? path.win32.toNamespacedPath(path.win32.resolve(folder)) : folder;
  const separator = platform === 'win32' ? '\\' : '/';
  const pieces: Buffer[] = [Buffer.from(base.endsWith(separator) ? base.slice(0, -1) : base, 'utf8')];
  for (const part of parts) pieces.push(Buffer.from(separator), nameBytes(part, platform));
  return Buffer.concat(pieces);
}

/** The length of the valid (UTF-8, or WTF-8 when `wtf8`) sequence at `at`; 0 when the byte there starts none. */
function sequenceLength(bytes: Uint8Array, at: number, wtf8: boolean): number {
  const b0 = bytes[at]!;
  if (b0 < 0x80) return 1;
  const continuation = (offset: number, low = 0x80, high = 0xbf) => {
    const b = bytes[at + offset];
    return b !== undefined && b >= low && b <= high;
  };
  if (b0 >= 0xc2 && b0 <= 0xdf) return continuation(1) ? 2 : 0;
  if (b0 === 0xe0) return continuation(1, 0xa0) && continuation(2) ? 3 : 0;
  if (b0 === 0xed) {
    // 0xA0–0xBF after ED encodes a surrogate: invalid UTF-8, but WTF-8 for an unpaired one.
    if (continuation(1, 0x80, 0x9f)) return continuation(2) ? 3 : 0;
    if (!wtf8 || !continuation(1, 0xa0, 0xbf) || !continuation(2)) return 0;
    const isLead = bytes[at + 1]! <= 0xaf;
    // A lead surrogate followed by a trail one is CESU-8, not WTF-8 (the pair has a 4-byte form).
    if (isLead && bytes[at + 3] === 0xed && bytes[at + 4] !== undefined && bytes[at + 4]! >= 0xb0 && bytes[at + 4]! <= 0xbf) return 0;
    return 3;
  }
  if (b0 >= 0xe1 && b0 <= 0xef) return continuation(1) && continuation(2) ? 3 : 0;
  if (b0 === 0xf0) return continuation(1, 0x90) && continuation(2) && continuation(3) ? 4 : 0;
  if (b0 >= 0xf1 && b0 <= 0xf3) return continuation(1) && continuation(2) && continuation(3) ? 4 : 0;
  if (b0 === 0xf4) return continuation(1, 0x80, 0x8f) && continuation(2) && continuation(3) ? 4 : 0;
  return 0;
}

/** A name's string for people and logs: what is not text shows as U+FFFD. */
export function displayName(text: string, platform: NamePlatform = hostPlatform): string {
  return isPlainText(text) ? text : displayText(nameBytes(text, platform));
}
