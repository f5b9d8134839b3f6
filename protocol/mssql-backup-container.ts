import { compressXpressHuffman, decompressXpressHuffman, XpressError } from './xpress-huffman';

/**
 * The `MSSQLBAK` container of compressed SQL Server backups (`BACKUP … WITH COMPRESSION`).
 * Microsoft does not document it; everything here was worked out from a real compressed backup
 * (shared/fixtures/mssql/sharepoint-config-compressed.bak, SQL Server 12.0.4100) and is marked
 * "observed". What it holds is the same Microsoft Tape Format stream an uncompressed backup is:
 *
 * - bytes 0–7 `MSSQLBAK`, then a header up to 0x1E0 (observed: UINT32 2 at 8, UINT32 3 at 0xC, the
 *   rest writer state that is not checked);
 * - the MTF stream cut into chunks, each a 28-byte chunk header and one [MS-XCA] LZ77+Huffman block;
 *   the first chunk starts at 0x1E0 and holds the 1,024-byte TAPE block;
 * - the MTF soft filemarks (SFMB, 512 bytes) stored as they are, uncompressed, on 512-byte
 *   boundaries of the file, at the places their own PBA fields name; the chunks between two
 *   filemarks follow each other without gaps, then comes a record whose first byte is 0x24 (0x2C when
 *   it carries an index of the segment's chunks, observed before the end-of-set filemark), then
 *   padding; that record is recognized by its first byte and not otherwise interpreted.
 *
 * So a compressed file reads like an uncompressed one: the decoded chunks and the raw filemarks,
 * in file order, are the MTF stream byte for byte (TAPE 0–0x400, SFMB 0x400–0x600, SSET at 0x600 …).
 *
 * Chunk header (observed on all 198 chunks of the fixture):
 *   0x00 UINT8   0x21 (every chunk; another value is refused, not guessed at)
 *   0x01 UINT8   decoded size in 512-byte units (1 … 128, so at most 64 KiB: one Huffman block)
 *   0x02 UINT16  bytes of compressed data after the header
 *   0x04 UINT32  rises through the file (a timestamp or sequence; not checked)
 *   0x08 16 bytes the same in every chunk of a file (not interpreted; the reader finds chunks by it)
 *   0x18 UINT32  a check value of unknown algorithm (not CRC-32 or CRC-32C of the data: not checked)
 */
export const MSSQLBAK_MAGIC = 'MSSQLBAK';
/** Where the first chunk starts (observed). */
export const FIRST_CHUNK_OFFSET = 0x1e0;
export const CHUNK_HEADER_BYTES = 28;
const CHUNK_KIND = 0x21;
const CHUNK_UNIT = 512;

export interface ChunkHeader {
  /** Where the chunk starts in the file. */
  at: number;
  /** Bytes the chunk decodes to. */
  decodedSize: number;
  /** Bytes of compressed data after the 28-byte header. */
  compressedSize: number;
  /** Bytes 8–23: constant within one file. */
  signature: Uint8Array;
}

/** A container that breaks the observed framing or does not decode. */
export class ContainerError extends Error {
  constructor(readonly code: 'CHUNK_INVALID' | 'CHUNK_UNDECODABLE', message: string, options: { cause?: unknown } = {}) {
    super(message, options);
    this.name = 'ContainerError';
  }
}

/** The chunk header at `at` (`bytes` starts at file offset `base`), or a ContainerError naming what is wrong. */
export function readChunkHeader(bytes: Uint8Array, at: number, base = 0): ChunkHeader {
  const local = at - base;
  if (local < 0 || local + CHUNK_HEADER_BYTES > bytes.length) throw new ContainerError('CHUNK_INVALID', `the file ends inside the compressed chunk header at offset 0x${at.toString(16)}`);
  const kind = bytes[local]!;
  const units = bytes[local + 1]!;
  if (kind !== CHUNK_KIND) throw new ContainerError('CHUNK_INVALID', `no compressed chunk at offset 0x${at.toString(16)} (kind byte 0x${kind.toString(16)}, SQL Server writes 0x21)`);
  if (units < 1 || units > 128) throw new ContainerError('CHUNK_INVALID', `the compressed chunk at offset 0x${at.toString(16)} claims ${units * CHUNK_UNIT} decoded bytes (1 to 65536 in steps of 512)`);
  const compressedSize = bytes[local + 2]! | (bytes[local + 3]! << 8);
  return { at, decodedSize: units * CHUNK_UNIT, compressedSize, signature: bytes.slice(local + 8, local + 24) };
}

/** Decodes the chunk whose header was read from `bytes` (starting at file offset `base`). */
export function decodeChunk(bytes: Uint8Array, chunk: ChunkHeader, base = 0): Uint8Array {
  const start = chunk.at - base + CHUNK_HEADER_BYTES;
  if (start + chunk.compressedSize > bytes.length) {
    throw new ContainerError('CHUNK_INVALID', `the compressed chunk at offset 0x${chunk.at.toString(16)} runs past the end of the file (${chunk.compressedSize} bytes of data)`);
  }
  try {
    return decompressXpressHuffman(bytes.subarray(start, start + chunk.compressedSize), chunk.decodedSize);
  } catch (error) {
    if (!(error instanceof XpressError)) throw error;
    throw new ContainerError('CHUNK_UNDECODABLE', `the compressed chunk at offset 0x${chunk.at.toString(16)} does not decode: ${error.message}`, { cause: error });
  }
}

/** Same bytes 8–23 as the file's first chunk: how a chunk is recognized when searching backwards. */
export function sameSignature(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}

/**
 * Writes one chunk (header and LZ77+Huffman block) for `data` (a multiple of 512 bytes, at most
 * 64 KiB) in the observed framing; `sequence` goes to bytes 4–7, `signature` to bytes 8–23. The
 * check value at 0x18 is written as 0 (its algorithm is unknown). Data that does not fit the
 * 16-bit size field once compressed is split into two chunks of half the size.
 */
export function encodeChunks(data: Uint8Array, sequence: number, signature: Uint8Array): Uint8Array[] {
  if (data.length === 0 || data.length % CHUNK_UNIT !== 0 || data.length > 65536) {
    throw new ContainerError('CHUNK_INVALID', `a chunk holds 512 to 65536 bytes in steps of 512, not ${data.length}`);
  }
  // Near-random data (8 bits of entropy per byte) cannot shrink: split it at once instead of compressing twice.
  const block = data.length > 32768 && byteEntropy(data) > 7.9 ? undefined : compressXpressHuffman(data);
  if (block === undefined || block.length > 0xffff) {
    const half = Math.ceil(data.length / CHUNK_UNIT / 2) * CHUNK_UNIT;
    return [...encodeChunks(data.subarray(0, half), sequence, signature), ...encodeChunks(data.subarray(half), sequence, signature)];
  }
  const chunk = new Uint8Array(CHUNK_HEADER_BYTES + block.length);
  const view = new DataView(chunk.buffer);
  chunk[0] = CHUNK_KIND;
  chunk[1] = data.length / CHUNK_UNIT;
  view.setUint16(2, block.length, true);
  view.setUint32(4, sequence >>> 0, true);
  chunk.set(signature.subarray(0, 16), 8);
  chunk.set(block, CHUNK_HEADER_BYTES);
  return [chunk];
}

/** Shannon entropy of the byte values, in bits per byte (0 … 8). */
function byteEntropy(data: Uint8Array): number {
  const counts = new Uint32Array(256);
  for (let i = 0; i < data.length; i++) counts[data[i]!]!++;
  let bits = 0;
  for (const count of counts) if (count > 0) bits -= (count / data.length) * Math.log2(count / data.length);
  return bits;
}
