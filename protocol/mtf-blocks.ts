/**
 * Microsoft Tape Format (MTF) 1.00a building blocks: descriptor-block (DBLK) common headers, stream
 * headers, checksums, dates and strings. SQL Server writes every native backup in this format (the
 * MTF 1.00a specification, Microsoft, 1997, sections 5.1 "Common Block Header", 5.2 "Stream Header",
 * 4.2 "MTF_DATE_TIME", 4.3 "MTF_TAPE_ADDRESS"). Pure functions over bytes; little-endian throughout.
 */

/** MTF_DB_HDR: 52 bytes at the start of every descriptor block (spec 5.1). */
export const DBLK_HEADER_BYTES = 52;
/** MTF_STREAM_HDR: 22 bytes before each stream's data (spec 5.2). */
export const STREAM_HEADER_BYTES = 22;

/** Block attribute bits of the common header (spec 5.1.2). */
export const BlockAttribute = {
  CONTINUATION: 0x1,
  COMPRESSION: 0x4,
  EOS_AT_EOM: 0x8,
  /** ESET only: the backup was aborted (spec 5.3.4). */
  ESET_ABORTED: 0x40000,
} as const;

/** SSET attribute bits (spec 5.3.3): the kind of backup set. */
export const SsetAttribute = {
  TRANSFER: 0x1,
  /** "Copy": all selected data, without affecting later incremental or differential sets. */
  COPY: 0x2,
  NORMAL: 0x4,
  DIFFERENTIAL: 0x8,
  INCREMENTAL: 0x10,
  DAILY: 0x20,
} as const;

export interface DblkHeader {
  /** Four ASCII letters: TAPE, SSET, VOLB, ESET, SFMB, or a vendor's own (SQL Server: MSCI, MSDA, MSTL, MSLS). */
  type: string;
  attributes: number;
  /** Where the block's first stream header starts, from the block's start. */
  firstEvent: number;
  osId: number;
  osVersion: number;
  /** 1 = ANSI strings, 2 = Unicode (UTF-16LE). */
  stringType: number;
  checksum: number;
  /**
   * The block's Format Logical Address (spec 5.1: UINT64 at 0x14): its position in logical blocks
   * from the start of the data set (the SSET). SQL Server fills it in for every block of the set
   * (observed: SSET 0, VOLB 1, … MSLS), not for filemarks and ESETs (0).
   */
  formatLogicalAddress: number;
}

export interface StreamHeader {
  id: string;
  fileSystemAttributes: number;
  mediaFormatAttributes: number;
  /** Bytes of stream data after the 22-byte header. */
  length: number;
  encryptionAlgorithm: number;
  compressionAlgorithm: number;
}

const view = (bytes: Uint8Array) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

export function u16(bytes: Uint8Array, at: number): number {
  return view(bytes).getUint16(at, true);
}
export function u32(bytes: Uint8Array, at: number): number {
  return view(bytes).getUint32(at, true);
}
/** A UINT64 that must fit a JavaScript number (file offsets and lengths do: 2^53 bytes is 8 PiB). */
export function u64(bytes: Uint8Array, at: number): number {
  const value = view(bytes).getBigUint64(at, true);
  return value > BigInt(Number.MAX_SAFE_INTEGER) ? Number.NaN : Number(value);
}

export function fourCC(bytes: Uint8Array, at: number): string {
  return String.fromCharCode(bytes[at]!, bytes[at + 1]!, bytes[at + 2]!, bytes[at + 3]!);
}

/** Word-wise XOR of the given number of 16-bit words (the checksum of spec 5.1 and 5.2). */
export function xorWords(bytes: Uint8Array, at: number, words: number): number {
  let sum = 0;
  for (let i = 0; i < words; i++) sum ^= u16(bytes, at + 2 * i);
  return sum;
}

/**
 * The common block header at `at`, or undefined when there is none: too few bytes, a type that is
 * not four capital letters, or a header checksum (XOR of the 25 words before it, spec 5.1) that
 * does not match.
 */
export function readDblkHeader(bytes: Uint8Array, at: number): DblkHeader | undefined {
  if (at < 0 || at + DBLK_HEADER_BYTES > bytes.length) return undefined;
  const type = fourCC(bytes, at);
  if (!/^[A-Z]{4}$/.test(type)) return undefined;
  const checksum = u16(bytes, at + 50);
  if (xorWords(bytes, at, 25) !== checksum) return undefined;
  return {
    type,
    attributes: u32(bytes, at + 4),
    firstEvent: u16(bytes, at + 8),
    osId: bytes[at + 10]!,
    osVersion: bytes[at + 11]!,
    stringType: bytes[at + 48]!,
    checksum,
    formatLogicalAddress: u64(bytes, at + 0x14),
  };
}

/** The stream header at `at`, or undefined when its checksum (XOR of the 10 words before it, spec 5.2) fails. */
export function readStreamHeader(bytes: Uint8Array, at: number): StreamHeader | undefined {
  if (at < 0 || at + STREAM_HEADER_BYTES > bytes.length) return undefined;
  const id = fourCC(bytes, at);
  if (!/^[A-Z0-9]{4}$/.test(id) || xorWords(bytes, at, 10) !== u16(bytes, at + 20)) return undefined;
  return {
    id,
    fileSystemAttributes: u16(bytes, at + 4),
    mediaFormatAttributes: u16(bytes, at + 6),
    length: u64(bytes, at + 8),
    encryptionAlgorithm: u16(bytes, at + 16),
    compressionAlgorithm: u16(bytes, at + 18),
  };
}

/** The 22 bytes of a stream header (spec 5.2) for `length` bytes of data with the four-letter `id`; the writer's side of readStreamHeader. */
export function encodeStreamHeader(id: string, length: number): Uint8Array {
  const header = new Uint8Array(STREAM_HEADER_BYTES);
  putFourCC(header, 0, id);
  view(header).setBigUint64(8, BigInt(length), true);
  view(header).setUint16(20, xorWords(header, 0, 10), true);
  return header;
}

function putFourCC(bytes: Uint8Array, at: number, id: string): void {
  if (!/^[A-Z0-9]{4}$/.test(id)) throw new RangeError(`an MTF block or stream id is four capital letters or digits, not "${id}"`);
  for (let i = 0; i < 4; i++) bytes[at + i] = id.charCodeAt(i);
}

/** Streams are 4-byte aligned (spec 5.2: "stream headers begin on a four-byte boundary"). */
export function alignStream(position: number): number {
  return (position + 3) & ~3;
}

/**
 * MTF_DATE_TIME (spec 4.2): 5 bytes, big-endian bit fields year:14 month:4 day:5 hour:5 minute:6
 * second:6. The format carries no time zone; SQL Server's SSET names the writer's zone. Returns
 * "YYYY-MM-DDTHH:MM:SS", or undefined for the all-zero "no date" or an impossible date.
 */
export function readMtfDate(bytes: Uint8Array, at: number): string | undefined {
  if (at + 5 > bytes.length) return undefined;
  let bits = 0n;
  for (let i = 0; i < 5; i++) bits = (bits << 8n) | BigInt(bytes[at + i]!);
  const field = (shift: bigint, width: bigint) => Number((bits >> shift) & ((1n << width) - 1n));
  const [year, month, day, hour, minute, second] = [
    field(26n, 14n),
    field(22n, 4n),
    field(17n, 5n),
    field(12n, 5n),
    field(6n, 6n),
    field(0n, 6n),
  ];
  if (year === 0 && month === 0 && day === 0) return undefined;
  if (year < 1900 || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) return undefined;
  const two = (n: number) => String(n).padStart(2, '0');
  return `${year}-${two(month)}-${two(day)}T${two(hour)}:${two(minute)}:${two(second)}`;
}

/** Encodes a date as MTF_DATE_TIME (spec 4.2), from its UTC fields. */
export function mtfDate(date: Date): Uint8Array {
  let bits = BigInt(date.getUTCFullYear());
  for (const [value, width] of [
    [date.getUTCMonth() + 1, 4n],
    [date.getUTCDate(), 5n],
    [date.getUTCHours(), 5n],
    [date.getUTCMinutes(), 6n],
    [date.getUTCSeconds(), 6n],
  ] as const) {
    bits = (bits << width) | BigInt(value);
  }
  const out = new Uint8Array(5);
  for (let i = 4; i >= 0; i--, bits >>= 8n) out[i] = Number(bits & 0xffn);
  return out;
}

/**
 * A string referenced by an MTF_TAPE_ADDRESS (spec 4.3: UINT16 size, UINT16 offset from `base`) at
 * `pointer`; UTF-16LE when the block's string type is 2. Returns '' for size 0, undefined when the
 * reference lies outside the bytes or the text holds control characters (a damaged block).
 * Trailing NULs (SQL Server counts one in the TAPE block's software name) are dropped.
 */
export function readTapeAddressString(bytes: Uint8Array, base: number, pointer: number, stringType = 2): string | undefined {
  if (base + pointer + 4 > bytes.length) return undefined;
  const size = u16(bytes, base + pointer);
  const offset = u16(bytes, base + pointer + 2);
  return readString(bytes, base + offset, size, stringType);
}

const UTF16 = new TextDecoder('utf-16le', { ignoreBOM: true });
const LATIN1 = new TextDecoder('latin1');

export function readString(bytes: Uint8Array, start: number, size: number, stringType = 2): string | undefined {
  if (size === 0) return '';
  if (start < 0 || start + size > bytes.length || (stringType === 2 && size % 2 !== 0)) return undefined;
  const slice = bytes.subarray(start, start + size);
  // ignoreBOM: a leading U+FEFF is part of the name (SQL Server allows it in a sysname), not a byte order mark to drop.
  const text = (stringType === 2 ? UTF16 : LATIN1).decode(slice).replace(/\0+$/, '');
  // eslint-disable-next-line no-control-regex
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what this refuses or escapes
  return /[\u0000-\u001f\ufffd]/.test(text) ? undefined : text;
}

/** Where SQL Server's soft filemarks keep their array of earlier filemarks (observed; MTF 1.00a has UINT32 PBAs at 0x3C). */
const OBSERVED_SFMB_ARRAY_OFFSET = 0x48;

/**
 * A soft filemark `filemarkBytes` long in SQL Server's variant (the layout readSoftFilemark reads):
 * the common header (OS id 14 version 1, Unicode strings, as observed), 55 entries, the byte offsets
 * of the earlier filemarks in `previous`, newest first. The writer's side of readSoftFilemark.
 */
export function encodeSoftFilemark(previous: number[], filemarkBytes: number): Uint8Array {
  const b = new Uint8Array(filemarkBytes);
  const v = view(b);
  putFourCC(b, 0, 'SFMB');
  v.setUint32(4, 0x80000000, true);
  v.setUint16(8, Math.min(filemarkBytes, 0xffff), true);
  b[10] = 0x0e;
  b[11] = 1;
  b[0x30] = 2;
  v.setUint32(0x34, 55, true);
  v.setUint32(0x38, previous.length, true);
  v.setUint32(0x3c, OBSERVED_SFMB_ARRAY_OFFSET, true);
  previous.forEach((pba, i) => {
    v.setBigUint64(OBSERVED_SFMB_ARRAY_OFFSET + 8 * i, BigInt(pba), true);
  });
  v.setUint16(50, xorWords(b, 0, 25), true);
  return b;
}

/**
 * A soft filemark (MTF 5.3.7, `filemarkBytes` long: the TAPE block's soft filemark block size × 512)
 * at `at`, in SQL Server's variant (observed on every fixture): UINT32 entries at 0x34, UINT32 used
 * at 0x38, UINT32 0x48 at 0x3C, then `used` UINT64 byte offsets of the earlier filemarks in the
 * file, newest first. The filemark after TAPE and the one before the end of set list one (0x400 in
 * a 512-byte-filemark file); the file's final filemark lists the end-of-set one and the first.
 * undefined when there is none (a bad header, or offsets that do not fit).
 */
export function readSoftFilemark(bytes: Uint8Array, at: number, filemarkBytes: number): { previous: number[] } | undefined {
  if (at < 0 || at + filemarkBytes > bytes.length) return undefined;
  const header = readDblkHeader(bytes, at);
  if (header?.type !== 'SFMB') return undefined;
  const entries = u32(bytes, at + 0x34);
  const used = u32(bytes, at + 0x38);
  const arrayAt = u32(bytes, at + 0x3c);
  if (arrayAt !== OBSERVED_SFMB_ARRAY_OFFSET || used > entries || arrayAt + used * 8 > filemarkBytes) return undefined;
  const previous = Array.from({ length: used }, (_, i) => u64(bytes, at + arrayAt + 8 * i));
  return previous.every(Number.isSafeInteger) ? { previous } : undefined;
}
