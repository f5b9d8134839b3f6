import {
  alignStream,
  BlockAttribute,
  DBLK_HEADER_BYTES,
  type DblkHeader,
  fourCC,
  readDblkHeader,
  readMtfDate,
  readSoftFilemark,
  readStreamHeader,
  readString,
  STREAM_HEADER_BYTES,
  type StreamHeader,
  u16,
  u32,
} from './mtf-blocks';
import { addSlot, classifyPage, PAGE_BYTES, type PageSlot, type PageTally } from './sql-server-pages';

/**
 * Walking a backup's Microsoft Tape Format stream block by block (MTF 1.00a sections 5.1–5.3), by
 * what each block and stream header says: where its streams start, how long each is, where the next
 * block begins. Works on a `LogicalReader`: the file itself, or the decoded stream of a compressed
 * file, or the pieces of it a bounded reader has. Everything here throws `ReadProblem` for a defect
 * of the file, and `NotAvailable` when the reader may not (or cannot) give bytes it was asked for.
 */

export type BackupFileProblemCode =
  | 'NOT_A_BACKUP'
  | 'TRUNCATED'
  | 'HEADER_DAMAGED'
  | 'DATA_DAMAGED'
  | 'PAGE_DAMAGED'
  | 'END_DAMAGED'
  | 'END_INCONSISTENT'
  | 'COMPRESSED_UNREADABLE'
  | 'ABORTED'
  | 'EXTRA_DATA';

/** A defect of the file, with what was expected and where. */
export class ReadProblem extends Error {
  constructor(
    readonly code: BackupFileProblemCode,
    message: string,
  ) {
    super(message);
    this.name = 'ReadProblem';
  }
}
export const problem = (code: BackupFileProblemCode, message: string) => new ReadProblem(code, message);
export const hex = (n: number) => `0x${n.toString(16)}`;

/** The reader was asked for bytes it does not give (outside its window, or past its budget of reads): not a defect of the file. */
export class NotAvailable extends Error {
  constructor(readonly at: number) {
    super(`bytes at ${at} are not available to this reader`);
    this.name = 'NotAvailable';
  }
}

/** Bytes of the logical MTF stream by offset (for a plain file, the file itself). */
export interface LogicalReader {
  /** Exactly `length` bytes from `offset`; a ReadProblem when the file ends before, NotAvailable when outside what this reader may read. */
  read(offset: number, length: number, what: string): Promise<Uint8Array>;
}

/** Where a backup set's blocks sit: they start at `setStart` and are `blockSize` long or a multiple of it. */
export interface SetLayout {
  setStart: number;
  blockSize: number;
  /** Soft filemark size in bytes (TAPE: soft filemark block size × 512). */
  filemarkBytes: number;
}

export interface WalkedBlock {
  header: DblkHeader;
  at: number;
  end: number;
  streams: Array<{ at: number; header: StreamHeader }>;
}

/** At most this many streams in one block (SQL Server writes 2–4). */
const STREAMS_PER_BLOCK = 4096;
/** The largest descriptor block read whole (header blocks and MSLS; SQL Server's are a few KiB). */
export const BLOCK_READ_LIMIT = 1024 * 1024;

export function printable(bytes: Uint8Array, at = 0): string {
  return [...bytes.subarray(at, at + 4)].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
}

/**
 * Walks the descriptor block at `at` and its stream chain ([MTF 5.1, 5.2]); the block ends where an
 * SPAD stream ends on a logical-block boundary (observed) and the next block begins. Stream data is
 * not read, except through `onData` for the streams it is asked about. A block inside the set must
 * name its own place (Format Logical Address, spec 5.1).
 */
export async function walkBlock(
  reader: LogicalReader,
  at: number,
  layout: SetLayout,
  expected: readonly string[] | undefined,
  what: string,
  onData?: (stream: StreamHeader, dataAt: number) => Promise<void>,
): Promise<WalkedBlock> {
  const bytes = await reader.read(at, DBLK_HEADER_BYTES, what);
  const header = readDblkHeader(bytes, 0);
  if (!header)
    throw problem(
      'HEADER_DAMAGED',
      `${what}: no valid MTF block header at ${hex(at)} (found "${printable(bytes)}", or its header checksum is wrong)`,
    );
  if (expected && !expected.includes(header.type))
    throw problem('HEADER_DAMAGED', `${what}: expected ${expected.join(' or ')} at ${hex(at)}, found ${header.type}`);
  if (header.firstEvent < DBLK_HEADER_BYTES)
    throw problem('HEADER_DAMAGED', `${what}: the ${header.type} block at ${hex(at)} points its first stream into its own header`);
  if (at >= layout.setStart && header.type !== 'SFMB' && header.type !== 'ESET') {
    const place = (at - layout.setStart) / layout.blockSize;
    if (header.formatLogicalAddress !== place) {
      throw problem(
        'DATA_DAMAGED',
        `${what}: the ${header.type} block at ${hex(at)} says it is logical block ${header.formatLogicalAddress} of the backup set, but it is block ${place}: bytes are missing, added or moved before it`,
      );
    }
  }
  const streams: WalkedBlock['streams'] = [];
  let position = at + header.firstEvent;
  for (let count = 0; count < STREAMS_PER_BLOCK; count++) {
    const streamHeader = readStreamHeader(await reader.read(position, STREAM_HEADER_BYTES, what), 0);
    if (!streamHeader)
      throw problem('HEADER_DAMAGED', `${what}: the ${header.type} block at ${hex(at)} has a damaged stream header at ${hex(position)}`);
    streams.push({ at: position, header: streamHeader });
    const end = position + STREAM_HEADER_BYTES + streamHeader.length;
    if (!Number.isSafeInteger(end)) throw problem('HEADER_DAMAGED', `${what}: the stream at ${hex(position)} claims an impossible length`);
    if (onData) await onData(streamHeader, position + STREAM_HEADER_BYTES);
    if ((end - layout.setStart) % layout.blockSize === 0 && streamHeader.id === 'SPAD') return { header, at, end, streams };
    position = alignStream(end);
  }
  throw problem('HEADER_DAMAGED', `${what}: the ${header.type} block at ${hex(at)} has no end (no SPAD stream reaching a block boundary)`);
}

/** The block's bytes from its start to its end (for the small descriptor blocks whose fields are read). */
export async function blockBytes(reader: LogicalReader, block: WalkedBlock, what: string): Promise<Uint8Array> {
  if (block.end - block.at > BLOCK_READ_LIMIT)
    throw problem(
      'HEADER_DAMAGED',
      `${what}: the ${block.header.type} block at ${hex(block.at)} claims ${block.end - block.at} bytes, where SQL Server writes a few KiB`,
    );
  return reader.read(block.at, block.end - block.at, what);
}

// ---------------------------------------------------------------------------------------------
// SCIN: SQL Server's description of the backup (observed layout, see backup-file-reader.ts).

export interface ScinFacts {
  database: string;
  server: string;
  kind: number;
  version: string;
  createdAt?: string;
  backupAt?: string;
  /** The records after SCIN in the MQCI stream: filegroups (SFGI) and files (SFIN), in order. */
  records: Array<{ tag: string; length: number }>;
  /** The database's files (SFIN records): logical name and the physical path it had on the server. */
  files: Array<{ logicalName: string; physicalName: string }>;
}

/** SCIN at the start of the block's MQCI stream; `bytes` holds the block from its start. */
export function readScin(bytes: Uint8Array, block: WalkedBlock, what: string): ScinFacts {
  const mqci = block.streams.find((s) => s.header.id === 'MQCI');
  if (!mqci) throw problem('HEADER_DAMAGED', `${what} at ${hex(block.at)} has no MQCI stream`);
  const at = mqci.at - block.at + STREAM_HEADER_BYTES;
  if (at + 8 > bytes.length || fourCC(bytes, at) !== 'SCIN')
    throw problem('HEADER_DAMAGED', `${what}: the MQCI stream at ${hex(mqci.at)} does not start with SCIN`);
  const length = u32(bytes, at + 4);
  if (length < 0x70 || length > mqci.header.length || at + length > bytes.length)
    throw problem('HEADER_DAMAGED', `${what}: the SCIN structure claims ${length} bytes in a ${mqci.header.length}-byte stream`);
  const scin = bytes.subarray(at, at + length);
  const name = (pointer: number, label: string) => {
    const size = u16(scin, pointer);
    const offset = u16(scin, pointer + 2);
    const text = readString(scin, offset, size);
    if (!text || size > 256)
      throw problem('HEADER_DAMAGED', `${what}: the ${label} name in SCIN is missing or damaged (size ${size} at offset ${offset})`);
    return text;
  };
  const kind = u32(scin, 0x0c);
  if (kind !== 1 && kind !== 2) throw problem('HEADER_DAMAGED', `${what}: SCIN names backup kind ${kind} (1 database, 2 log)`);
  const database = name(0x68, 'database');
  const server = name(0x6c, 'server');
  // Observed on every fixture: SCIN ends where its names end, and the rest of the MQCI stream is a
  // chain of records (4-letter tag, UINT32 length including the tag): one SFGI per filegroup, one
  // SFIN per file, the last ending exactly where the stream ends.
  const records: ScinFacts['records'] = [];
  const files: ScinFacts['files'] = [];
  const streamEnd = mqci.at - block.at + STREAM_HEADER_BYTES + mqci.header.length;
  let position = at + length;
  while (position < streamEnd) {
    const tag = position + 8 <= bytes.length ? fourCC(bytes, position) : '';
    const size = position + 8 <= bytes.length ? u32(bytes, position + 4) : 0;
    if (!/^[A-Z]{4}$/.test(tag) || size < 8 || position + size > streamEnd) {
      throw problem(
        'HEADER_DAMAGED',
        `${what}: the database's file list after SCIN is damaged at ${hex(block.at + position)} (no record there, or one that runs past the MQCI stream)`,
      );
    }
    records.push({ tag, length: size });
    if (tag === 'SFIN') files.push(fileNames(bytes.subarray(position, position + size), what, block.at + position));
    position += size;
  }
  if (files.length === 0)
    throw problem('HEADER_DAMAGED', `${what}: the SQL Server block lists none of the database's files (no SFIN record after SCIN)`);
  return {
    database,
    server,
    kind,
    version: `${scin[0x1b]}.${scin[0x1a]}.${u16(scin, 0x18)}`,
    createdAt: readMtfDate(scin, 0x48),
    backupAt: readMtfDate(scin, 0x4d),
    records,
    files,
  };
}

/**
 * An SFIN record's names: after its fixed part (0x400 bytes from SQL Server 10.50, 0x404 from 12.0:
 * observed), the logical name then the physical path (UTF-16), the record's last bytes. They are
 * located by the (UINT16 size, UINT16 offset) pairs that point at them, observed between 0x20 and
 * 0x80 of the record; their place varies, so the pairs are recognized by what they say.
 */
function fileNames(record: Uint8Array, what: string, at: number): { logicalName: string; physicalName: string } {
  for (let i = 0x20; i + 8 <= 0x80 && i + 8 <= record.length; i += 2) {
    const [logicalSize, logicalAt, physicalSize, physicalAt] = [u16(record, i), u16(record, i + 2), u16(record, i + 4), u16(record, i + 6)];
    if (logicalAt < 0x80 || physicalAt !== logicalAt + logicalSize || physicalAt + physicalSize !== record.length || logicalSize === 0)
      continue;
    const logicalName = readString(record, logicalAt, logicalSize);
    const physicalName = readString(record, physicalAt, physicalSize);
    if (logicalName && physicalName) return { logicalName, physicalName };
  }
  throw problem('HEADER_DAMAGED', `${what}: the file record (SFIN) at ${hex(at)} holds no readable logical and physical file name`);
}

// ---------------------------------------------------------------------------------------------
// The data: MQDA streams of 8 KiB pages.

/** A data stream: where its bytes are in the logical stream, and whether they have the observed page layout. */
export interface DataStream {
  at: number;
  length: number;
  /** Where the first page starts (2 bytes after the data start, observed), when the stream is that layout. */
  pagesAt?: number;
  pages: number;
}

/** Observed on every fixture: an MQDA stream holds 2 bytes (zero), then whole 8 KiB pages. */
export function dataStream(dataAt: number, length: number): DataStream {
  const pages = (length - 2) / PAGE_BYTES;
  return Number.isInteger(pages) && pages >= 0 ? { at: dataAt, length, pagesAt: dataAt + 2, pages } : { at: dataAt, length, pages: 0 };
}

/** Reads `count` page slots from `pagesAt` in pieces of at most `piece` bytes and adds them to the tally. */
export async function checkPages(
  reader: LogicalReader,
  pagesAt: number,
  count: number,
  tally: PageTally,
  piece = 128 * PAGE_BYTES,
): Promise<PageSlot[]> {
  const first: PageSlot[] = [];
  for (let done = 0; done < count; ) {
    const take = Math.min(count - done, piece / PAGE_BYTES);
    const bytes = await reader.read(pagesAt + done * PAGE_BYTES, take * PAGE_BYTES, 'the data pages');
    for (let i = 0; i < take; i++) {
      const slot = classifyPage(bytes, i * PAGE_BYTES);
      addSlot(tally, slot, pagesAt + (done + i) * PAGE_BYTES);
      if (first.length < 16) first.push(slot);
    }
    done += take;
  }
  return first;
}

// ---------------------------------------------------------------------------------------------
// The blocks between SQL Server's configuration block and the end of the set.

export interface SetWalk {
  /** Where the end-of-set soft filemark is: right after MSLS. */
  endOfSet: number;
  msls: ScinFacts;
  /** Descriptor blocks walked, by type. */
  blocks: Record<string, number>;
  dataStreams: DataStream[];
}

/**
 * Where a walk is: the start of the block it is in (or was in when a read stopped it), and whether
 * a log block came before it (only log blocks and MSLS may follow one). A walk resumed with it goes
 * on exactly where the other one stopped.
 */
export interface WalkProgress {
  at: number;
  sawLog: boolean;
}

/**
 * Walks every block from `at` (the first data or log block after MSCI) to the end of MSLS: data
 * blocks (MSDA) first for a database backup, then log blocks (MSTL), then MSLS, each by its stream
 * lengths; MSLS must be followed by the end-of-set filemark. `onData` sees each MQDA stream.
 */
export async function walkSet(
  reader: LogicalReader,
  at: number,
  layout: SetLayout,
  kind: 'database' | 'log',
  onData: (stream: DataStream) => Promise<void>,
  blocks: Record<string, number> = {},
  progress: WalkProgress = { at, sawLog: false },
): Promise<SetWalk> {
  const dataStreams: DataStream[] = [];
  let sawLog = progress.sawLog;
  for (let position = at; ; ) {
    progress.at = position;
    progress.sawLog = sawLog;
    const expected = kind === 'log' || sawLog ? ['MSTL', 'MSLS'] : ['MSDA', 'MSTL', 'MSLS'];
    const what = `the ${kind === 'log' ? 'log' : 'data or log'} block at ${hex(position)}`;
    let block: WalkedBlock;
    try {
      block = await walkBlock(reader, position, layout, expected, what, async (stream, dataAt) => {
        if (stream.id !== 'MQDA') return;
        const data = dataStream(dataAt, stream.length);
        dataStreams.push(data);
        await onData(data);
      });
    } catch (error) {
      // Past the header blocks, a broken chain means the middle or the end of the file is damaged.
      if (error instanceof ReadProblem && error.code === 'HEADER_DAMAGED') throw problem('DATA_DAMAGED', error.message);
      throw error;
    }
    blocks[block.header.type] = (blocks[block.header.type] ?? 0) + 1;
    if (block.header.type === 'MSTL') sawLog = true;
    if (block.header.type === 'MSLS') {
      const bytes = await blockBytes(reader, block, 'the closing SQL Server block (MSLS)');
      const msls = readScin(bytes, block, 'the closing SQL Server block (MSLS)');
      return { endOfSet: block.end, msls, blocks, dataStreams };
    }
    position = block.end;
  }
}

// ---------------------------------------------------------------------------------------------
// The end of the set: SFMB · ESET · catalog · ESET · SFMB.

export interface SetIdentity {
  attributes: number;
  setNumber: number;
  date?: string;
}

export interface EndRegion {
  /** Where the file's final soft filemark starts (logical). */
  finalFilemark: number;
  /** Its list of earlier filemarks (file offsets). */
  previous: number[];
  /** ESET blocks walked. */
  esets: number;
}

/** At most this many bytes between the end-of-set filemark and the final one (SQL Server writes 2–3 KiB). */
export const END_REGION_LIMIT = 1024 * 1024;

/**
 * From the end-of-set filemark at `at`: the filemark (listing the first filemark, at `firstFilemark`
 * in the file), both ESETs closing the set that `set` opened and not aborted, the on-tape catalog
 * streams between them, and the final filemark. Walked exactly, block by block.
 */
export async function walkEndRegion(
  reader: LogicalReader,
  at: number,
  layout: SetLayout,
  set: SetIdentity,
  firstFilemark: number,
): Promise<EndRegion> {
  const fm = layout.filemarkBytes;
  const endMark = readSoftFilemark(await reader.read(at, fm, 'the end-of-set soft filemark'), 0, fm);
  if (!endMark || endMark.previous[0] !== firstFilemark)
    throw problem(
      'END_DAMAGED',
      `no valid end-of-set soft filemark at ${hex(at)} (after the closing SQL Server block, one that points back to ${hex(firstFilemark)})`,
    );
  let position = at + fm;
  const esets: number[] = [];
  while (position - at <= END_REGION_LIMIT) {
    const head = await reader.read(position, DBLK_HEADER_BYTES, 'the end of the backup set');
    const header = readDblkHeader(head, 0);
    if (header?.type === 'SFMB') {
      if (esets.length < 2 || esets[0] !== at + fm)
        throw problem(
          'END_DAMAGED',
          `the end of the backup set holds ${esets.length} ESET block(s) where SQL Server writes two, the first right after the end-of-set filemark`,
        );
      const finalMark = readSoftFilemark(await reader.read(position, fm, 'the final soft filemark'), 0, fm);
      if (!finalMark) throw problem('END_DAMAGED', `the final soft filemark at ${hex(position)} is damaged`);
      return { finalFilemark: position, previous: finalMark.previous, esets: esets.length };
    }
    if (!header)
      throw problem(
        'END_DAMAGED',
        `the end of the backup set is damaged at ${hex(position)} (no valid block header where the ${esets.length === 0 ? 'first ESET' : 'next ESET or the final filemark'} belongs)`,
      );
    if (header.type !== 'ESET')
      throw problem(
        'END_DAMAGED',
        `a ${header.type} block at ${hex(position)} in the end of the backup set, where only ESET blocks and the final filemark belong`,
      );
    if (header.attributes & BlockAttribute.ESET_ABORTED) throw problem('ABORTED', 'the end of the backup set says the backup was aborted');
    const block = await walkBlock(reader, position, { ...layout, setStart: at + fm }, ['ESET'], 'the end of the backup set');
    const bytes = await blockBytes(reader, block, 'the end of the backup set');
    const attributes = u32(bytes, 0x34);
    const setNumber = u16(bytes, 0x4e);
    const date = readMtfDate(bytes, 0x50);
    if (attributes !== set.attributes || setNumber !== set.setNumber || date !== set.date) {
      throw problem(
        'END_INCONSISTENT',
        `the end of the backup set (set ${setNumber}, attributes ${hex(attributes)}, ${date ?? 'no date'}) does not close the set the file starts (set ${set.setNumber}, attributes ${hex(set.attributes)}, ${set.date ?? 'no date'})`,
      );
    }
    esets.push(position);
    position = block.end;
  }
  throw problem('END_DAMAGED', `no final soft filemark within ${END_REGION_LIMIT} bytes of the end-of-set filemark at ${hex(at)}`);
}

// ---------------------------------------------------------------------------------------------
// The blocks before the end of the set, found from its end (when the walk from the start cannot reach them).

/**
 * In `bytes`, which end exactly at the end-of-set filemark, the blocks that end the set: MSLS last,
 * its stream chain ending exactly at the end of `bytes`, and before it every block that chains to
 * it. Returns where the earliest of them starts in `bytes`, and the MSLS block (positions in `bytes`).
 */
export function closingBlocks(bytes: Uint8Array, blockSize: number): { msls: WalkedBlock; first: number } | undefined {
  for (let at = bytes.length - blockSize; at >= 0; at -= blockSize) {
    const header = readDblkHeader(bytes, at);
    if (header?.type !== 'MSLS') continue;
    const end = chainEnd(bytes, at, header, blockSize);
    if (end?.end !== bytes.length) return undefined;
    let first = at;
    for (let before = at - blockSize; before >= 0; before -= blockSize) {
      const candidate = readDblkHeader(bytes, before);
      if (!candidate || !['MSTL', 'MSDA'].includes(candidate.type)) continue;
      if (chainEnd(bytes, before, candidate, blockSize)?.end === first) first = before;
    }
    return { msls: { header, at, end: end.end, streams: end.streams }, first };
  }
  return undefined;
}

function chainEnd(
  bytes: Uint8Array,
  at: number,
  header: DblkHeader,
  blockSize: number,
): { end: number; streams: WalkedBlock['streams'] } | undefined {
  const streams: WalkedBlock['streams'] = [];
  let position = at + header.firstEvent;
  for (let guard = 0; guard < STREAMS_PER_BLOCK && position < bytes.length; guard++) {
    const stream = readStreamHeader(bytes, position);
    if (!stream) return undefined;
    streams.push({ at: position, header: stream });
    const end = position + STREAM_HEADER_BYTES + stream.length;
    if (!Number.isSafeInteger(end) || end > bytes.length) return undefined;
    if (stream.id === 'SPAD' && (end - at) % blockSize === 0) return { end, streams };
    position = alignStream(end);
  }
  return undefined;
}
