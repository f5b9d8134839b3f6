import { readSoftFilemark } from './mtf-blocks';
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
 *   0x08 8 bytes  writer state, not interpreted: the fixture has two values, each on a run of chunks
 *   0x10 8 bytes  the same in every chunk of a file (UINT64 1 in the fixture): with the kind byte and
 *                 the sizes, how a chunk is recognized when the reader searches for one
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
  constructor(
    readonly code: 'CHUNK_INVALID' | 'CHUNK_UNDECODABLE' | 'CHUNK_FOREIGN' | 'SEGMENT_INVALID' | 'TRUNCATED',
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, options);
    this.name = 'ContainerError';
  }
}

/** The chunk header at `at` (`bytes` starts at file offset `base`), or a ContainerError naming what is wrong. */
export function readChunkHeader(bytes: Uint8Array, at: number, base = 0): ChunkHeader {
  const local = at - base;
  if (local < 0 || local + CHUNK_HEADER_BYTES > bytes.length)
    throw new ContainerError('CHUNK_INVALID', `the file ends inside the compressed chunk header at offset 0x${at.toString(16)}`);
  const kind = bytes[local]!;
  const units = bytes[local + 1]!;
  if (kind !== CHUNK_KIND)
    throw new ContainerError(
      'CHUNK_INVALID',
      `no compressed chunk at offset 0x${at.toString(16)} (kind byte 0x${kind.toString(16)}, SQL Server writes 0x21)`,
    );
  if (units < 1 || units > 128)
    throw new ContainerError(
      'CHUNK_INVALID',
      `the compressed chunk at offset 0x${at.toString(16)} claims ${units * CHUNK_UNIT} decoded bytes (1 to 65536 in steps of 512)`,
    );
  const compressedSize = bytes[local + 2]! | (bytes[local + 3]! << 8);
  return { at, decodedSize: units * CHUNK_UNIT, compressedSize, signature: bytes.slice(local + 8, local + 24) };
}

/** Decodes the chunk whose header was read from `bytes` (starting at file offset `base`). */
export function decodeChunk(bytes: Uint8Array, chunk: ChunkHeader, base = 0): Uint8Array {
  const start = chunk.at - base + CHUNK_HEADER_BYTES;
  if (start + chunk.compressedSize > bytes.length) {
    throw new ContainerError(
      'CHUNK_INVALID',
      `the compressed chunk at offset 0x${chunk.at.toString(16)} runs past the end of the file (${chunk.compressedSize} bytes of data)`,
    );
  }
  try {
    return decompressXpressHuffman(bytes.subarray(start, start + chunk.compressedSize), chunk.decodedSize);
  } catch (error) {
    if (!(error instanceof XpressError)) throw error;
    throw new ContainerError(
      'CHUNK_UNDECODABLE',
      `the compressed chunk at offset 0x${chunk.at.toString(16)} does not decode: ${error.message}`,
      { cause: error },
    );
  }
}

/** Same bytes 16–23 (signature bytes 8–15) as the file's first chunk: part of how a chunk is recognized. */
export function sameSignature(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === 16 && b.length === 16 && a.subarray(8).every((value, i) => value === b[8 + i]);
}

/** Chunk headers in `window` (file bytes from `base`) that could belong to this file and lie whole before `limit`. */
function chunkCandidates(window: Uint8Array, base: number, signature: Uint8Array, limit: number): Map<number, ChunkHeader> {
  const starts = new Map<number, ChunkHeader>();
  for (let at = window.indexOf(CHUNK_KIND); at >= 0; at = window.indexOf(CHUNK_KIND, at + 1)) {
    if (at + CHUNK_HEADER_BYTES > window.length || !sameSignature(window.subarray(at + 8, at + 24), signature)) continue;
    try {
      const chunk = readChunkHeader(window, at + base, base);
      if (chunk.at + CHUNK_HEADER_BYTES + chunk.compressedSize <= limit) starts.set(chunk.at, chunk);
    } catch {
      // The bytes by chance inside compressed data: not a chunk.
    }
  }
  return starts;
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

/** First byte of the record that ends a segment of chunks (observed: 0x24; 0x2C when it carries an index of the segment's chunks). */
export const SEGMENT_END_RECORDS: readonly number[] = [0x24, 0x2c];

/** A chunk found in a window of the file, decoded. */
export interface FoundChunk extends ChunkHeader {
  decoded: Uint8Array;
}

/**
 * The longest run of this file's chunks, each starting where the one before ends, inside `window`
 * (file bytes from `base`): chunks are recognized by kind 0x21, their sizes and the file's bytes
 * 16–23, then followed forwards by their sizes. Every chunk of the run is decoded (a ContainerError
 * for one that does not). An empty list when the window holds no chunk of this file.
 */
export function findChunkRun(window: Uint8Array, base: number, signature: Uint8Array): FoundChunk[] {
  const starts = chunkCandidates(window, base, signature, base + window.length);
  let best: ChunkHeader[] = [];
  const followed = new Set<number>();
  for (const chunk of [...starts.values()].sort((a, b) => a.at - b.at)) {
    if (followed.has(chunk.at)) continue;
    const run: ChunkHeader[] = [];
    for (let next: ChunkHeader | undefined = chunk; next; next = starts.get(next.at + CHUNK_HEADER_BYTES + next.compressedSize)) {
      run.push(next);
      followed.add(next.at);
    }
    if (run.length > best.length) best = run;
  }
  return best.map((chunk) => ({ ...chunk, decoded: decodeChunk(window, chunk, base) }));
}

/** Random access to the file's bytes (the reader's bounded source). */
export interface PhysicalReader {
  readonly size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
}

/**
 * The MTF stream of a compressed file, decoded in file order: chunk after chunk, and at the end of
 * each segment (the 0x24/0x2C record) the raw soft filemark at the next filemark boundary (or the
 * one after). Reads may go back at most `keepBehind` bytes from the furthest point read. The stream
 * ends at the final filemark (the one listing two or more earlier filemarks); `end` then says where,
 * and any bytes after it in the file are not part of the backup.
 */
export class CompressedStream {
  /** Raw soft filemarks met so far: where they are in the decoded stream and in the file. */
  readonly filemarks: Array<{ logical: number; physical: number; previous: number[] }> = [];
  /** Chunks decoded so far. */
  chunks = 0;
  signature?: Uint8Array;
  /** Set at the final filemark: where the stream ends in the file and in decoded bytes. */
  end?: { physical: number; logical: number };
  private segments: Array<{ logical: number; bytes: Uint8Array }> = [];
  private decodedEnd = 0;
  private physical: number;
  private window: { at: number; bytes: Uint8Array } = { at: 0, bytes: new Uint8Array(0) };

  /** From the first chunk (0x1E0), or from `start` for the chunks of a file whose `signature` is known. */
  constructor(
    private readonly file: PhysicalReader,
    private readonly options: { filemarkBytes: number; windowBytes: number; keepBehind: number; start?: number; signature?: Uint8Array },
  ) {
    this.physical = options.start ?? FIRST_CHUNK_OFFSET;
    this.signature = options.signature;
  }

  /** Decoded bytes so far. */
  get decoded(): number {
    return this.decodedEnd;
  }

  /** The next file position not yet parsed. */
  get position(): number {
    return this.physical;
  }

  /** Decoded bytes [offset, offset + length); a ContainerError when the file does not hold them. */
  async read(offset: number, length: number): Promise<Uint8Array> {
    while (this.decodedEnd < offset + length) await this.step();
    const first = this.segments.findIndex((s) => s.logical + s.bytes.length > offset);
    if (first < 0 || this.segments[first]!.logical > offset)
      throw new Error(`decoded bytes at ${offset} are no longer kept (${this.options.keepBehind} bytes behind the furthest read)`);
    const out = new Uint8Array(length);
    for (let i = first, done = 0; done < length; i++) {
      const segment = this.segments[i]!;
      const from = offset + done - segment.logical;
      const take = Math.min(segment.bytes.length - from, length - done);
      out.set(segment.bytes.subarray(from, from + take), done);
      done += take;
    }
    const keepFrom = offset + length - this.options.keepBehind;
    while (this.segments.length > 1 && this.segments[0]!.logical + this.segments[0]!.bytes.length < keepFrom) this.segments.shift();
    return out;
  }

  private async bytesAt(at: number, length: number): Promise<Uint8Array> {
    const w = this.window;
    if (at >= w.at && at + length <= w.at + w.bytes.length) return w.bytes.subarray(at - w.at, at - w.at + length);
    if (at + length > this.file.size)
      throw new ContainerError(
        'TRUNCATED',
        `the compressed file ends at ${this.file.size} bytes, inside the chunk or filemark at offset 0x${at.toString(16)}`,
      );
    this.window = { at, bytes: await this.file.read(at, Math.min(this.file.size - at, Math.max(length, this.options.windowBytes))) };
    return this.window.bytes.subarray(0, length);
  }

  private push(bytes: Uint8Array): void {
    this.segments.push({ logical: this.decodedEnd, bytes });
    this.decodedEnd += bytes.length;
  }

  private async step(): Promise<void> {
    const at = this.physical;
    if (this.end)
      throw new ContainerError(
        'TRUNCATED',
        `the compressed stream ends with its final soft filemark at offset 0x${(this.end.physical - this.options.filemarkBytes).toString(16)}`,
      );
    const kind = (await this.bytesAt(at, 1))[0]!;
    if (kind === CHUNK_KIND) {
      const header = readChunkHeader(await this.bytesAt(at, CHUNK_HEADER_BYTES), at, at);
      if (this.signature && !sameSignature(header.signature, this.signature)) {
        throw new ContainerError(
          'CHUNK_FOREIGN',
          `the compressed chunk at offset 0x${at.toString(16)} does not belong to this file (its bytes 16–23 differ from the first chunk's)`,
        );
      }
      this.signature ??= header.signature;
      const bytes = await this.bytesAt(at, CHUNK_HEADER_BYTES + header.compressedSize);
      this.push(decodeChunk(bytes, header, at));
      this.chunks++;
      this.physical = at + CHUNK_HEADER_BYTES + header.compressedSize;
      return;
    }
    const fm = this.options.filemarkBytes;
    if (!SEGMENT_END_RECORDS.includes(kind) || this.physical === (this.options.start ?? FIRST_CHUNK_OFFSET)) {
      throw new ContainerError(
        'CHUNK_INVALID',
        `no compressed chunk at offset 0x${at.toString(16)} (kind byte 0x${kind.toString(16)}, SQL Server writes 0x21, and 0x24 or 0x2C to end a segment)`,
      );
    }
    // The segment's end record, then its soft filemark at the next filemark boundary (or the one after).
    for (const mark of [Math.ceil((at + 1) / fm) * fm, Math.ceil((at + 1) / fm) * fm + fm]) {
      if (mark + fm > this.file.size) break;
      const bytes = await this.bytesAt(mark, fm);
      const filemark = readSoftFilemark(bytes, 0, fm);
      if (!filemark) continue;
      this.filemarks.push({ logical: this.decodedEnd, physical: mark, previous: filemark.previous });
      this.push(bytes.slice());
      this.physical = mark + fm;
      if (filemark.previous.length >= 2) this.end = { physical: this.physical, logical: this.decodedEnd };
      return;
    }
    throw new ContainerError(
      'SEGMENT_INVALID',
      `the compressed segment that ends at offset 0x${at.toString(16)} is not followed by a soft filemark (SFMB)`,
    );
  }
}

/**
 * The decoded chunks that end the segment before the filemark at `filemark` (`window` holds the file
 * bytes from `base` up to it): chunks are found by kind, sizes and the bytes 16–23 they share with
 * the file's first chunk, then followed back from the last one (the one that ends where the segment's end record
 * starts), at most `maxDecoded` decoded bytes. undefined when no chunk is there.
 */
export function decodeChunksBefore(
  window: Uint8Array,
  base: number,
  filemark: number,
  signature: Uint8Array,
  maxDecoded: number,
): { decoded: Uint8Array; firstChunkAt: number; chunks: number } | undefined {
  const starts = chunkCandidates(window, base, signature, filemark);
  const byEnd = new Map([...starts.values()].map((c) => [c.at + CHUNK_HEADER_BYTES + c.compressedSize, c]));
  if (byEnd.size === 0) return undefined;
  const chain: ChunkHeader[] = [];
  let decoded = 0;
  for (let chunk = byEnd.get(Math.max(...byEnd.keys())); chunk && decoded < maxDecoded; chunk = byEnd.get(chunk.at)) {
    chain.unshift(chunk);
    decoded += chunk.decodedSize;
  }
  const parts = chain.map((chunk) => decodeChunk(window, chunk, base));
  const out = new Uint8Array(decoded);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return { decoded: out, firstChunkAt: chain[0]!.at, chunks: chain.length };
}
