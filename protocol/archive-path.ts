/**
 * The exact name of an archived file or folder. A path below an archive root is kept as the
 * bytes the file system gave, "/"-separated and never Unicode-normalized:
 *   - Linux: the raw bytes of each name. They need not be UTF-8: a Latin-1 "café" is 63 61 66 E9.
 *   - Windows: WTF-8 (https://simonsapin.github.io/wtf-8/), UTF-8 that also encodes the unpaired
 *     UTF-16 surrogates NTFS allows in names. It is what Node returns for `encoding: 'buffer'`
 *     (libuv ≥ 1.47 converts paths with uv_utf16_to_wtf8 and back).
 * A snapshot entry carries `path`, the name as text, and `pathBytes` (base64) only when the text
 * is not the exact name (the bytes are not valid UTF-8; invalid sequences show as U+FFFD).
 */

const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const lenient = new TextDecoder('utf-8', { ignoreBOM: true });

/** True when the bytes are valid UTF-8 (a name that text represents exactly). */
export function isUtf8(bytes: Uint8Array): boolean {
  try {
    strict.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** The bytes as text for people and logs: invalid UTF-8 becomes U+FFFD (WHATWG decoding, the same everywhere). */
export function displayText(bytes: Uint8Array): string {
  return lenient.decode(bytes);
}

/** True when a string has no unpaired surrogate, so UTF-8 represents it exactly. */
export function isWellFormed(text: string): boolean {
  return !/\p{Cs}/u.test(text);
}

/** The snapshot's fields for a path given as exact bytes: `pathBytes` only when `path` alone is not exact. */
export function pathFields(bytes: Uint8Array): { path: string; pathBytes?: string } {
  const path = displayText(bytes);
  return isUtf8(bytes) ? { path } : { path, pathBytes: Buffer.from(bytes).toString('base64') };
}

/** The exact bytes of a snapshot entry's path. */
export function exactPathBytes(entry: { path: string; pathBytes?: string }): Buffer {
  return entry.pathBytes === undefined ? Buffer.from(entry.path, 'utf8') : Buffer.from(entry.pathBytes, 'base64');
}

/** True when `path` and `pathBytes` agree: `pathBytes` is present exactly when the bytes are not UTF-8, and `path` is their text. */
export function pathFieldsConsistent(entry: { path: string; pathBytes?: string }): boolean {
  if (entry.pathBytes === undefined) return isWellFormed(entry.path);
  const bytes = Buffer.from(entry.pathBytes, 'base64');
  return bytes.toString('base64') === entry.pathBytes && !isUtf8(bytes) && displayText(bytes) === entry.path;
}
