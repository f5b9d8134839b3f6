import {
  type BackupFileProblemCode,
  blockBytes,
  checkPages,
  closingBlocks,
  type DataStream,
  END_REGION_LIMIT,
  hex,
  type LogicalReader,
  NotAvailable,
  printable,
  problem,
  ReadProblem,
  readScin,
  type ScinFacts,
  type SetIdentity,
  type SetLayout,
  walkBlock,
  walkEndRegion,
  walkSet,
} from './backup-file-walk';
import {
  CompressedStream,
  ContainerError,
  decodeChunksBefore,
  findChunkRun,
  MSSQLBAK_MAGIC,
  type PhysicalReader,
} from './mssql-backup-container';
import {
  DBLK_HEADER_BYTES,
  fourCC,
  readDblkHeader,
  readMtfDate,
  readSoftFilemark,
  readTapeAddressString,
  SsetAttribute,
  STREAM_HEADER_BYTES,
  u16,
  u32,
} from './mtf-blocks';
import { addSlot, classifyPage, emptyTally, PAGE_BYTES, type PageSlot, type PageTally, PageType } from './sql-server-pages';

export type { BackupFileProblemCode } from './backup-file-walk';
export type { PageTally } from './sql-server-pages';

/**
 * Reads what a SQL Server backup file is, without SQL Server: the Microsoft Tape Format (MTF 1.00a)
 * structure, walked block by block. One reader for the validator (S3 ranged reads, bounded), the
 * `so-backup verify-backup` command (a local file, read whole) and the SQL Server stand-in.
 *
 * The stream (for a compressed file, the decoded chunks and its raw filemarks):
 *   0x000 TAPE  media header (spec 5.3.1): software name, logical block size, soft filemark size, MTF
 *               major version 1, media password; its `RAID` stream names the media set and the media families.
 *   0x400 SFMB  soft filemark (spec 5.3.7; the TAPE block's soft filemark block size × 512 bytes: 512 in every fixture).
 *   0x600 SSET  start of the backup set (spec 5.3.3): attributes (normal / copy / differential), backup set
 *               name, password, user, date, SQL Server major and minor version, time zone.
 *         VOLB  volume (spec 5.3.6): machine and device.
 *         MSCI  SQL Server's own block: its `MQCI` stream starts with the `SCIN` structure.
 *         MSDA  the data (full and differential): an `MQDA` stream of 8 KiB pages.
 *         MSTL  the log (every backup; all of a log backup), `MQTL` streams.
 *         MSLS  SQL Server's closing block, a second `MQCI`/`SCIN` for the same backup.
 *         SFMB  end-of-set filemark; ESET (spec 5.3.4: set number, attributes, date as in the SSET), the
 *               on-tape catalog streams, a second ESET, and the final SFMB: the file's last bytes.
 * Every block inside the set names its own place (Format Logical Address, spec 5.1), and every
 * stream header its length (spec 5.2), so the walk knows where each block must begin.
 *
 * Facts observed on real backups (shared/fixtures/mssql, SQL Server 10.50 and 12.0) rather than
 * specified, each marked "observed" where it is used:
 *  - each block's streams end exactly at a logical-block boundary (an `SPAD` stream pads to it);
 *  - SFMB: UINT64 byte offsets of the earlier filemarks at 0x48 (mtf-blocks.ts, readSoftFilemark);
 *  - SCIN (inside MQCI): 0x0C UINT32 1 = database, 2 = log; 0x18 UINT16 build, 0x1A minor, 0x1B major
 *    version; 0x48 and 0x4D MTF dates (database created; backup taken, equal to the SSET's); 0x68 and 0x6C UINT16 size / UINT16
 *    offset (from SCIN) of the UTF-16 database and server names;
 *  - an MQDA stream is 2 bytes, then whole 8 KiB pages; a full backup's first pages are its primary
 *    file's pages 0–15 in order (file header 1:0, … boot page 1:9) — sql-server-pages.ts for pages;
 *  - TAPE's `RAID` stream: 16-byte media set GUID first. The media family count and this file's family
 *    number are taken as the UINT16s at 0x14 and 0x16 of the stream: every single-file fixture has 1
 *    in both, SQL Server lists FamilyCount then FamilySequenceNumber after MediaSetId in RESTORE
 *    LABELONLY, but no striped real backup was available to confirm the places.
 *  - Copy-only is the SSET's COPY attribute (MTF: a full set that leaves later differentials alone),
 *    by the specification's meaning; no copy-only real backup was available to confirm it.
 *
 * Two depths (docs/backup-files.md says what each proves):
 *  - `whole`: every byte. Every block and stream from TAPE to the final filemark, every compressed
 *    chunk decoded, every 8 KiB page slot classified and every page checksum verified.
 *  - `bounded` (default): no read over 1 MiB, a few MiB in all, whatever the file's size. The
 *    header blocks and the first data pages; the blocks after the data, walked from where the data
 *    stream's length says they begin (for a compressed file: decoded back from the end-of-set filemark);
 *    the end of the set; and a sample of the middle: random 64 KiB of pages (uncompressed), or random
 *    windows of compressed chunks, each decoded (compressed). What was not read is reported (`coverage`).
 */

/** Random access to a backup file. The caller owns the I/O: a file handle, S3 ranged GETs, a Buffer. */
export interface ByteSource {
  /** The file's size in bytes. */
  readonly size: number;
  /** Exactly `length` bytes from `offset` (the reader never asks past `size`, nor more than MAX_READ_BYTES at once). */
  read(offset: number, length: number): Promise<Uint8Array>;
}

/** A ByteSource over bytes in memory. */
export function bufferSource(bytes: Uint8Array): ByteSource {
  return { size: bytes.length, read: async (offset, length) => bytes.subarray(offset, offset + length) };
}

/** The largest single read the reader makes, at either depth. */
export const MAX_READ_BYTES = 1024 * 1024;

export type BackupType = 'full' | 'differential' | 'log';

/** What the reader read and checked: what the verdict rests on, and what it does not cover. */
export interface ReadCoverage {
  depth: 'bounded' | 'whole';
  /** Bytes read from the file, in how many reads, the largest one. */
  bytesRead: number;
  reads: number;
  largestRead: number;
  /** MTF descriptor blocks walked, by type (SFMB, ESET and the header blocks included). */
  blocks: Record<string, number>;
  /** Every block from the start to the final filemark was walked, each where the one before it says it begins. */
  structureWalked: boolean;
  /** Where the walk could not go, in the (decoded) stream: from `from` to `to` (bounded reads only). */
  notWalked?: { from: number; to: number };
  /** Bytes of data (MQDA streams) in the backup, and how many of them are pages in the observed layout. */
  dataBytes: number;
  /** The 8 KiB page slots looked at, and what they were. */
  pages: PageTally;
  /** Compressed: chunks decoded. */
  chunksDecoded?: number;
  /** Bounded: windows of the middle read at random positions, and their bytes. */
  sampledWindows?: number;
  sampledBytes?: number;
}

/** What the file says about itself; a field is absent when the file could not be read that far. */
export interface BackupFileFacts {
  /** MTF: an uncompressed backup (starts `TAPE`); MSSQLBAK: compressed; unknown: neither. */
  format: 'MTF' | 'MSSQLBAK' | 'unknown';
  compressed: boolean;
  /** File size in bytes. */
  size: number;
  softwareName?: string;
  /** MTF logical block size and soft filemark size, in bytes (TAPE block). */
  blockSize?: number;
  filemarkBytes?: number;
  backupType?: BackupType;
  copyOnly?: boolean;
  database?: string;
  server?: string;
  /** The VOLB block's machine name. */
  machine?: string;
  backupSetName?: string;
  userName?: string;
  /** "major.minor.build", e.g. "10.50.1600" for SQL Server 2008 R2 RTM. */
  sqlVersion?: string;
  /** When the backup was taken (the SSET's media write date), server time ("YYYY-MM-DDTHH:MM:SS": MTF stores no zone). */
  backupStartedAt?: string;
  /** When the database was created (SCIN, observed), server time. */
  databaseCreatedAt?: string;
  /** The server's offset from UTC when the backup was taken (the SSET's time zone, 15-minute steps), e.g. "+02:00". */
  timeZone?: string;
  /** The media set's GUID: the same on every file (family) of one backup. */
  mediaSetId?: string;
  /** The backup set's number in the media set and its SSET attributes (MTF): the same on every family of one backup. */
  backupSet?: { number: number; attributes: number };
  /** The database's files as the backup lists them (RESTORE FILELISTONLY: logical name, the path it had). */
  files?: Array<{ logicalName: string; physicalName: string }>;
  /** Media families (stripes): a backup written to N files has count N; this file is family `number`. */
  family?: { count: number; number: number };
  /** Password protection, per MTF: a media password (TAPE) and a backup set password (SSET). */
  password: { media: boolean; backupSet: boolean };
  /** The end of the backup set was found and agrees with its start (`extraBytes`: whether the file goes on after it). */
  complete: boolean;
  /** Bytes in the file after the end of the backup set (data appended, or another set). */
  extraBytes?: number;
  coverage: ReadCoverage;
}

export interface BackupFileProblem {
  code: BackupFileProblemCode;
  message: string;
}

export interface BackupFileReport {
  facts: BackupFileFacts;
  /** Everything that makes the file unreadable or untrustworthy; empty when it read cleanly. */
  problems: BackupFileProblem[];
}

/** What a caller expects the file to be. */
export interface BackupExpectation {
  /** The database it must be a backup of (exact name, as SQL Server stores it). */
  database?: string;
  /** @default 'full' */
  backupType?: BackupType;
}

export interface BackupVerdict {
  ok: boolean;
  /** One sentence per reason it is not a usable backup; empty when ok. */
  reasons: string[];
}

export interface ReadOptions {
  /** @default 'bounded' */
  depth?: 'bounded' | 'whole';
  /** Bounded: windows of the middle sampled. @default 8 */
  samples?: number;
  /** Where samples go: a number in [0, 1). @default Math.random (a file cannot be made to pass by knowing the places) */
  random?: () => number;
  /**
   * Bounded, uncompressed: reads (of 64 KiB) the walk from the start may make before it finds the
   * blocks that end the set from the end-of-set filemark instead. @default 64
   */
  walkReads?: number;
}

/** Bytes read from the start at once (the header blocks and the first data pages of an uncompressed file). */
const HEAD_BYTES = 128 * 1024;
/** Bounded: the decoded start of a compressed file is read up to here. */
const HEAD_LIMIT = 4 * 1024 * 1024;
/** Bounded: reads (of WINDOW_BYTES) the walk of an uncompressed file may make before it goes to the end instead. */
const WALK_READS = 64;
/** Bounded: further reads the walk may make, once resumed next to the end of the set. */
const RESUME_READS = 8;
const WINDOW_BYTES = 64 * 1024;
/** Bounded: file bytes before the end-of-set filemark read to find the blocks that end the set, and their decoded limit. */
const TAIL_BYTES = 1024 * 1024;
const TAIL_DECODED = 16 * 1024 * 1024;
/** Bounded: a sampled window of compressed chunks (two of the largest chunks fit in it whole). */
const CHUNK_SAMPLE_BYTES = 192 * 1024;
const PAGE_SAMPLE_PAGES = 8;
/** How far back the final filemark is looked for when the file does not end with one (appended data). */
const FINAL_MARK_SEARCH = 1024 * 1024;
/** Pages at the start of a full backup's data that must be there (file header 1:0 … boot page 1:9). */
const FIRST_PAGES = 10;

/**
 * Reads a backup file. Never throws for what the file holds (every defect is a problem in the
 * report, with the offset and what was expected); only errors of `source.read` propagate.
 */
export async function readBackupFile(source: ByteSource, options: ReadOptions = {}): Promise<BackupFileReport> {
  const reading = new Reading(source, options);
  await reading.run();
  return { facts: reading.facts, problems: reading.problems };
}

/**
 * Whether one file is a usable backup: readable, complete, a whole backup set (not one stripe of
 * several), not password-protected, of the expected type (full by default) and database.
 */
export function judgeBackupFile(report: BackupFileReport, expected: BackupExpectation = {}): BackupVerdict {
  const reasons = report.problems.map((p) => p.message);
  const facts = report.facts;
  if (reasons.length === 0 && facts.family && facts.family.count > 1) {
    reasons.push(
      `it is family ${facts.family.number} of ${facts.family.count} of a striped backup: the backup set is incomplete without the other ${facts.family.count - 1} file(s)`,
    );
  }
  reasons.push(...judgeContent(facts, expected));
  return { ok: reasons.length === 0, reasons };
}

/**
 * Whether several files are together one usable backup: the media families (stripes) of one media
 * set and of one backup (same database, server, kind, date, backup set), each readable and
 * complete, every family present once.
 */
export function judgeBackupSet(reports: BackupFileReport[], expected: BackupExpectation = {}): BackupVerdict {
  if (reports.length === 1) return judgeBackupFile(reports[0]!, expected);
  const reasons = reports.flatMap((r, i) => r.problems.map((p) => `file ${i + 1}: ${p.message}`));
  if (reasons.length > 0) return { ok: false, reasons };
  const sets = new Set(reports.map((r) => r.facts.mediaSetId));
  if (sets.size > 1) reasons.push(`the files belong to ${sets.size} different media sets: they are not the stripes of one backup`);
  const first = reports[0]!.facts;
  const identity: Array<[string, (f: BackupFileFacts) => unknown]> = [
    ['database', (f) => f.database],
    ['server', (f) => f.server],
    ['backup type', (f) => f.backupType],
    ['copy-only', (f) => f.copyOnly],
    ['backup date', (f) => f.backupStartedAt],
    ['database creation date', (f) => f.databaseCreatedAt],
    ['SQL Server version', (f) => f.sqlVersion],
    ['backup set name', (f) => f.backupSetName],
    ['backup set number and kind', (f) => JSON.stringify(f.backupSet)],
  ];
  for (const [label, value] of identity) {
    const differing = reports.map((r, i) => [i + 1, value(r.facts)] as const).filter(([, v]) => v !== value(first));
    if (differing.length > 0) {
      reasons.push(
        `the files are not stripes of one backup: their ${label} differs (file 1: ${String(value(first))}; ${differing.map(([i, v]) => `file ${i}: ${String(v)}`).join('; ')})`,
      );
    }
  }
  const count = first.family?.count ?? 1;
  const numbers = reports.map((r) => r.facts.family?.number ?? 1);
  if (reports.some((r) => (r.facts.family?.count ?? 1) !== count))
    reasons.push('the files disagree about how many media families the backup has');
  const missing = Array.from({ length: count }, (_, i) => i + 1).filter((n) => !numbers.includes(n));
  const repeated = numbers.filter((n, i) => numbers.indexOf(n) !== i);
  if (repeated.length > 0) reasons.push(`family ${[...new Set(repeated)].join(', ')} is given more than once`);
  if (missing.length > 0)
    reasons.push(`the backup has ${count} media families; family ${missing.join(', ')} is missing: the backup set is incomplete`);
  if (reports.length > count) reasons.push(`${reports.length} files given for a backup of ${count} media families`);
  reasons.push(...judgeContent(first, expected));
  return { ok: reasons.length === 0, reasons };
}

function judgeContent(facts: BackupFileFacts, expected: BackupExpectation): string[] {
  const reasons: string[] = [];
  const type = expected.backupType ?? 'full';
  if (facts.backupType !== undefined && facts.backupType !== type) {
    reasons.push(
      `it is a ${facts.backupType === 'log' ? 'transaction log' : facts.backupType} backup, not a ${type} one${type === 'full' ? ': it cannot be restored on its own' : ''}`,
    );
  }
  if (expected.database !== undefined && facts.database !== undefined && facts.database !== expected.database) {
    const caseOnly = facts.database.toLowerCase() === expected.database.toLowerCase();
    reasons.push(
      `it is a backup of database "${facts.database}", not "${expected.database}"${
        caseOnly
          ? " (the names differ only in upper/lower case: SQL Server's default collation treats them as one database, but the name is compared exactly here; give it as SQL Server spells it)"
          : ''
      }`,
    );
  }
  if (facts.password.media || facts.password.backupSet) {
    reasons.push(`it is protected by a ${facts.password.media ? 'media' : 'backup set'} password: a restore needs that password`);
  }
  return reasons;
}

function describeStart(head: Uint8Array): string {
  if (head.length === 0) return 'empty (0 bytes)';
  const first = head.subarray(0, 8);
  const isText = [...first].every((b) => b >= 0x20 && b < 0x7f);
  return isText ? `"${String.fromCharCode(...first)}"` : `with bytes ${[...first].map((b) => b.toString(16).padStart(2, '0')).join(' ')}`;
}

// ---------------------------------------------------------------------------------------------
// Reading the file: the bytes, and the logical MTF stream over them.

/** The caller's source, counted, and held to MAX_READ_BYTES per read. */
class CountingSource implements PhysicalReader {
  constructor(
    private readonly source: ByteSource,
    private readonly coverage: ReadCoverage,
  ) {}

  get size(): number {
    return this.source.size;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    if (length > MAX_READ_BYTES || offset < 0 || offset + length > this.source.size) {
      throw new RangeError(
        `backup-file reader: a read of ${length} bytes at ${offset} (file ${this.source.size} bytes) breaks its own bounds`,
      );
    }
    this.coverage.reads++;
    this.coverage.bytesRead += length;
    this.coverage.largestRead = Math.max(this.coverage.largestRead, length);
    return this.source.read(offset, length);
  }
}

/** An uncompressed file as its own logical stream: reads through a window, at most `budget` windows. */
class FileWindows implements LogicalReader {
  private window: { at: number; bytes: Uint8Array } = { at: 0, bytes: new Uint8Array(0) };
  budget = Infinity;

  constructor(
    private readonly file: CountingSource,
    private readonly windowBytes: number,
    head?: Uint8Array,
  ) {
    if (head) this.window = { at: 0, bytes: head };
  }

  async read(offset: number, length: number, what: string): Promise<Uint8Array> {
    const size = this.file.size;
    if (offset + length > size) throw endsInside(size, what, offset);
    if (length > MAX_READ_BYTES)
      throw problem(
        'DATA_DAMAGED',
        `${what} at ${hex(offset)} would need ${length} bytes at once: more than any SQL Server backup block holds`,
      );
    const w = this.window;
    if (offset >= w.at && offset + length <= w.at + w.bytes.length) return w.bytes.subarray(offset - w.at, offset - w.at + length);
    if (this.budget <= 0) throw new NotAvailable(offset);
    this.budget--;
    this.window = { at: offset, bytes: await this.file.read(offset, Math.min(size - offset, Math.max(length, this.windowBytes))) };
    return this.window.bytes.subarray(0, length);
  }
}

function endsInside(size: number, what: string, offset: number): ReadProblem {
  const odd = size % 512 !== 0 ? ' (its size is not a whole number of 512-byte blocks: it was cut short)' : '';
  return problem('TRUNCATED', `the file ends at ${size} bytes${odd}, inside ${what} (which needs bytes from ${hex(offset)})`);
}

/** Pieces of the logical stream a bounded reader has: a read outside them is NotAvailable. */
class Pieces implements LogicalReader {
  readonly list: Array<{ from: number; to: number; read: (offset: number, length: number, what: string) => Promise<Uint8Array> }> = [];

  async read(offset: number, length: number, what: string): Promise<Uint8Array> {
    const piece = this.list.find((p) => offset >= p.from && offset + length <= p.to);
    if (!piece) throw new NotAvailable(offset);
    return piece.read(offset, length, what);
  }
}

/** The decoded stream of a compressed file as a LogicalReader: container defects become problems. */
function streamReader(stream: CompressedStream, size: number, limit = Infinity): LogicalReader {
  return {
    read: async (offset, length, what) => {
      if (offset + length > limit) throw new NotAvailable(offset);
      try {
        return await stream.read(offset, length);
      } catch (error) {
        throw containerProblem(error, what, size);
      }
    },
  };
}

function containerProblem(error: unknown, what: string, size: number): unknown {
  if (!(error instanceof ContainerError)) return error;
  if (error.code === 'TRUNCATED') {
    return problem(
      'TRUNCATED',
      `${error.message}: the compressed file (${size} bytes) ends inside ${what}${size % 512 !== 0 ? ' (not a whole number of 512-byte blocks: cut short)' : ''}`,
    );
  }
  return problem('COMPRESSED_UNREADABLE', `${error.message} (in ${what})`);
}

// ---------------------------------------------------------------------------------------------

interface HeaderBlocks {
  layout: SetLayout;
  set: SetIdentity;
  scin: ScinFacts;
  /** Where the first filemark (after TAPE) is in the file. */
  firstFilemark: number;
  /** The first block after MSCI: data (MSDA) or log (MSTL). */
  dataAt: number;
}

class Reading {
  readonly facts: BackupFileFacts;
  readonly problems: BackupFileProblem[] = [];
  private readonly file: CountingSource;
  private readonly depth: 'bounded' | 'whole';
  private readonly random: () => number;

  constructor(
    source: ByteSource,
    private readonly options: ReadOptions,
  ) {
    this.depth = options.depth ?? 'bounded';
    this.random = options.random ?? Math.random;
    const coverage: ReadCoverage = {
      depth: this.depth,
      bytesRead: 0,
      reads: 0,
      largestRead: 0,
      blocks: {},
      structureWalked: false,
      dataBytes: 0,
      pages: emptyTally(),
    };
    this.facts = {
      format: 'unknown',
      compressed: false,
      size: source.size,
      password: { media: false, backupSet: false },
      complete: false,
      coverage,
    };
    this.file = new CountingSource(source, coverage);
  }

  private get coverage(): ReadCoverage {
    return this.facts.coverage;
  }

  async run(): Promise<void> {
    const size = this.file.size;
    const head = await this.file.read(0, Math.min(size, HEAD_BYTES));
    if (size >= 8 && String.fromCharCode(...head.subarray(0, 8)) === MSSQLBAK_MAGIC) {
      this.facts.format = 'MSSQLBAK';
      this.facts.compressed = true;
    } else if (size >= 4 && fourCC(head, 0) === 'TAPE') {
      this.facts.format = 'MTF';
    } else {
      this.problems.push({
        code: 'NOT_A_BACKUP',
        message: `not a SQL Server backup: it starts ${describeStart(head)}, not "TAPE" (Microsoft Tape Format) or "MSSQLBAK" (a compressed backup)`,
      });
      return;
    }
    try {
      if (this.facts.compressed) await this.readCompressed();
      else await this.readPlain(head);
    } catch (error) {
      if (!(error instanceof ReadProblem)) throw error;
      this.problems.push({ code: error.code, message: error.message });
    }
    const pages = this.coverage.pages;
    if (pages.checksumFailed > 0) {
      const named = pages.failures.map((f) => `${f.fileId}:${f.pageId} at ${hex(f.offset)}`).join(', ');
      this.problems.push({
        code: 'PAGE_DAMAGED',
        message: `${pages.checksumFailed} page(s) fail their page checksum (${named}${this.facts.compressed ? ', offsets in the decoded stream' : ''}): the data is damaged`,
      });
    }
  }

  private async readPlain(head: Uint8Array): Promise<void> {
    const windows = new FileWindows(this.file, this.depth === 'whole' ? MAX_READ_BYTES : WINDOW_BYTES, head);
    const header = await readHeaderBlocks(windows, this.facts);
    const { layout } = header;
    let walked: { endOfSet: number; msls: ScinFacts; dataStreams: DataStream[] };
    if (this.depth === 'whole') {
      walked = await walkSet(
        windows,
        header.dataAt,
        layout,
        header.scin.kind === 2 ? 'log' : 'database',
        (data) => this.checkData(windows, header, data, 'all'),
        this.coverage.blocks,
      );
      this.coverage.structureWalked = true;
    } else {
      windows.budget = this.options.walkReads ?? WALK_READS;
      const dataStreams: DataStream[] = [];
      const kind = header.scin.kind === 2 ? 'log' : 'database';
      const progress = { at: header.dataAt, sawLog: false };
      try {
        walked = await walkSet(
          windows,
          header.dataAt,
          layout,
          kind,
          (data) => {
            dataStreams.push(data);
            return this.checkData(windows, header, data, 'first');
          },
          this.coverage.blocks,
          progress,
        );
        this.coverage.structureWalked = true;
      } catch (error) {
        if (!(error instanceof NotAvailable)) throw error;
        // Too many blocks to walk within the budget: find the end of the set from the final filemark.
        windows.budget = Infinity;
        const final = await this.findFinalFilemark(header);
        const endOfSet = final.previous[0]!;
        this.checkEndOfSetPointer(endOfSet, progress.at, final.at);
        // The last MiB before the end of the set (or less, from the block where the walk stopped):
        // the walk resumes at that block, reading the tail from here and (a few more reads) anything
        // before it the block's headers need, e.g. a long data stream's header. Only when that is not
        // enough are the blocks that end the set found from its end, and the gap reported as not walked.
        const from = Math.max(progress.at, endOfSet - TAIL_BYTES);
        const tail = await this.file.read(from, endOfSet - from);
        const fromTail = async (offset: number, length: number) => tail.subarray(offset - from, offset - from + length);
        const resumed: LogicalReader = {
          read: (offset, length, what) =>
            offset >= from && offset + length <= endOfSet ? fromTail(offset, length) : windows.read(offset, length, what),
        };
        windows.budget = RESUME_READS;
        try {
          walked = await walkSet(resumed, progress.at, layout, kind, async () => undefined, this.coverage.blocks, progress);
          if (walked.endOfSet !== endOfSet)
            throw problem(
              'END_INCONSISTENT',
              `the blocks of the backup end at ${hex(walked.endOfSet)}, but the end-of-set filemark the final filemark names is at ${hex(endOfSet)}`,
            );
          this.coverage.structureWalked = true;
        } catch (again) {
          if (!(again instanceof NotAvailable)) throw again;
          const pieces = new Pieces();
          pieces.list.push({ from, to: endOfSet, read: fromTail });
          walked = await this.walkTail(pieces, tail, from, endOfSet, header, progress.at);
        }
        windows.budget = Infinity;
        const known = new Set(dataStreams.map((d) => d.at));
        walked.dataStreams.unshift(...dataStreams);
        walked.dataStreams = walked.dataStreams.filter((d, i) => i < dataStreams.length || !known.has(d.at));
      }
      windows.budget = Infinity;
    }
    this.checkClosing(header.scin, walked.msls);
    const end = await walkEndRegion(windows, walked.endOfSet, layout, header.set, header.firstFilemark);
    this.countEnd(end);
    this.checkFinalPointers(end.previous, walked.endOfSet, header.firstFilemark, end.finalFilemark);
    const fileEnd = end.finalFilemark + layout.filemarkBytes;
    this.facts.complete = true;
    this.checkFileEnd(fileEnd);
    if (this.depth === 'bounded') await this.samplePages(walked.dataStreams);
  }

  private async readCompressed(): Promise<void> {
    const size = this.file.size;
    const stream = new CompressedStream(this.file, {
      filemarkBytes: 512,
      windowBytes: this.depth === 'whole' ? MAX_READ_BYTES : 4 * WINDOW_BYTES,
      keepBehind: 8 * 1024 * 1024,
    });
    const whole = this.depth === 'whole';
    const startReader = streamReader(stream, size, whole ? Infinity : HEAD_LIMIT);
    const header = await readHeaderBlocks(startReader, this.facts);
    const { layout } = header;
    if (layout.filemarkBytes !== 512) {
      throw problem(
        'COMPRESSED_UNREADABLE',
        `a compressed backup with ${layout.filemarkBytes}-byte soft filemarks: every compressed backup seen has 512-byte ones, and where they are stored in the container is not known for other sizes`,
      );
    }
    const kind = header.scin.kind === 2 ? 'log' : 'database';
    if (whole) {
      const walked = await walkSet(
        startReader,
        header.dataAt,
        layout,
        kind,
        (data) => this.checkData(startReader, header, data, 'all'),
        this.coverage.blocks,
      );
      this.coverage.structureWalked = true;
      this.checkClosing(header.scin, walked.msls);
      const end = await walkEndRegion(startReader, walked.endOfSet, layout, header.set, header.firstFilemark);
      this.countEnd(end);
      const physical = (logical: number) => stream.filemarks.find((m) => m.logical === logical)?.physical ?? Number.NaN;
      this.checkFinalPointers(end.previous, physical(walked.endOfSet), header.firstFilemark, physical(end.finalFilemark));
      this.coverage.chunksDecoded = stream.chunks;
      this.facts.complete = true;
      this.checkFileEnd(stream.end!.physical);
      return;
    }
    // Bounded: the start (decoded on demand), the end of the set and the blocks before it (decoded from the end).
    const final = await this.findFinalFilemark(header);
    const endOfSetAt = final.previous[0]!;
    this.checkEndOfSetPointer(endOfSetAt, stream.position, final.at);
    const tailFrom = Math.max(stream.position, endOfSetAt - TAIL_BYTES);
    const tailFile = await this.file.read(tailFrom, endOfSetAt - tailFrom);
    const before = this.decodeBefore(tailFile, tailFrom, endOfSetAt, stream.signature!);
    this.coverage.chunksDecoded = stream.chunks + before.chunks;
    const closing = closingBlocks(before.decoded, layout.blockSize);
    if (!closing)
      throw problem(
        'END_DAMAGED',
        `no closing SQL Server block (MSLS) ends the data before the end of the backup set at ${hex(endOfSetAt)}: the end does not belong to this backup or is damaged`,
      );
    // The MSLS names its own place in the set: that places the decoded bytes in the stream.
    const endOfSet = layout.setStart + closing.msls.header.formatLogicalAddress * layout.blockSize + (closing.msls.end - closing.msls.at);
    const tailStart = endOfSet - before.decoded.length;
    const endStream = new CompressedStream(this.file, {
      filemarkBytes: 512,
      windowBytes: 4 * WINDOW_BYTES,
      keepBehind: END_REGION_LIMIT,
      start: endOfSetAt + 512,
      signature: stream.signature,
    });
    const endMark = await this.file.read(endOfSetAt, 512);
    const pieces = new Pieces();
    pieces.list.push(
      { from: 0, to: Math.min(HEAD_LIMIT, tailStart), read: (o, l, w) => startReader.read(o, l, w) },
      { from: tailStart, to: endOfSet, read: async (o, l) => before.decoded.subarray(o - tailStart, o - tailStart + l) },
      { from: endOfSet, to: endOfSet + 512, read: async (o, l) => endMark.subarray(o - endOfSet, o - endOfSet + l) },
      {
        from: endOfSet + 512,
        to: endOfSet + 512 + END_REGION_LIMIT,
        read: (o, l, w) => streamReader(endStream, size).read(o - endOfSet - 512, l, w),
      },
    );
    let walked: { endOfSet: number; msls: ScinFacts; dataStreams: DataStream[] };
    try {
      walked = await walkSet(
        pieces,
        header.dataAt,
        layout,
        kind,
        (data) => this.checkData(pieces, header, data, 'first'),
        this.coverage.blocks,
      );
      this.coverage.structureWalked = true;
    } catch (error) {
      if (!(error instanceof NotAvailable)) throw error;
      walked = await this.walkTail(pieces, before.decoded, tailStart, endOfSet, header, error.at);
    }
    if (walked.endOfSet !== endOfSet)
      throw problem(
        'END_INCONSISTENT',
        `the blocks of the backup end at ${hex(walked.endOfSet)} in the decoded stream, but the end-of-set filemark follows ${hex(endOfSet)}`,
      );
    this.checkClosing(header.scin, walked.msls);
    const end = await walkEndRegion(pieces, endOfSet, layout, header.set, header.firstFilemark);
    this.countEnd(end);
    this.coverage.chunksDecoded += endStream.chunks;
    const finalAt = endStream.filemarks.at(-1)?.physical ?? Number.NaN;
    this.checkFinalPointers(end.previous, endOfSetAt, header.firstFilemark, finalAt);
    this.facts.complete = true;
    this.checkFileEnd(finalAt + 512);
    await this.sampleChunks(stream.position, before.firstChunkAt, stream.signature!);
  }

  /**
   * The blocks that end the set, found from its end in `bytes` (the stream from `from` to the
   * end-of-set filemark `endOfSet`) and walked from the first of them: the walk from the start
   * stopped at `stoppedAt`, so what lies between is reported as not walked.
   */
  private async walkTail(
    reader: LogicalReader,
    bytes: Uint8Array,
    from: number,
    endOfSet: number,
    header: HeaderBlocks,
    stoppedAt: number,
  ) {
    const closing = closingBlocks(bytes, header.layout.blockSize);
    if (!closing)
      throw problem(
        'END_DAMAGED',
        `no closing SQL Server block (MSLS) before the end of the backup set at ${hex(endOfSet)}: the end does not belong to this backup or is damaged`,
      );
    const first = from + closing.first;
    this.coverage.notWalked = { from: stoppedAt, to: first };
    const walked = await walkSet(
      reader,
      first,
      header.layout,
      header.scin.kind === 2 ? 'log' : 'database',
      async () => undefined,
      this.coverage.blocks,
    );
    if (walked.endOfSet !== endOfSet)
      throw problem(
        'END_INCONSISTENT',
        `the blocks before the end of the backup set end at ${hex(walked.endOfSet)}, not at the end-of-set filemark ${hex(endOfSet)}`,
      );
    return walked;
  }

  private decodeBefore(window: Uint8Array, base: number, filemark: number, signature: Uint8Array) {
    try {
      const found = decodeChunksBefore(window, base, filemark, signature, TAIL_DECODED);
      if (!found)
        throw problem(
          'COMPRESSED_UNREADABLE',
          `no compressed chunk of this file in the ${window.length} bytes before the end-of-set filemark at ${hex(filemark)}`,
        );
      return found;
    } catch (error) {
      throw containerProblem(error, 'the chunks before the end of the backup set', this.file.size);
    }
  }

  /** The data streams' pages: every one ('all'), or a full backup's first pages ('first'), which must be its primary file's header and boot pages. */
  private async checkData(reader: LogicalReader, header: HeaderBlocks, data: DataStream, pages: 'all' | 'first'): Promise<void> {
    this.coverage.dataBytes += data.length;
    if (data.pagesAt === undefined) return;
    const isFirst = this.coverage.dataBytes === data.length;
    if (pages === 'first' && !isFirst) return;
    const count = pages === 'all' ? data.pages : Math.min(FIRST_PAGES, data.pages);
    const slots = await checkPages(reader, data.pagesAt, count, this.coverage.pages);
    if (isFirst && header.scin.kind === 1 && (header.set.attributes & SsetAttribute.DIFFERENTIAL) === 0) checkFirstPages(slots, data);
  }

  private checkClosing(start: ScinFacts, end: ScinFacts): void {
    for (const [label, a, b] of [
      ['database', start.database, end.database],
      ['server', start.server, end.server],
      ['SQL Server version', start.version, end.version],
    ] as const) {
      if (a !== b)
        throw problem('END_INCONSISTENT', `the end of the file is from another backup: its ${label} is "${b}", the start's is "${a}"`);
    }
    if (end.kind !== start.kind || end.backupAt !== start.backupAt || end.createdAt !== start.createdAt) {
      throw problem(
        'END_INCONSISTENT',
        `the end of the file is from another backup: it was taken ${end.backupAt ?? '?'} (${end.kind === 2 ? 'log' : 'database'}), the start says ${start.backupAt ?? '?'} (${start.kind === 2 ? 'log' : 'database'})`,
      );
    }
    // The closing block repeats the file list (only LSNs and dates inside the records change).
    const list = (scin: ScinFacts) => JSON.stringify([scin.records, scin.files]);
    if (list(start) !== list(end)) {
      throw problem(
        'END_INCONSISTENT',
        `the closing SQL Server block lists other database files than the start (${end.files.map((f) => f.logicalName).join(', ')} against ${start.files.map((f) => f.logicalName).join(', ')}): the end is from another backup, or one of them is damaged`,
      );
    }
  }

  private countEnd(end: { esets: number }): void {
    const blocks = this.coverage.blocks;
    blocks.SFMB = (blocks.SFMB ?? 0) + 2;
    blocks.ESET = (blocks.ESET ?? 0) + end.esets;
  }

  /** The final filemark lists the end-of-set filemark, then the first one. */
  private checkFinalPointers(previous: number[], endOfSet: number, firstFilemark: number, finalAt: number): void {
    if (previous.length < 2 || previous[0] !== endOfSet || previous.at(-1) !== firstFilemark) {
      throw problem(
        'END_DAMAGED',
        `the final soft filemark at ${hex(finalAt)} lists ${previous.map(hex).join(', ') || 'no filemarks'}, not the end-of-set filemark ${hex(endOfSet)} and the first one ${hex(firstFilemark)}`,
      );
    }
  }

  /**
   * The end-of-set filemark a final filemark names must lie after what was read from the start and
   * before the final filemark. (Whether the end of the set there leads to this final filemark, or
   * to an earlier one with other bytes after it, the walk of the end region tells.)
   */
  private checkEndOfSetPointer(endOfSet: number, after: number, finalAt: number): void {
    if (!Number.isSafeInteger(endOfSet) || endOfSet < after || endOfSet >= finalAt || endOfSet % 512 !== 0) {
      throw problem(
        'END_DAMAGED',
        `the final soft filemark (at ${hex(finalAt)}) names the end-of-set filemark at ${hex(endOfSet)}, which cannot be: it must lie after the start of the backup (${hex(after)}) and before the final filemark`,
      );
    }
  }

  /** Where the backup set ends in the file (after its final filemark) against the file's size. */
  private checkFileEnd(end: number): void {
    if (end < this.file.size && this.facts.extraBytes === this.file.size - end) return;
    if (end < this.file.size) {
      this.facts.extraBytes = this.file.size - end;
      throw problem(
        'EXTRA_DATA',
        `the backup set ends at byte ${end}, but the file goes on for ${this.file.size - end} more bytes: data was added after the backup (or another backup set appended), so the file is not the one SQL Server wrote`,
      );
    }
  }

  /**
   * The final filemark: the file's last filemark-sized block, or (when bytes were appended) the last
   * one within FINAL_MARK_SEARCH of the end, which is reported as extra data.
   */
  private async findFinalFilemark(header: HeaderBlocks): Promise<{ at: number; previous: number[] }> {
    const size = this.file.size;
    const fm = header.layout.filemarkBytes;
    const isFinal = (mark: { previous: number[] } | undefined) =>
      mark !== undefined && mark.previous.length >= 2 && mark.previous.at(-1) === header.firstFilemark;
    if (size % fm === 0 && size >= 2 * fm) {
      const last = readSoftFilemark(await this.file.read(size - fm, fm), 0, fm);
      if (isFinal(last)) return { at: size - fm, previous: last!.previous };
    }
    const from = Math.max(0, size - FINAL_MARK_SEARCH);
    const window = await this.file.read(from, size - from);
    for (let at = Math.floor((size - fm) / 512) * 512; at >= from; at -= 512) {
      const mark = readSoftFilemark(window, at - from, fm);
      if (isFinal(mark)) {
        this.facts.extraBytes = size - at - fm;
        this.problems.push({
          code: 'EXTRA_DATA',
          message: `the backup set ends at byte ${at + fm}, but the file goes on for ${size - at - fm} more bytes: data was added after the backup (or another backup set appended), so the file is not the one SQL Server wrote`,
        });
        return { at, previous: mark!.previous };
      }
    }
    const last = window.subarray(Math.max(0, window.length - fm));
    throw problem(
      'TRUNCATED',
      `the file does not end with the soft filemark (SFMB) that ends every backup, and none is in its last ${size - from} bytes: it is cut short or damaged${size % 512 !== 0 ? ' (its size is not a whole number of 512-byte blocks)' : ''} (its last bytes start "${printable(last)}")`,
    );
  }

  /** Bounded, uncompressed: random runs of 8 pages from the data streams. */
  private async samplePages(streams: DataStream[]): Promise<void> {
    const paged = streams.filter((s) => s.pagesAt !== undefined && s.pages > FIRST_PAGES);
    const total = paged.reduce((n, s) => n + s.pages, 0);
    const samples = Math.min(this.options.samples ?? 8, Math.ceil(total / PAGE_SAMPLE_PAGES));
    this.coverage.sampledWindows = 0;
    this.coverage.sampledBytes = 0;
    for (let i = 0; i < samples; i++) {
      let index = Math.floor(this.random() * total);
      // The stream that holds the index-th page of all, and the index within it.
      let stream = paged[0]!;
      for (const s of paged) {
        stream = s;
        if (index < s.pages) break;
        index -= s.pages;
      }
      const first = Math.max(0, Math.min(index, stream.pages - PAGE_SAMPLE_PAGES));
      const count = Math.min(PAGE_SAMPLE_PAGES, stream.pages - first);
      const at = stream.pagesAt! + first * PAGE_BYTES;
      const bytes = await this.file.read(at, count * PAGE_BYTES);
      this.coverage.sampledWindows++;
      this.coverage.sampledBytes += bytes.length;
      for (let p = 0; p < count; p++) addSlot(this.coverage.pages, classifyPage(bytes, p * PAGE_BYTES), at + p * PAGE_BYTES);
    }
  }

  /**
   * Bounded, compressed: random windows of the file between the decoded start and the decoded end.
   * Each must hold a run of this file's chunks, every one of which decodes; pages found in them (at
   * the 8 KiB alignment where at least one page checksum holds) must verify.
   */
  private async sampleChunks(from: number, to: number, signature: Uint8Array): Promise<void> {
    this.coverage.sampledWindows = 0;
    this.coverage.sampledBytes = 0;
    if (to - from < CHUNK_SAMPLE_BYTES) return;
    const samples = Math.min(this.options.samples ?? 8, Math.ceil((to - from) / CHUNK_SAMPLE_BYTES));
    for (let i = 0; i < samples; i++) {
      const at = from + Math.floor(this.random() * (to - from - CHUNK_SAMPLE_BYTES));
      const window = await this.file.read(at, CHUNK_SAMPLE_BYTES);
      this.coverage.sampledWindows++;
      this.coverage.sampledBytes += window.length;
      let run: ReturnType<typeof findChunkRun>;
      try {
        run = findChunkRun(window, at, signature);
      } catch (error) {
        throw containerProblem(error, `the middle of the file (bytes ${hex(at)}–${hex(at + window.length)})`, this.file.size);
      }
      if (run.length === 0) {
        throw problem(
          'DATA_DAMAGED',
          `bytes ${hex(at)}–${hex(at + window.length)} in the middle of the compressed file hold no compressed chunk of this backup: the middle of the file is damaged or is not this backup's`,
        );
      }
      this.coverage.chunksDecoded = (this.coverage.chunksDecoded ?? 0) + run.length;
      const decoded = new Uint8Array(run.reduce((n, c) => n + c.decoded.length, 0));
      let offset = 0;
      for (const c of run) {
        decoded.set(c.decoded, offset);
        offset += c.decoded.length;
      }
      checkDecodedPages(decoded, run[0]!.at, this.coverage.pages);
    }
  }
}

/**
 * Pages in decoded bytes whose place in the stream is unknown: the 512-byte alignment at which the
 * most page checksums hold is taken as the page grid; there, every page that carries a checksum must verify.
 */
function checkDecodedPages(decoded: Uint8Array, chunkAt: number, tally: PageTally): void {
  let best = { alignment: -1, verified: 0 };
  for (let alignment = 0; alignment < PAGE_BYTES; alignment += 512) {
    let verified = 0;
    for (let at = alignment; at + PAGE_BYTES <= decoded.length; at += PAGE_BYTES)
      if (classifyPage(decoded, at).kind === 'verified') verified++;
    if (verified > best.verified) best = { alignment, verified };
  }
  if (best.alignment < 0) return;
  // Offsets of damaged pages are given as the file offset of the chunk run they were decoded from.
  for (let at = best.alignment; at + PAGE_BYTES <= decoded.length; at += PAGE_BYTES) addSlot(tally, classifyPage(decoded, at), chunkAt);
}

/** A full backup's data starts with its primary file's pages 0–9 in order (observed): the file header 1:0 and the boot page 1:9 must be there. */
function checkFirstPages(slots: PageSlot[], data: DataStream): void {
  const formatted = (slot: PageSlot | undefined) => slot !== undefined && (slot.kind === 'verified' || slot.kind === 'noChecksum');
  const [header, boot] = [slots[0], slots[9]];
  if (!formatted(header) || header!.type !== PageType.FILE_HEADER || header!.fileId !== 1 || header!.pageId !== 0) {
    throw problem(
      'DATA_DAMAGED',
      `the data (at ${hex(data.pagesAt!)}) does not start with the database's file header page 1:0 (found ${describeSlot(header)}): the database's pages are missing or damaged`,
    );
  }
  if (data.pages >= FIRST_PAGES && (!formatted(boot) || boot!.type !== PageType.BOOT || boot!.fileId !== 1 || boot!.pageId !== 9)) {
    throw problem(
      'DATA_DAMAGED',
      `the data has no boot page 1:9 where SQL Server puts it (found ${describeSlot(boot)}): the database's pages are missing or damaged`,
    );
  }
}

function describeSlot(slot: PageSlot | undefined): string {
  if (!slot) return 'nothing';
  if (slot.kind === 'zero') return 'zeros';
  if (slot.kind === 'notAPage') return 'no page header';
  return `page ${slot.fileId}:${slot.pageId} of type ${slot.type}`;
}

// ---------------------------------------------------------------------------------------------
// The start of the backup set.

/**
 * TAPE, its filemark, SSET, VOLB, MSCI and the header of the block after it, from the start of the
 * logical stream. (A compressed file stores its first filemark raw at the same offset it has in
 * the decoded stream, 0x400: observed.)
 */
async function readHeaderBlocks(reader: LogicalReader, facts: BackupFileFacts): Promise<HeaderBlocks> {
  // TAPE (MTF 5.3.1).
  let bytes = await reader.read(0, 0x60, 'the TAPE block');
  const tape = readDblkHeader(bytes, 0);
  if (tape?.type !== 'TAPE') throw problem('HEADER_DAMAGED', 'the TAPE block at 0 is damaged (its header checksum is wrong)');
  const blockSize = u16(bytes, 0x54);
  const filemarkUnits = u16(bytes, 0x40);
  const mtfMajor = bytes[0x5d]!;
  if (mtfMajor !== 1) throw problem('HEADER_DAMAGED', `the TAPE block says MTF major version ${mtfMajor}; SQL Server writes 1 (MTF 1.00a)`);
  if (blockSize < 512 || blockSize % 512 !== 0 || blockSize > 65536)
    throw problem('HEADER_DAMAGED', `the TAPE block's logical block size ${blockSize} is not a multiple of 512 up to 65536`);
  if (filemarkUnits < 1 || filemarkUnits > 128)
    throw problem('HEADER_DAMAGED', `the TAPE block's soft filemark block size is ${filemarkUnits} × 512 bytes (1 to 128)`);
  const filemarkBytes = filemarkUnits * 512;
  facts.blockSize = blockSize;
  facts.filemarkBytes = filemarkBytes;
  const tapeBlock = await walkBlock(reader, 0, { setStart: 0, blockSize, filemarkBytes }, ['TAPE'], 'the TAPE block');
  bytes = await blockBytes(reader, tapeBlock, 'the TAPE block');
  facts.softwareName = readTapeAddressString(bytes, 0, 0x50, tape.stringType);
  if (facts.softwareName === undefined || !facts.softwareName.startsWith('Microsoft SQL Server')) {
    throw problem('NOT_A_BACKUP', `the TAPE block names the software "${facts.softwareName ?? '?'}", not Microsoft SQL Server`);
  }
  facts.password.media = u16(bytes, 0x4c) > 0 || u16(bytes, 0x3e) !== 0;
  const mediaSequence = u16(bytes, 0x3c);
  if (mediaSequence !== 1)
    throw problem(
      'HEADER_DAMAGED',
      `this file is medium ${mediaSequence} of its media family: a backup that continues from another file is not whole`,
    );
  const raid = tapeBlock.streams.find((s) => s.header.id === 'RAID');
  if (raid && raid.header.length >= 0x18) {
    const data = raid.at + STREAM_HEADER_BYTES;
    facts.mediaSetId = guid(bytes, data);
    const count = u16(bytes, data + 0x14);
    const number = u16(bytes, data + 0x16);
    if (count < 1 || count > 64 || number < 1 || number > count)
      throw problem('HEADER_DAMAGED', `the TAPE block names family ${number} of ${count}: impossible (1 to 64 families)`);
    facts.family = { count, number };
  }
  // SFMB after TAPE (MTF 5.3.7).
  const firstFilemark = tapeBlock.end;
  const filemark = readSoftFilemark(await reader.read(firstFilemark, filemarkBytes, 'the first soft filemark'), 0, filemarkBytes);
  if (!filemark) throw problem('HEADER_DAMAGED', `no valid soft filemark (SFMB) at ${hex(firstFilemark)} after the TAPE block`);
  const setStart = firstFilemark + filemarkBytes;
  const layout: SetLayout = { setStart, blockSize, filemarkBytes };
  // SSET (MTF 5.3.3).
  const ssetBlock = await walkBlock(reader, setStart, layout, ['SSET'], 'the start of the backup set (SSET)');
  bytes = await blockBytes(reader, ssetBlock, 'the SSET block');
  const attributes = u32(bytes, 0x34);
  if ((attributes & (SsetAttribute.NORMAL | SsetAttribute.COPY | SsetAttribute.DIFFERENTIAL)) === 0) {
    throw problem(
      'HEADER_DAMAGED',
      `the SSET block's attributes ${hex(attributes)} name no known kind of backup set (normal, copy or differential)`,
    );
  }
  facts.password.backupSet = u16(bytes, 0x48) > 0 || u16(bytes, 0x38) !== 0;
  facts.backupSetName = readTapeAddressString(bytes, 0, 0x40, ssetBlock.header.stringType);
  facts.userName = readTapeAddressString(bytes, 0, 0x4c, ssetBlock.header.stringType);
  const setNumber = u16(bytes, 0x3e);
  const ssetDate = readMtfDate(bytes, 0x58);
  const [major, minor] = [bytes[0x5d]!, bytes[0x5e]!];
  const zone = (bytes[0x5f]! << 24) >> 24;
  if (zone >= -48 && zone <= 56) {
    const minutes = Math.abs(zone) * 15;
    facts.timeZone = `${zone < 0 ? '-' : '+'}${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
  }
  facts.copyOnly = (attributes & SsetAttribute.COPY) !== 0 && (attributes & SsetAttribute.DIFFERENTIAL) === 0;
  facts.backupSet = { number: setNumber, attributes };
  // VOLB (MTF 5.3.6).
  const volb = await walkBlock(reader, ssetBlock.end, layout, ['VOLB'], 'the volume block (VOLB)');
  bytes = await blockBytes(reader, volb, 'the VOLB block');
  facts.machine = readTapeAddressString(bytes, 0, 0x40, volb.header.stringType);
  // MSCI: SQL Server's configuration, an MQCI stream holding SCIN.
  const msci = await walkBlock(reader, volb.end, layout, ['MSCI'], 'the SQL Server block (MSCI)');
  const scin = readScin(await blockBytes(reader, msci, 'the MSCI block'), msci, 'the MSCI block');
  // The block after MSCI: data (MSDA) for full and differential backups, log (MSTL) for log backups (observed).
  const dataAt = msci.end;
  const next = readDblkHeader(await reader.read(dataAt, DBLK_HEADER_BYTES, 'the block after MSCI'), 0);
  if (!next || !['MSDA', 'MSTL'].includes(next.type))
    throw problem('HEADER_DAMAGED', `no data (MSDA) or log (MSTL) block at ${hex(dataAt)} after the SQL Server block`);

  facts.database = scin.database;
  facts.server = scin.server;
  facts.files = scin.files;
  facts.sqlVersion = scin.version;
  facts.backupStartedAt = ssetDate;
  facts.databaseCreatedAt = scin.createdAt;
  if (ssetDate !== scin.backupAt)
    throw problem(
      'HEADER_DAMAGED',
      `the SSET block dates the backup ${ssetDate ?? '(no date)'}, the SQL Server block ${scin.backupAt ?? '(no date)'}`,
    );
  if (scin.kind === 2) {
    if (next.type !== 'MSTL') throw problem('HEADER_DAMAGED', 'the SQL Server block says log backup, but data (MSDA) follows it');
    facts.backupType = 'log';
    facts.copyOnly = (attributes & SsetAttribute.COPY) !== 0;
  } else {
    if (next.type !== 'MSDA') throw problem('HEADER_DAMAGED', 'the SQL Server block says database backup, but no data (MSDA) follows it');
    facts.backupType = (attributes & SsetAttribute.DIFFERENTIAL) !== 0 ? 'differential' : 'full';
  }
  if (`${major}.${minor}` !== scin.version.split('.').slice(0, 2).join('.')) {
    throw problem('HEADER_DAMAGED', `the SSET block says SQL Server ${major}.${minor}, the SQL Server block ${scin.version}`);
  }
  const blocks = facts.coverage.blocks;
  for (const type of ['TAPE', 'SFMB', 'SSET', 'VOLB', 'MSCI']) blocks[type] = (blocks[type] ?? 0) + 1;
  return { layout, set: { attributes, setNumber, date: ssetDate }, scin, firstFilemark, dataAt };
}

function guid(bytes: Uint8Array, at: number): string {
  const h = (from: number, to: number, reverse: boolean) => {
    const part = [...bytes.subarray(at + from, at + to)];
    return (reverse ? part.reverse() : part).map((b) => b.toString(16).padStart(2, '0')).join('');
  };
  return `${h(0, 4, true)}-${h(4, 6, true)}-${h(6, 8, true)}-${h(8, 10, false)}-${h(10, 16, false)}`.toUpperCase();
}
