/**
 * Microsoft's XPRESS LZ77+Huffman compression, as published in the open specification [MS-XCA]
 * ("Xpress Compression Algorithm"), section 2.1 (compression) and section 2.2 (decompression).
 * SQL Server's backup compression (`BACKUP … WITH COMPRESSION`) stores each chunk of the Microsoft
 * Tape Format stream as one such block (see mssql-backup-container.ts).
 *
 * A block is a 256-byte table of 512 four-bit Huffman code lengths (symbol 2i in the low nibble of
 * byte i, 2i+1 in the high nibble), then a bit stream of 16-bit little-endian words read most
 * significant bit first, with the raw bytes of long match lengths interleaved where the decoder
 * reaches them. Symbols 0–255 are literals, 256 ends the data, 257–511 are matches: length
 * class in the low 4 bits, the bit length of the match offset in the high 4 bits.
 *
 * Only single blocks are handled: the specification starts a new table every 65,536 output
 * bytes, and SQL Server's chunks never exceed 65,536 bytes (observed on the fixtures in
 * shared/fixtures/mssql), so a longer output is refused rather than guessed at.
 */

/** One Huffman block's output is at most this long (64 KiB, [MS-XCA] 2.2.4) plus one match's overrun (65,538, 2.1.4.3). */
export const XPRESS_MAX_BLOCK_OUTPUT = 65536 + 65538;
const TABLE_BYTES = 256;
const SYMBOLS = 512;
const MAX_CODE_LENGTH = 15;
const END_OF_DATA = 256;

/** Compressed data that does not decode: `code` says which rule it breaks. */
export class XpressError extends Error {
  constructor(
    readonly code: 'XPRESS_TRUNCATED' | 'XPRESS_BAD_TABLE' | 'XPRESS_BAD_OFFSET' | 'XPRESS_BAD_LENGTH' | 'XPRESS_TOO_LONG',
    message: string,
  ) {
    super(message);
    this.name = 'XpressError';
  }
}

/**
 * Decodes one LZ77+Huffman block ([MS-XCA] 2.2.4) into exactly `outputSize` bytes.
 * @param input the block: the 256-byte code-length table, then the bit stream.
 * @param outputSize bytes to produce (1 … XPRESS_MAX_BLOCK_OUTPUT); the container says how many.
 * @throws XpressError when the table is not a complete prefix code, the input ends early, a match
 *   reaches before the start of the output or past `outputSize`.
 */
export function decompressXpressHuffman(input: Uint8Array, outputSize: number): Uint8Array {
  if (!Number.isInteger(outputSize) || outputSize < 0 || outputSize > XPRESS_MAX_BLOCK_OUTPUT) {
    throw new XpressError(
      'XPRESS_TOO_LONG',
      `an LZ77+Huffman block holds at most ${XPRESS_MAX_BLOCK_OUTPUT} bytes, ${outputSize} were asked for`,
    );
  }
  if (input.length < TABLE_BYTES + 4)
    throw new XpressError('XPRESS_TRUNCATED', `an LZ77+Huffman block needs at least ${TABLE_BYTES + 4} bytes, got ${input.length}`);
  const lengths = new Uint8Array(SYMBOLS);
  for (let i = 0; i < TABLE_BYTES; i++) {
    lengths[2 * i] = input[i]! & 0x0f;
    lengths[2 * i + 1] = input[i]! >> 4;
  }
  const table = decodingTable(lengths);
  const output = new Uint8Array(outputSize);
  let out = 0;
  let position = TABLE_BYTES;
  const read16 = () => {
    if (position + 2 > input.length)
      throw new XpressError(
        'XPRESS_TRUNCATED',
        `the bit stream ends at byte ${input.length} with ${outputSize - out} of ${outputSize} bytes still to decode`,
      );
    const value = input[position]! | (input[position + 1]! << 8);
    position += 2;
    return value;
  };
  const read8 = () => {
    if (position + 1 > input.length)
      throw new XpressError('XPRESS_TRUNCATED', `a match length byte lies past the end of the block (byte ${position})`);
    return input[position++]!;
  };
  // NextBits holds the next 32 bits of the stream, most significant first; extraBits counts how
  // many of them lie beyond the 16 that one step may consume (the specification's ExtraBitCount).
  let nextBits = ((read16() << 16) | read16()) >>> 0;
  let extraBits = 16;
  const consume = (count: number) => {
    if (count === 0) return;
    nextBits = (nextBits << count) >>> 0;
    extraBits -= count;
    if (extraBits < 0) {
      nextBits = (nextBits | (read16() << -extraBits)) >>> 0;
      extraBits += 16;
    }
  };
  while (out < outputSize) {
    const symbol = table[nextBits >>> (32 - MAX_CODE_LENGTH)]!;
    consume(lengths[symbol]!);
    if (symbol < 256) {
      output[out++] = symbol;
      continue;
    }
    // 256 ends the data only once every byte is out ([MS-XCA] 2.2.4); before that it is a match of 3 bytes, 1 back.
    const match = symbol - 256;
    let length = match & 0x0f;
    const offsetBits = match >> 4;
    if (length === 15) {
      length = read8();
      if (length === 255) {
        length = read16();
        if (length === 0) length = (read16() | (read16() << 16)) >>> 0;
        if (length < 15) throw new XpressError('XPRESS_BAD_LENGTH', `a long match length of ${length} is below 15`);
        length -= 15;
      }
      length += 15;
    }
    length += 3;
    const offset = (offsetBits === 0 ? 0 : nextBits >>> (32 - offsetBits)) + (1 << offsetBits);
    consume(offsetBits);
    if (offset > out) throw new XpressError('XPRESS_BAD_OFFSET', `a match reaches ${offset} bytes back from output byte ${out}`);
    if (out + length > outputSize)
      throw new XpressError('XPRESS_BAD_LENGTH', `a match of ${length} bytes at output byte ${out} runs past the ${outputSize} expected`);
    // Byte by byte: a match may overlap its own output (offset < length repeats a pattern).
    for (let i = 0; i < length; i++, out++) output[out] = output[out - offset]!;
  }
  return output;
}

/** The canonical-code lookup table of [MS-XCA] 2.2.4: 2^15 entries, each the symbol whose code prefixes that index. */
function decodingTable(lengths: Uint8Array): Uint16Array {
  const table = new Uint16Array(1 << MAX_CODE_LENGTH);
  let entry = 0;
  for (let bitLength = 1; bitLength <= MAX_CODE_LENGTH; bitLength++) {
    const span = 1 << (MAX_CODE_LENGTH - bitLength);
    for (let symbol = 0; symbol < SYMBOLS; symbol++) {
      if (lengths[symbol] !== bitLength) continue;
      if (entry + span > table.length)
        throw new XpressError('XPRESS_BAD_TABLE', 'the Huffman code lengths are oversubscribed (not a prefix code)');
      table.fill(symbol, entry, entry + span);
      entry += span;
    }
  }
  if (entry !== table.length)
    throw new XpressError(
      'XPRESS_BAD_TABLE',
      entry === 0 ? 'the Huffman table is empty' : 'the Huffman code lengths are incomplete (not a full prefix code)',
    );
  return table;
}

/**
 * Compresses up to 65,536 bytes into one LZ77+Huffman block ([MS-XCA] 2.1) that
 * decompressXpressHuffman — and Windows' own decoder — reads back. Greedy matching with one
 * hash-chain candidate: simple, not the best ratio; runs of zeros and repeated pages shrink, random data
 * grows by the 256-byte table and a little.
 */
export function compressXpressHuffman(data: Uint8Array): Uint8Array {
  if (data.length > 65536)
    throw new XpressError('XPRESS_TOO_LONG', `one LZ77+Huffman block holds at most 65536 input bytes, got ${data.length}`);
  // 1. LZ77: literals and (length, offset) matches; a match is stored as -length, then its offset.
  const tokens = new Int32Array(data.length * 2 + 2);
  const frequencies = new Uint32Array(SYMBOLS);
  const tokenCount = lz77(data, tokens, frequencies);
  frequencies[END_OF_DATA]!++;
  // 2. Huffman code lengths (≤ 15 bits) and canonical codes.
  const lengths = limitedCodeLengths(frequencies);
  const codes = canonicalCodes(lengths);
  // 3. The bit stream, with raw length bytes placed where the decoder will look for them.
  const writer = new BlockWriter(data.length);
  for (let t = 0; t < tokenCount; ) {
    const token = tokens[t++]!;
    if (token >= 0) {
      writer.bits(codes[token]!, lengths[token]!);
      continue;
    }
    const length = -token;
    const offset = tokens[t++]!;
    const symbol = matchSymbol(length, offset);
    writer.bits(codes[symbol]!, lengths[symbol]!);
    const lengthField = length - 3;
    if (lengthField >= 15) {
      const extra = lengthField - 15;
      if (extra < 255) writer.raw([extra]);
      else if (lengthField <= 0xffff) writer.raw([255, lengthField & 0xff, lengthField >> 8]);
      else writer.raw([255, 0, 0, lengthField & 0xff, (lengthField >> 8) & 0xff, (lengthField >> 16) & 0xff, lengthField >>> 24]);
    }
    const offsetBits = 31 - Math.clz32(offset);
    writer.bits(offset - (1 << offsetBits), offsetBits);
  }
  writer.bits(codes[END_OF_DATA]!, lengths[END_OF_DATA]!);
  const table = new Uint8Array(TABLE_BYTES);
  for (let i = 0; i < TABLE_BYTES; i++) table[i] = lengths[2 * i]! | (lengths[2 * i + 1]! << 4);
  const stream = writer.finish();
  const block = new Uint8Array(TABLE_BYTES + stream.length);
  block.set(table);
  block.set(stream, TABLE_BYTES);
  return block;
}

/** Greedy LZ77 with one hash-chain candidate: fills `tokens` (literal ≥ 0; match: −length, offset) and symbol `frequencies`. */
function lz77(data: Uint8Array, tokens: Int32Array, frequencies: Uint32Array): number {
  let tokenCount = 0;
  const head = new Int32Array(1 << 15).fill(-1);
  const end = data.length;
  for (let i = 0; i < end; ) {
    let bestLength = 0;
    let candidate = -1;
    if (i + 3 <= end) {
      const h = ((data[i]! << 7) ^ (data[i + 1]! << 4) ^ data[i + 2]!) & 0x7fff;
      candidate = head[h]!;
      head[h] = i;
      if (
        candidate >= 0 &&
        i - candidate <= 65535 &&
        data[candidate] === data[i] &&
        data[candidate + 1] === data[i + 1] &&
        data[candidate + 2] === data[i + 2]
      ) {
        const limit = Math.min(end - i, 65538);
        let length = 3;
        while (length < limit && data[candidate + length] === data[i + length]) length++;
        bestLength = length;
      }
    }
    if (bestLength >= 3) {
      const offset = i - candidate;
      tokens[tokenCount++] = -bestLength;
      tokens[tokenCount++] = offset;
      frequencies[matchSymbol(bestLength, offset)]!++;
      for (let j = i + 1; j < i + bestLength && j + 3 <= end; j++)
        head[((data[j]! << 7) ^ (data[j + 1]! << 4) ^ data[j + 2]!) & 0x7fff] = j;
      i += bestLength;
    } else {
      tokens[tokenCount++] = data[i]!;
      frequencies[data[i]!]!++;
      i++;
    }
  }
  return tokenCount;
}

function matchSymbol(length: number, offset: number): number {
  return 256 + ((31 - Math.clz32(offset)) << 4) + Math.min(length - 3, 15);
}

/**
 * Lays out the bit stream as the decoder consumes it: it preloads two 16-bit words and loads the next
 * one each time it has used up 16 more bits, and it takes raw match-length bytes from where it is in
 * the input at that moment; so a word's place is reserved when the decoder would load it, and filled
 * once its bits are known.
 */
class BlockWriter {
  private out: Uint8Array;
  private length = 4;
  /** Byte position of each 16-bit word, in bit-stream order. */
  private wordAt: number[] = [0, 2];
  private readonly words: number[] = [];
  private accumulator = 0;
  private pending = 0;
  private consumed = 0;

  constructor(inputBytes: number) {
    this.out = new Uint8Array(Math.max(64, inputBytes + (inputBytes >> 3) + 64));
  }

  private room(bytes: number): void {
    if (this.length + bytes <= this.out.length) return;
    const grown = new Uint8Array(this.out.length * 2 + bytes);
    grown.set(this.out.subarray(0, this.length));
    this.out = grown;
  }

  bits(value: number, count: number): void {
    // Whole 16-bit words out of a small accumulator (at most 15 pending + 15 new bits).
    this.accumulator = (this.accumulator << count) | (value & ((1 << count) - 1));
    this.pending += count;
    if (this.pending >= 16) {
      this.pending -= 16;
      this.words.push((this.accumulator >>> this.pending) & 0xffff);
      this.accumulator &= (1 << this.pending) - 1;
    }
    this.consumed += count;
    // The decoder loads word k once it has consumed more than 16·(k−1) bits.
    while (this.consumed > 16 * (this.wordAt.length - 1)) {
      this.room(2);
      this.wordAt.push(this.length);
      this.length += 2;
    }
  }

  raw(bytes: number[]): void {
    this.room(bytes.length);
    this.out.set(bytes, this.length);
    this.length += bytes.length;
  }

  finish(): Uint8Array {
    if (this.pending > 0) this.words.push((this.accumulator << (16 - this.pending)) & 0xffff);
    const bytes = this.out.slice(0, this.length);
    this.words.forEach((word, k) => {
      const at = this.wordAt[k]!;
      bytes[at] = word & 0xff;
      bytes[at + 1] = word >> 8;
    });
    return bytes;
  }
}

/** Huffman code lengths from symbol frequencies, at most 15 bits, at least two symbols coded (a complete code). */
function limitedCodeLengths(frequencies: Uint32Array): Uint8Array {
  const weights = Array.from(frequencies);
  if (weights.filter((w) => w > 0).length < 2) weights[weights[0]! > 0 ? 1 : 0] = 1;
  for (;;) {
    const lengths = huffmanLengths(weights);
    if (Math.max(...lengths) <= MAX_CODE_LENGTH) return lengths;
    // Flatten the distribution and try again: long codes come from very rare symbols.
    for (let s = 0; s < weights.length; s++) if (weights[s]! > 0) weights[s] = (weights[s]! >> 1) | 1;
  }
}

/** Code lengths of a Huffman code for the given weights (two-queue construction: sort once, merge in order). */
function huffmanLengths(weights: number[]): Uint8Array {
  const leaves = weights.flatMap((weight, symbol) => (weight > 0 ? [{ weight, symbol }] : [])).sort((a, b) => a.weight - b.weight);
  const parent = new Int32Array(2 * leaves.length).fill(-1);
  const weight = new Float64Array(2 * leaves.length);
  leaves.forEach((leaf, i) => {
    weight[i] = leaf.weight;
  });
  let nextLeaf = 0;
  let nextInner = leaves.length;
  let created = leaves.length;
  const smallest = () =>
    nextLeaf < leaves.length && (nextInner >= created || weight[nextLeaf]! <= weight[nextInner]!) ? nextLeaf++ : nextInner++;
  for (let merges = 1; merges < leaves.length; merges++) {
    const a = smallest();
    const b = smallest();
    weight[created] = weight[a]! + weight[b]!;
    parent[a] = created;
    parent[b] = created;
    created++;
  }
  const depth = new Uint8Array(created);
  for (let node = created - 2; node >= 0; node--) depth[node] = depth[parent[node]!]! + 1;
  const lengths = new Uint8Array(SYMBOLS);
  leaves.forEach((leaf, i) => {
    lengths[leaf.symbol] = depth[i]!;
  });
  return lengths;
}

function canonicalCodes(lengths: Uint8Array): Uint32Array {
  const codes = new Uint32Array(SYMBOLS);
  let code = 0;
  for (let bitLength = 1; bitLength <= MAX_CODE_LENGTH; bitLength++) {
    for (let symbol = 0; symbol < SYMBOLS; symbol++) {
      if (lengths[symbol] !== bitLength) continue;
      codes[symbol] = code >> (MAX_CODE_LENGTH - bitLength);
      code += 1 << (MAX_CODE_LENGTH - bitLength);
    }
  }
  return codes;
}
