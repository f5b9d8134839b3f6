import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { encodeChunks, FIRST_CHUNK_OFFSET, MSSQLBAK_MAGIC } from '../../protocol/mssql-backup-container';
import {
  alignStream,
  DBLK_HEADER_BYTES,
  encodeSoftFilemark,
  encodeStreamHeader,
  mtfDate,
  STREAM_HEADER_BYTES,
  xorWords,
} from '../../protocol/mtf-blocks';
import { formatPage, PAGE_BYTES } from '../../protocol/sql-server-pages';

/**
 * Writes backup files the way SQL Server lays them out, so that everything reading backups is tested
 * on realistic structure: the Microsoft Tape Format (MTF 1.00a) blocks of a real backup, with the
 * SQL Server specifics observed in shared/fixtures/mssql (see protocol/backup-file-reader.ts):
 *
 *   TAPE (RAID stream: media set, family count and number) · SFMB · SSET · VOLB · MSCI (MQCI: SCIN with
 *   the names referenced by size/offset pairs, then the file list, SFGI and one SFIN per file) · MSDA
 *   (MQDA: 2 bytes, then the 8 KiB pages) or, for a log backup, MSTL · MSTL (the log) · MSLS (the
 *   closing MQCI) · SFMB · ESET · TSMP · ESET · SFMB
 *
 * With `compressed`, the same stream goes into an `MSSQLBAK` container of [MS-XCA] LZ77+Huffman
 * chunks with the filemarks stored raw, in the framing observed on a real compressed backup
 * (protocol/mssql-backup-container.ts). The writer streams: header, then the data as it comes, then
 * the end, so a large database never sits in memory.
 */
export const MTF_BLOCK_SIZE = 1024;
const FILEMARK_BYTES = 512;
/** The data block (MSDA): its first stream, and where its pages begin, from the block's start (observed). */
const DATA_FIRST_EVENT = 0x3c;
const DATA_PAGES_AT = 0x400;
/** Bytes of logical MTF stream per compressed chunk (SQL Server's chunks hold 64 KiB, observed). */
const CHUNK_INPUT = 65536;

export interface BackupFileInput {
  readonly database: string;
  readonly server: string;
  readonly backupSetName: string;
  readonly startedAt: Date;
  /** @default 'full' */
  readonly backupType?: 'full' | 'differential' | 'log';
  /** @default false */
  readonly copyOnly?: boolean;
  /** @default false */
  readonly compressed?: boolean;
  /** "major.minor.build". @default '16.0.4135' */
  readonly sqlVersion?: string;
  /** @default 'NT SERVICE\\MSSQLSERVER' */
  readonly userName?: string;
  /** @default startedAt */
  readonly databaseCreatedAt?: Date;
  /** Stripes: this file is family `number` of `count` of the media set `mediaSetId` (16 bytes). @default one family */
  readonly family?: { readonly count: number; readonly number: number; readonly mediaSetId: Uint8Array };
  /** Bytes of pages (or log) the data stream will carry: the writer's header states it. */
  readonly dataBytes: number;
  /**
   * Soft filemark size (TAPE: soft filemark block size × 512). Every real backup seen has 512; a
   * backup to a 4 KiB-sector device may have 4096. Uncompressed only. @default 512
   */
  readonly filemarkBytes?: 512 | 4096;
  /** The database's files as the backup lists them (logical name, physical path). @default a data file and a log file named after the database */
  readonly files?: ReadonlyArray<{ readonly logicalName: string; readonly physicalName: string }>;
}

/** Where the stand-in's databases' files live (SQL Server's default data folder). */
export function defaultDatabaseFiles(database: string): Array<{ logicalName: string; physicalName: string }> {
  const folder = 'C:\\Program Files\\Microsoft SQL Server\\MSSQL16.MSSQLSERVER\\MSSQL\\DATA';
  return [
    { logicalName: database, physicalName: `${folder}\\${database}.mdf` },
    { logicalName: `${database}_log`, physicalName: `${folder}\\${database}_log.ldf` },
  ];
}

/**
 * One backup file, written in three steps: `start()`, `data(bytes)` for each piece of the data
 * stream (`dataBytes` in all), `end()`. Each returns the file bytes to append.
 */
export class MtfBackupWriter {
  private readonly logical: LogicalWriter;
  private dataWritten = 0;
  private dataBlockAt = 0;
  private readonly scin: Buffer;
  private readonly ssetAttributes: number;
  private readonly filemarkBytes: number;
  private readonly setStart: number;

  constructor(private readonly input: BackupFileInput) {
    if (!Number.isSafeInteger(input.dataBytes) || input.dataBytes < 0)
      throw new RangeError(`dataBytes must be a whole number of bytes, not ${input.dataBytes}`);
    this.filemarkBytes = input.filemarkBytes ?? FILEMARK_BYTES;
    if (input.compressed && this.filemarkBytes !== FILEMARK_BYTES)
      throw new RangeError('a compressed backup has 512-byte soft filemarks (the only size seen in the container)');
    this.setStart = MTF_BLOCK_SIZE + this.filemarkBytes;
    const type = input.backupType ?? 'full';
    this.ssetAttributes = type === 'differential' ? 0x8 : input.copyOnly ? 0x2 : 0x4;
    this.scin = scin(input);
    this.logical = input.compressed ? new CompressingWriter(input.startedAt) : new PlainWriter(this.filemarkBytes);
  }

  /** TAPE, SFMB, SSET, VOLB, MSCI and the data block's header: everything before the first data byte. */
  start(): Buffer {
    const { input } = this;
    const SET_START = this.setStart;
    const tape = tapeBlock(input, this.filemarkBytes);
    const sset = block('SSET', SET_START, SET_START, (b) => {
      b.writeUInt32LE(this.ssetAttributes, 0x34);
      b.writeUInt16LE(0x1200, 0x3c); // software vendor: Microsoft SQL Server (observed)
      b.writeUInt16LE(1, 0x3e); // data set number
      const strings = 0x7a;
      const name = putString(b, strings, input.backupSetName, 0x40);
      const user = putString(b, strings + name, input.userName ?? 'NT SERVICE\\MSSQLSERVER', 0x4c);
      b.writeBigUInt64LE(BigInt(SET_START), 0x50); // PBA of the SSET: a byte offset in SQL Server's disk backups (observed)
      Buffer.from(mtfDate(input.startedAt)).copy(b, 0x58);
      const [major, minor] = version(input);
      b[0x5d] = major;
      b[0x5e] = minor;
      b[0x5f] = 0; // time zone: the stand-in's dates are UTC
      b[0x61] = 2; // media catalog version (observed)
      randomBytes(16).copy(b, 0x64);
      return strings + name + user;
    });
    const volb = block('VOLB', SET_START + sset.length, SET_START, (b) => {
      b.writeUInt32LE(2, 0x34);
      const device = putString(b, 0x4c, 'C:', 0x38);
      const machine = putString(b, 0x4c + device, input.server.split('\\')[0]!.slice(0, 60), 0x40);
      Buffer.from(mtfDate(input.startedAt)).copy(b, 0x44);
      return 0x4c + device + machine;
    });
    const msciAt = SET_START + sset.length + volb.length;
    const msci = blockWithStreams('MSCI', msciAt, SET_START, [['MQCI', this.scin]]);
    const dataAt = msciAt + msci.length;
    const isLog = (input.backupType ?? 'full') === 'log';
    // As the fixtures have it: the block's fields end at 0x3C, an APAD stream pads so that the data
    // stream's 2 bytes end one logical block after the block's start, where the pages begin.
    const dataHeader = blockHeader(isLog ? 'MSTL' : 'MSDA', dataAt, SET_START, DATA_FIRST_EVENT);
    const apad = DATA_PAGES_AT - DATA_FIRST_EVENT - 2 * STREAM_HEADER_BYTES - 2;
    const streamHeader = Buffer.concat([
      streamHeaderBytes('APAD', apad),
      Buffer.alloc(apad),
      streamHeaderBytes(isLog ? 'MQTL' : 'MQDA', 2 + input.dataBytes),
    ]);
    this.dataBlockAt = dataAt;
    const filemark = filemarkBlock([], this.filemarkBytes);
    return this.logical.write(Buffer.concat([tape, filemark, sset, volb, msci, dataHeader, streamHeader, Buffer.alloc(2)]), {
      filemarkAt: 0x400,
    });
  }

  /** A piece of the data stream (pages, or log records for a log backup). */
  data(bytes: Buffer): Buffer {
    this.dataWritten += bytes.length;
    if (this.dataWritten > this.input.dataBytes) throw new RangeError(`more data than the ${this.input.dataBytes} bytes announced`);
    return this.logical.write(bytes);
  }

  /** The rest of the data block, the log, MSLS and the end of the set: the file's last bytes. */
  end(): Buffer {
    if (this.dataWritten !== this.input.dataBytes)
      throw new RangeError(`${this.dataWritten} of the ${this.input.dataBytes} data bytes announced were written`);
    const SET_START = this.setStart;
    const dataEnd = this.dataBlockAt + DATA_PAGES_AT + this.input.dataBytes;
    const pad = spad(dataEnd, SET_START);
    let at = dataEnd + pad.length;
    const log =
      (this.input.backupType ?? 'full') === 'log'
        ? Buffer.alloc(0)
        : blockWithStreams('MSTL', at, SET_START, [['MQTL', Buffer.alloc(2 + 8192)]]);
    at += log.length;
    const msls = blockWithStreams('MSLS', at, SET_START, [['MQCI', this.scin]]);
    const body = this.logical.write(Buffer.concat([pad, log, msls]));
    // The end of the set, as the fixtures have it: SFMB · ESET (with the catalog's TSMP stream) · ESET · SFMB.
    const eset = (previousEset: number, streams: Array<[string, Buffer]> = []) =>
      blockWithStreams('ESET', 0, 0, streams, (b) => {
        b.writeUInt32LE(this.ssetAttributes, 0x34);
        b.writeBigUInt64LE(BigInt(previousEset), 0x3c);
        b.writeUInt16LE(1, 0x4e);
        Buffer.from(mtfDate(this.input.startedAt)).copy(b, 0x50);
        return 0x55;
      });
    const setMap = Buffer.alloc(0x10c);
    randomBytes(4).copy(setMap, 0); // media family id, then the set's entry (observed shape)
    setMap.writeUInt32LE(1, 4);
    setMap.writeUInt32LE(0xb4, 8);
    putRawString(setMap, 0x64, this.input.backupSetName);
    // As the fixtures have it: the first ESET carries the on-tape catalog (a TSMP stream), the second only padding.
    return Buffer.concat([body, this.logical.endOfSet((esetPba) => Buffer.concat([eset(0, [['TSMP', setMap]]), eset(esetPba)]))]);
  }
}

/** What the stand-in's first pages are, as in every database's primary file (sql-server-pages.ts): 4 and 5 unused (zeros). */
const FIRST_PAGE_TYPES: Record<number, number> = { 0: 15, 1: 11, 2: 8, 3: 9, 6: 16, 7: 17, 8: 10, 9: 13 };

/**
 * The stand-in's pages of a database, deterministic (every backup of the same seed is the same):
 * 8 KiB pages of file 1 numbered from 0, formatted as SQL Server formats them (header, checksum),
 * the system pages first (file header 1:0, PFS, GAM, SGAM, two unused pages, the bitmaps, the boot
 * page 1:9), then data pages with pseudo-random contents. A last piece shorter than a page is
 * left unformatted. `chunkBytes` must be a whole number of pages.
 */
export function* databasePages(seed: string, totalBytes: number, chunkBytes = 1024 * 1024): Generator<Buffer> {
  if (chunkBytes % PAGE_BYTES !== 0) throw new RangeError(`chunkBytes must be a whole number of ${PAGE_BYTES}-byte pages`);
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  let page = 0;
  for (let done = 0; done < totalBytes; ) {
    const size = Math.min(chunkBytes, totalBytes - done);
    done += size;
    const bytes = cipher.update(Buffer.alloc(size));
    for (let at = 0; at + PAGE_BYTES <= size; at += PAGE_BYTES, page++) {
      if (page === 4 || page === 5) bytes.fill(0, at, at + PAGE_BYTES);
      else
        formatPage(bytes, at, {
          type: FIRST_PAGE_TYPES[page] ?? 1,
          fileId: 1,
          pageId: page,
          objectId: page < 16 ? 99 : 2000 + (page >> 6),
        });
    }
    yield bytes;
  }
}

/** A whole backup file in memory (for tests): header, `pages` (the stand-in's pages of 64 KiB of a database by default), end. */
export function backupFile(
  input: Omit<BackupFileInput, 'dataBytes'>,
  pages: Buffer = Buffer.concat([...databasePages(input.database, 64 * 1024)]),
): Buffer {
  const writer = new MtfBackupWriter({ ...input, dataBytes: pages.length });
  return Buffer.concat([writer.start(), writer.data(pages), writer.end()]);
}

// ---------------------------------------------------------------------------------------------
// The file: plain MTF, or the MSSQLBAK container.

interface LogicalWriter {
  /** Appends logical MTF bytes; returns the file bytes now final. */
  write(bytes: Buffer, options?: { filemarkAt?: number }): Buffer;
  /** The end-of-set filemark, the end region (built once its ESET PBA is known), the final filemark. */
  endOfSet(region: (firstEsetPba: number) => Buffer): Buffer;
}

class PlainWriter implements LogicalWriter {
  private position = 0;

  constructor(private readonly filemarkBytes: number) {}

  write(bytes: Buffer): Buffer {
    this.position += bytes.length;
    return bytes;
  }

  endOfSet(region: (firstEsetPba: number) => Buffer): Buffer {
    const fm = this.filemarkBytes;
    const endMark = this.position;
    const body = region(endMark + fm);
    const finalMark = endMark + fm + body.length;
    this.position = finalMark + fm;
    return Buffer.concat([filemarkBlock([0x400], fm), body, filemarkBlock([endMark, 0x400], fm)]);
  }
}

/** Logical MTF bytes in, MSSQLBAK container bytes out (observed framing, protocol/mssql-backup-container.ts). */
class CompressingWriter implements LogicalWriter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private logicalPosition = 0;
  private filePosition = 0;
  private readonly signature: Buffer;
  private sequence: number;

  constructor(startedAt: Date) {
    this.signature = Buffer.alloc(16);
    randomBytes(8).copy(this.signature, 0);
    this.signature.writeBigUInt64LE(1n, 8);
    this.sequence = Math.floor(startedAt.getTime() / 1000);
  }

  write(bytes: Buffer, options: { filemarkAt?: number } = {}): Buffer {
    const out: Buffer[] = [];
    if (this.logicalPosition === 0 && options.filemarkAt !== undefined) {
      // The container header, the TAPE chunk, its segment's end record, then the raw filemark at 0x400.
      const header = Buffer.alloc(FIRST_CHUNK_OFFSET);
      header.write(MSSQLBAK_MAGIC, 0, 'latin1');
      header.writeUInt32LE(2, 8);
      header.writeUInt32LE(3, 12);
      out.push(header, ...this.chunks(bytes.subarray(0, 0x400)));
      out.push(this.segmentEnd(FIRST_CHUNK_OFFSET + out.slice(1).reduce((n, c) => n + c.length, 0)));
      if (out.reduce((n, c) => n + c.length, 0) !== 0x400) throw new Error('the TAPE chunk does not fit before the filemark at 0x400');
      out.push(bytes.subarray(0x400, 0x600));
      this.logicalPosition = 0x600;
      bytes = bytes.subarray(0x600);
    }
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    this.logicalPosition += bytes.length;
    while (this.pendingBytes >= CHUNK_INPUT) out.push(...this.chunks(this.take(CHUNK_INPUT)));
    return this.emit(out);
  }

  endOfSet(region: (firstEsetPba: number) => Buffer): Buffer {
    const out: Buffer[] = [];
    while (this.pendingBytes > 0) out.push(...this.chunks(this.take(Math.min(CHUNK_INPUT, this.pendingBytes))));
    const afterData = this.filePosition + out.reduce((n, c) => n + c.length, 0);
    out.push(this.segmentEnd(afterData));
    const endMark = afterData + out.at(-1)!.length;
    out.push(filemarkBlock([0x400]));
    const regionChunks = this.chunks(region(endMark + FILEMARK_BYTES));
    const regionEnd = endMark + FILEMARK_BYTES + regionChunks.reduce((n, c) => n + c.length, 0);
    out.push(...regionChunks, this.segmentEnd(regionEnd), filemarkBlock([endMark, 0x400]));
    return this.emit(out);
  }

  private emit(parts: Buffer[]): Buffer {
    const out = Buffer.concat(parts);
    this.filePosition += out.length;
    return out;
  }

  private take(count: number): Buffer {
    const all = Buffer.concat(this.pending);
    this.pending = [all.subarray(count)];
    this.pendingBytes = all.length - count;
    return all.subarray(0, count);
  }

  private chunks(bytes: Buffer): Buffer[] {
    const out: Buffer[] = [];
    for (let at = 0; at < bytes.length; at += CHUNK_INPUT) {
      out.push(...encodeChunks(bytes.subarray(at, at + CHUNK_INPUT), this.sequence++, this.signature).map((c) => Buffer.from(c)));
    }
    return out;
  }

  /** The record after a segment's chunks (first byte 0x24, observed), then zeros to the next 512-byte boundary. */
  private segmentEnd(position: number): Buffer {
    let end = Math.ceil((position + 4) / FILEMARK_BYTES) * FILEMARK_BYTES;
    if (end - position < 4) end += FILEMARK_BYTES;
    const record = Buffer.alloc(end - position);
    record[0] = 0x24;
    record.writeUInt16LE(Math.max(0, record.length - 24), 2);
    return record;
  }
}

// ---------------------------------------------------------------------------------------------
// Blocks and streams (MTF 1.00a, sections 5.1–5.3).

function tapeBlock(input: BackupFileInput, filemarkBytes: number): Buffer {
  return blockWithStreams(
    'TAPE',
    0,
    0,
    [['RAID', raid(input)]],
    (b) => {
      b.writeUInt32LE(0x30000, 4); // block attributes: set map exists, FDD allowed (observed)
      randomBytes(4).copy(b, 0x34); // media family id
      b.writeUInt32LE(5, 0x38); // TAPE attributes (observed)
      b.writeUInt16LE(1, 0x3c); // media sequence number
      b.writeUInt16LE(filemarkBytes / 512, 0x40); // soft filemark block size, in 512-byte units
      b.writeUInt16LE(3, 0x42); // media-based catalog type (observed)
      const name = Buffer.from('Microsoft SQL Server\0\0', 'utf16le');
      b.writeUInt16LE(name.length, 0x50);
      b.writeUInt16LE(0x5e, 0x52);
      name.copy(b, 0x5e);
      b.writeUInt16LE(MTF_BLOCK_SIZE, 0x54);
      b.writeUInt16LE(0x1200, 0x56);
      Buffer.from(mtfDate(input.startedAt)).copy(b, 0x58);
      b[0x5d] = 1; // MTF major version
      return 0x8a;
    },
    0x8c,
  );
}

/** TAPE's RAID stream: media set GUID, then (observed: 0xF00000AD) and family count, family number. */
function raid(input: BackupFileInput): Buffer {
  const data = Buffer.alloc(32);
  Buffer.from(input.family?.mediaSetId ?? randomBytes(16)).copy(data, 0, 0, 16);
  data.writeUInt32LE(0xf00000ad, 0x10);
  data.writeUInt16LE(input.family?.count ?? 1, 0x14);
  data.writeUInt16LE(input.family?.number ?? 1, 0x16);
  data.writeUInt16LE(1, 0x18);
  data.writeUInt16LE(1, 0x1e);
  return data;
}

/**
 * SCIN, then the file list (observed layout; see protocol/backup-file-walk.ts): SCIN ends where its
 * names end; one SFGI record (the PRIMARY filegroup), then one SFIN record per file whose last
 * bytes are its logical name and physical path, found by (size, offset) pairs at 0x2E.
 */
function scin(input: BackupFileInput): Buffer {
  const names = Buffer.concat([Buffer.from(input.database, 'utf16le'), Buffer.from(input.server, 'utf16le')]);
  const namesAt = 0x16c;
  if (input.database.length > 128 || input.server.length > 128)
    throw new RangeError('database and server names are at most 128 characters');
  const out = Buffer.alloc(namesAt + names.length);
  out.write('SCIN', 0, 'latin1');
  out.writeUInt32LE(out.length, 4);
  const type = input.backupType ?? 'full';
  out.writeUInt32LE(0x200 | (type === 'differential' ? 0x800 : 0) | (type === 'log' ? 0x10 : 0), 0x08);
  out.writeUInt32LE(type === 'log' ? 2 : 1, 0x0c);
  out.writeUInt32LE(1, 0x10);
  const [major, minor, build] = version(input);
  out.writeUInt16LE(build, 0x18);
  out[0x1a] = minor;
  out[0x1b] = major;
  Buffer.from(mtfDate(input.databaseCreatedAt ?? input.startedAt)).copy(out, 0x48);
  Buffer.from(mtfDate(input.startedAt)).copy(out, 0x4d);
  out.writeUInt16LE(input.database.length * 2, 0x68);
  out.writeUInt16LE(namesAt, 0x6a);
  out.writeUInt16LE(input.server.length * 2, 0x6c);
  out.writeUInt16LE(namesAt + input.database.length * 2, 0x6e);
  names.copy(out, namesAt);
  const filegroup = Buffer.alloc(0x3e);
  filegroup.write('SFGI', 0, 'latin1');
  filegroup.writeUInt32LE(filegroup.length, 4);
  filegroup.writeUInt32LE(1, 0x0c);
  putString(filegroup, 0x30, 'PRIMARY', 0x14);
  const files = (input.files ?? defaultDatabaseFiles(input.database)).map((file, i) => {
    const logical = Buffer.from(file.logicalName, 'utf16le');
    const physical = Buffer.from(file.physicalName, 'utf16le');
    const record = Buffer.alloc(0x400 + logical.length + physical.length);
    record.write('SFIN', 0, 'latin1');
    record.writeUInt32LE(record.length, 4);
    record.writeUInt32LE(i + 1, 0x0c); // file id
    record.writeUInt16LE(logical.length, 0x2e);
    record.writeUInt16LE(0x400, 0x30);
    record.writeUInt16LE(physical.length, 0x32);
    record.writeUInt16LE(0x400 + logical.length, 0x34);
    logical.copy(record, 0x400);
    physical.copy(record, 0x400 + logical.length);
    return record;
  });
  return Buffer.concat([out, filegroup, ...files]);
}

function version(input: BackupFileInput): [number, number, number] {
  const [major = 16, minor = 0, build = 4135] = (input.sqlVersion ?? '16.0.4135').split('.').map(Number);
  return [major, minor, build];
}

/**
 * A block's fixed part: the block-specific fields `fill` writes, under the 52-byte common header
 * (MTF 5.1) with its checksum; `at` and `setStart` give the logical block address.
 */
function blockHeader(
  type: string,
  at: number,
  setStart: number,
  firstEvent: number,
  fill?: (b: Buffer) => void,
  size = firstEvent,
): Buffer {
  const b = Buffer.alloc(Math.max(size, 0x400));
  fill?.(b);
  b.write(type, 0, 'latin1');
  b.writeUInt16LE(firstEvent, 8);
  b[10] = 0x0e; // OS id (observed)
  b[11] = 1;
  if (at >= setStart) b.writeBigUInt64LE(BigInt(Math.floor((at - setStart) / MTF_BLOCK_SIZE)), 0x14);
  b[0x30] = 2; // Unicode strings
  b.writeUInt16LE(xorWords(b, 0, 25), 50);
  return b.subarray(0, size);
}

/** A block with its fields (from `fill`), its streams and an SPAD stream padding it to the next logical block. */
function blockWithStreams(
  type: string,
  at: number,
  setStart: number,
  streams: Array<[string, Buffer]>,
  fill?: (b: Buffer) => number,
  firstEvent?: number,
): Buffer {
  const fields = Buffer.alloc(0x400);
  const fieldsEnd = fill?.(fields) ?? DBLK_HEADER_BYTES;
  const start = firstEvent ?? alignStream(Math.max(DBLK_HEADER_BYTES, fieldsEnd));
  const header = blockHeader(type, at, setStart, start, (b) => fields.copy(b));
  const parts: Buffer[] = [header];
  let length = start;
  for (const [id, data] of streams) {
    const stream = Buffer.concat([streamHeaderBytes(id, data.length), data]);
    const padded = Buffer.concat([stream, Buffer.alloc(alignStream(stream.length) - stream.length)]);
    parts.push(padded);
    length += padded.length;
  }
  parts.push(spad(at + length, setStart));
  return Buffer.concat(parts);
}

/** A block without streams of its own; `fill` writes its fields and returns where they end. */
function block(type: string, at: number, setStart: number, fill: (b: Buffer) => number): Buffer {
  return blockWithStreams(type, at, setStart, [], fill);
}

function streamHeaderBytes(id: string, length: number): Buffer {
  return Buffer.from(encodeStreamHeader(id, length));
}

/** An SPAD stream from `at` to the next logical block boundary (relative to `setStart`); a whole block when the room is too small. */
function spad(at: number, setStart: number): Buffer {
  const aligned = alignStream(at);
  let end = setStart + Math.ceil((aligned + STREAM_HEADER_BYTES - setStart) / MTF_BLOCK_SIZE) * MTF_BLOCK_SIZE;
  if (end < aligned + STREAM_HEADER_BYTES) end += MTF_BLOCK_SIZE;
  return Buffer.concat([
    Buffer.alloc(aligned - at),
    streamHeaderBytes('SPAD', end - aligned - STREAM_HEADER_BYTES),
    Buffer.alloc(end - aligned - STREAM_HEADER_BYTES),
  ]);
}

/** A soft filemark (MTF 5.3.7) as SQL Server writes it (protocol/mtf-blocks.ts: the reader's layout). */
function filemarkBlock(previous: number[], size = FILEMARK_BYTES): Buffer {
  return Buffer.from(encodeSoftFilemark(previous, size));
}

/** Writes a UTF-16 string at `at` and its MTF_TAPE_ADDRESS (size, offset) at `pointer`; returns its byte length. */
function putString(b: Buffer, at: number, text: string, pointer: number): number {
  const bytes = Buffer.from(text, 'utf16le');
  bytes.copy(b, at);
  b.writeUInt16LE(bytes.length, pointer);
  b.writeUInt16LE(at, pointer + 2);
  return bytes.length;
}

function putRawString(b: Buffer, at: number, text: string): void {
  Buffer.from(text.slice(0, 100), 'utf16le').copy(b, at);
}
