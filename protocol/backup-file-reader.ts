import {
  alignStream, BlockAttribute, DBLK_HEADER_BYTES, type DblkHeader, fourCC, readDblkHeader, readMtfDate, readStreamHeader, readString,
  readTapeAddressString, STREAM_HEADER_BYTES, SsetAttribute, type StreamHeader, u16, u32, u64,
} from './mtf-blocks';
import { type ChunkHeader, ContainerError, decodeChunk, FIRST_CHUNK_OFFSET, MSSQLBAK_MAGIC, readChunkHeader, sameSignature, CHUNK_HEADER_BYTES } from './mssql-backup-container';

/**
 * Reads what a SQL Server backup file is, without SQL Server and without reading it whole: the
 * Microsoft Tape Format (MTF 1.00a) descriptor blocks at its start and the end of the backup set at
 * its end. One reader for the validator (S3 ranged reads), the `so-backup verify-backup` command
 * (a local file) and the SQL Server stand-in (RESTORE HEADERONLY).
 *
 * Start of the file (logical MTF stream; for a compressed file, the decoded chunks):
 *   0x000 TAPE  media header (spec 5.3.1): software name, logical block size, MTF major version 1,
 *               media password; its `RAID` stream names the media set and the media families.
 *   0x400 SFMB  soft filemark (spec 5.3.7; 512 bytes, the TAPE block's soft filemark block size × 512).
 *   0x600 SSET  start of the backup set (spec 5.3.3): attributes (normal / copy / differential), backup set
 *               name, password, user, date, SQL Server major and minor version, time zone.
 *         VOLB  volume (spec 5.3.6): machine and device.
 *         MSCI  SQL Server's own block: its `MQCI` stream starts with the `SCIN` structure.
 *         MSDA  (full and differential: the data) or MSTL (log backups: the log) follows.
 * End of the file (observed on every fixture, as MTF 1.00a describes an end of set):
 *         MSLS  SQL Server's closing block, a second `MQCI`/`SCIN` for the same backup.
 *         SFMB  filemark; then ESET (spec 5.3.4: set number, attributes, date as in the SSET), the
 *               on-tape catalog (`TSMP` stream), a second ESET, and a last SFMB: the file's final 512 bytes.
 *
 * Facts that are observed on real backups (shared/fixtures/mssql, SQL Server 10.50 and 12.0) rather
 * than specified, each marked "observed" where it is used:
 *  - each block's streams end exactly at a logical-block boundary (an `SPAD` stream pads to it);
 *  - SFMB: UINT32 at 0x3C is the offset (0x48) of an array of UINT64 byte offsets of the earlier
 *    filemarks, newest first (MTF 1.00a has UINT32 physical block addresses at 0x3C);
 *  - SCIN (inside MQCI): 0x0C UINT32 1 = database, 2 = log; 0x18 UINT16 build, 0x1A minor, 0x1B major
 *    version; 0x48 and 0x4D MTF dates (database created; backup taken, equal to the SSET's); 0x68 and 0x6C UINT16 size / UINT16
 *    offset (from SCIN) of the UTF-16 database and server names;
 *  - TAPE's `RAID` stream: 16-byte media set GUID first. The media family count and this file's family
 *    number are taken as the UINT16s at 0x14 and 0x16 of the stream: every single-file fixture has 1
 *    in both, SQL Server lists FamilyCount then FamilySequenceNumber after MediaSetId in RESTORE
 *    LABELONLY, but no striped real backup was available to confirm the places.
 *  - Copy-only is the SSET's COPY attribute (MTF: a full set that leaves later differentials alone),
 *    by the specification's meaning; no copy-only real backup was available to confirm it.
 */

/** Random access to a backup file. The caller owns the I/O: a file handle, S3 ranged GETs, a Buffer. */
export interface ByteSource {
  /** The file's size in bytes. */
  readonly size: number;
  /** Exactly `length` bytes from `offset` (the reader never asks past `size`). */
  read(offset: number, length: number): Promise<Uint8Array>;
}

/** A ByteSource over bytes in memory. */
export function bufferSource(bytes: Uint8Array): ByteSource {
  return { size: bytes.length, read: async (offset, length) => bytes.subarray(offset, offset + length) };
}

export type BackupType = 'full' | 'differential' | 'log';

/** What the file says about itself; a field is absent when the file could not be read that far. */
export interface BackupFileFacts {
  /** MTF: an uncompressed backup (starts `TAPE`); MSSQLBAK: compressed; unknown: neither. */
  format: 'MTF' | 'MSSQLBAK' | 'unknown';
  compressed: boolean;
  /** File size in bytes. */
  size: number;
  softwareName?: string;
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
  /** Media families (stripes): a backup written to N files has count N; this file is family `number`. */
  family?: { count: number; number: number };
  /** Password protection, per MTF: a media password (TAPE) and a backup set password (SSET). */
  password: { media: boolean; backupSet: boolean };
  /** The end of the backup set was found at the end of the file and agrees with its start. */
  complete: boolean;
}

export type BackupFileProblemCode =
  | 'NOT_A_BACKUP' | 'TRUNCATED' | 'HEADER_DAMAGED' | 'END_DAMAGED' | 'END_INCONSISTENT' | 'COMPRESSED_UNREADABLE' | 'ABORTED';

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

/** Bytes read from the start (more when the header blocks need it, up to HEAD_LIMIT). */
const HEAD_BYTES = 64 * 1024;
const HEAD_LIMIT = 8 * 1024 * 1024;
/** How far before the end-of-set filemark the closing MSLS block is looked for. */
const MSLS_WINDOW = 1024 * 1024;
const SOFT_FILEMARK_BYTES = 512;
const OBSERVED_SFMB_ARRAY_OFFSET = 0x48;

class ReadProblem extends Error {
  constructor(readonly code: BackupFileProblemCode, message: string) {
    super(message);
  }
}
const problem = (code: BackupFileProblemCode, message: string) => new ReadProblem(code, message);
const hex = (n: number) => `0x${n.toString(16)}`;

/**
 * Reads a backup file's header and end. Never throws for what the file holds (every defect is a
 * problem in the report, with the offset and what was expected); only errors of `source.read` propagate.
 */
export async function readBackupFile(source: ByteSource): Promise<BackupFileReport> {
  const facts: BackupFileFacts = { format: 'unknown', compressed: false, size: source.size, password: { media: false, backupSet: false }, complete: false };
  const problems: BackupFileProblem[] = [];
  const head = await source.read(0, Math.min(source.size, HEAD_BYTES));
  if (source.size >= 8 && new TextDecoder('latin1').decode(head.subarray(0, 8)) === MSSQLBAK_MAGIC) {
    facts.format = 'MSSQLBAK';
    facts.compressed = true;
  } else if (source.size >= 4 && fourCC(head, 0) === 'TAPE') {
    facts.format = 'MTF';
  } else {
    problems.push({ code: 'NOT_A_BACKUP', message: `not a SQL Server backup: it starts ${describeStart(head)}, not "TAPE" (Microsoft Tape Format) or "MSSQLBAK" (a compressed backup)` });
    return { facts, problems };
  }
  const stream = facts.compressed ? new CompressedStream(source, head) : new PlainStream(source, head);
  let header: HeaderBlocks | undefined;
  try {
    header = await readHeaderBlocks(stream, facts);
  } catch (error) {
    if (!(error instanceof ReadProblem)) throw error;
    problems.push({ code: error.code, message: error.message });
  }
  if (header) {
    try {
      await readEndOfSet(source, stream, header, facts);
      facts.complete = true;
    } catch (error) {
      if (!(error instanceof ReadProblem)) throw error;
      problems.push({ code: error.code, message: error.message });
    }
  }
  return { facts, problems };
}

/**
 * Whether one file is a usable backup: readable, complete, a whole backup set (not one stripe of
 * several), not password-protected, of the expected type (full by default) and database.
 */
export function judgeBackupFile(report: BackupFileReport, expected: BackupExpectation = {}): BackupVerdict {
  const reasons = report.problems.map((p) => p.message);
  const facts = report.facts;
  if (reasons.length === 0 && facts.family && facts.family.count > 1) {
    reasons.push(`it is family ${facts.family.number} of ${facts.family.count} of a striped backup: the backup set is incomplete without the other ${facts.family.count - 1} file(s)`);
  }
  reasons.push(...judgeContent(facts, expected));
  return { ok: reasons.length === 0, reasons };
}

/**
 * Whether several files are together one usable backup: the media families (stripes) of one media
 * set, each readable and complete, every family present once.
 */
export function judgeBackupSet(reports: BackupFileReport[], expected: BackupExpectation = {}): BackupVerdict {
  if (reports.length === 1) return judgeBackupFile(reports[0]!, expected);
  const reasons = reports.flatMap((r, i) => r.problems.map((p) => `file ${i + 1}: ${p.message}`));
  if (reasons.length > 0) return { ok: false, reasons };
  const sets = new Set(reports.map((r) => r.facts.mediaSetId));
  if (sets.size > 1) reasons.push(`the files belong to ${sets.size} different media sets: they are not the stripes of one backup`);
  const count = reports[0]!.facts.family?.count ?? 1;
  const numbers = reports.map((r) => r.facts.family?.number ?? 1);
  if (reports.some((r) => (r.facts.family?.count ?? 1) !== count)) reasons.push('the files disagree about how many media families the backup has');
  const missing = Array.from({ length: count }, (_, i) => i + 1).filter((n) => !numbers.includes(n));
  const repeated = numbers.filter((n, i) => numbers.indexOf(n) !== i);
  if (repeated.length > 0) reasons.push(`family ${[...new Set(repeated)].join(', ')} is given more than once`);
  if (missing.length > 0) reasons.push(`the backup has ${count} media families; family ${missing.join(', ')} is missing: the backup set is incomplete`);
  if (reports.length > count) reasons.push(`${reports.length} files given for a backup of ${count} media families`);
  reasons.push(...judgeContent(reports[0]!.facts, expected));
  return { ok: reasons.length === 0, reasons };
}

function judgeContent(facts: BackupFileFacts, expected: BackupExpectation): string[] {
  const reasons: string[] = [];
  const type = expected.backupType ?? 'full';
  if (facts.backupType !== undefined && facts.backupType !== type) {
    reasons.push(`it is a ${facts.backupType === 'log' ? 'transaction log' : facts.backupType} backup, not a ${type} one${type === 'full' ? ': it cannot be restored on its own' : ''}`);
  }
  if (expected.database !== undefined && facts.database !== undefined && facts.database !== expected.database) {
    reasons.push(`it is a backup of database "${facts.database}", not "${expected.database}"`);
  }
  if (facts.password.media || facts.password.backupSet) {
    reasons.push(`it is protected by a ${facts.password.media ? 'media' : 'backup set'} password: a restore needs that password`);
  }
  return reasons;
}

function describeStart(head: Uint8Array): string {
  if (head.length === 0) return 'empty (0 bytes)';
  const first = head.subarray(0, 8);
  const printable = [...first].every((b) => b >= 0x20 && b < 0x7f);
  return printable ? `"${new TextDecoder('latin1').decode(first)}"` : `with bytes ${[...first].map((b) => b.toString(16).padStart(2, '0')).join(' ')}`;
}

// ---------------------------------------------------------------------------------------------
// The logical MTF stream: the file itself, or the decoded chunks of a compressed file.

interface LogicalStream {
  /** At least `length` bytes of the MTF stream from 0; a ReadProblem when the stream (or its first segment) is shorter. */
  prefix(length: number, what: string): Promise<Uint8Array>;
}

class PlainStream implements LogicalStream {
  constructor(private readonly source: ByteSource, private bytes: Uint8Array) {}

  async prefix(length: number, what: string): Promise<Uint8Array> {
    if (length > this.source.size) throw problem('TRUNCATED', `the file ends at ${this.source.size} bytes, inside ${what} (needs ${length} bytes)`);
    if (length > HEAD_LIMIT) throw problem('HEADER_DAMAGED', `${what} would reach past ${HEAD_LIMIT} bytes from the start: the header blocks are damaged`);
    if (this.bytes.length < length) this.bytes = await this.source.read(0, Math.min(this.source.size, Math.max(length, this.bytes.length * 2)));
    return this.bytes;
  }
}

/**
 * The MTF stream of a compressed file, decoded from the start on demand: the TAPE chunk at 0x1E0,
 * the raw SFMB at 0x400, then the chunks of the first data segment (observed framing, see
 * mssql-backup-container.ts).
 */
class CompressedStream implements LogicalStream {
  private readonly parts: Uint8Array[] = [];
  private decoded = 0;
  private container: Uint8Array;
  /** Next chunk position in the file; undefined once the first data segment has ended. */
  private next: number | undefined;
  signature?: Uint8Array;

  constructor(private readonly source: ByteSource, head: Uint8Array) {
    this.container = head;
  }

  private async fileBytes(end: number): Promise<void> {
    if (end <= this.container.length) return;
    if (end > this.source.size) throw problem('TRUNCATED', `the compressed file ends at ${this.source.size} bytes, inside the chunk that needs bytes up to ${end}`);
    this.container = await this.source.read(0, Math.min(this.source.size, Math.max(end, this.container.length * 2)));
  }

  private async chunkAt(at: number): Promise<{ chunk: ChunkHeader; data: Uint8Array }> {
    await this.fileBytes(at + CHUNK_HEADER_BYTES);
    const chunk = readChunkHeader(this.container, at);
    await this.fileBytes(at + CHUNK_HEADER_BYTES + chunk.compressedSize);
    return { chunk, data: decodeChunk(this.container, chunk) };
  }

  private async start(): Promise<void> {
    const { chunk, data } = await this.chunkAt(FIRST_CHUNK_OFFSET);
    this.signature = chunk.signature;
    if (data.length !== 1024) throw problem('COMPRESSED_UNREADABLE', `the first compressed chunk decodes to ${data.length} bytes, not the 1,024-byte TAPE block`);
    const end = chunk.at + CHUNK_HEADER_BYTES + chunk.compressedSize;
    if (end > 0x400) throw problem('COMPRESSED_UNREADABLE', `the first compressed chunk runs to ${hex(end)}, over the soft filemark at 0x400`);
    await this.fileBytes(0x600);
    this.parts.push(data, this.container.slice(0x400, 0x600));
    this.decoded = 0x600;
    this.next = 0x600;
  }

  async prefix(length: number, what: string): Promise<Uint8Array> {
    if (length > HEAD_LIMIT) throw problem('HEADER_DAMAGED', `${what} would reach past ${HEAD_LIMIT} decoded bytes: the header blocks are damaged`);
    try {
      if (this.parts.length === 0) await this.start();
      while (this.decoded < length) {
        if (this.next === undefined || this.next + CHUNK_HEADER_BYTES > this.source.size) {
          throw problem('TRUNCATED', `the compressed stream ends after ${this.decoded} decoded bytes, inside ${what}`);
        }
        const { chunk, data } = await this.chunkAt(this.next);
        if (!sameSignature(chunk.signature, this.signature!)) throw problem('COMPRESSED_UNREADABLE', `the compressed chunk at ${hex(chunk.at)} does not belong to this file (its bytes 8–23 differ from the first chunk's)`);
        this.parts.push(data);
        this.decoded += data.length;
        this.next = chunk.at + CHUNK_HEADER_BYTES + chunk.compressedSize;
      }
    } catch (error) {
      if (error instanceof ContainerError) throw problem(error.code === 'CHUNK_UNDECODABLE' ? 'COMPRESSED_UNREADABLE' : 'COMPRESSED_UNREADABLE', error.message);
      throw error;
    }
    if (this.parts.length > 1) this.parts.splice(0, this.parts.length, concat(this.parts));
    return this.parts[0]!;
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The start of the backup set.

interface ScinFacts {
  database: string;
  server: string;
  kind: number;
  version: string;
  createdAt?: string;
  backupAt?: string;
}

interface HeaderBlocks {
  blockSize: number;
  sset: { attributes: number; setNumber: number; date?: string };
  scin: ScinFacts;
}

interface WalkedBlock {
  header: DblkHeader;
  at: number;
  end: number;
  streams: Array<{ at: number; header: StreamHeader }>;
}

/**
 * Walks one descriptor block and its stream chain ([MTF 5.1, 5.2]); the block ends where a stream
 * ends on a logical-block boundary (observed: SPAD pads to it) and the next block begins.
 */
async function walkBlock(stream: LogicalStream, at: number, setStart: number, blockSize: number, expected: string[], what: string): Promise<WalkedBlock> {
  let bytes = await stream.prefix(at + DBLK_HEADER_BYTES, what);
  const header = readDblkHeader(bytes, at);
  if (!header) throw problem('HEADER_DAMAGED', `${what}: no valid MTF block header at ${hex(at)} (found "${printable(bytes, at)}", or its header checksum is wrong)`);
  if (!expected.includes(header.type)) throw problem('HEADER_DAMAGED', `${what}: expected ${expected.join(' or ')} at ${hex(at)}, found ${header.type}`);
  const streams: WalkedBlock['streams'] = [];
  let position = at + header.firstEvent;
  if (header.firstEvent < DBLK_HEADER_BYTES) throw problem('HEADER_DAMAGED', `${what}: the ${header.type} block at ${hex(at)} points its first stream into its own header`);
  for (let guard = 0; guard < 64; guard++) {
    bytes = await stream.prefix(position + STREAM_HEADER_BYTES, what);
    const streamHeader = readStreamHeader(bytes, position);
    if (!streamHeader) throw problem('HEADER_DAMAGED', `${what}: the ${header.type} block at ${hex(at)} has a damaged stream header at ${hex(position)}`);
    streams.push({ at: position, header: streamHeader });
    const end = position + STREAM_HEADER_BYTES + streamHeader.length;
    if (!Number.isFinite(end)) throw problem('HEADER_DAMAGED', `${what}: a stream length at ${hex(position)} is impossible`);
    if ((end - setStart) % blockSize === 0 && streamHeader.id === 'SPAD') return { header, at, end, streams };
    position = alignStream(end);
  }
  throw problem('HEADER_DAMAGED', `${what}: the ${header.type} block at ${hex(at)} has no end (no SPAD stream reaching a block boundary)`);
}

function printable(bytes: Uint8Array, at: number): string {
  return [...bytes.subarray(at, at + 4)].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
}

async function readHeaderBlocks(stream: LogicalStream, facts: BackupFileFacts): Promise<HeaderBlocks> {
  // TAPE (MTF 5.3.1).
  let bytes = await stream.prefix(1024, 'the TAPE block');
  const tape = readDblkHeader(bytes, 0);
  if (!tape || tape.type !== 'TAPE') throw problem('HEADER_DAMAGED', 'the TAPE block at 0 is damaged (its header checksum is wrong)');
  facts.softwareName = readTapeAddressString(bytes, 0, 0x50, tape.stringType);
  const blockSize = u16(bytes, 0x54);
  const mtfMajor = bytes[0x5d]!;
  if (mtfMajor !== 1) throw problem('HEADER_DAMAGED', `the TAPE block says MTF major version ${mtfMajor}; SQL Server writes 1 (MTF 1.00a)`);
  if (blockSize < 512 || blockSize % 512 !== 0 || blockSize > 65536) throw problem('HEADER_DAMAGED', `the TAPE block's logical block size ${blockSize} is not a multiple of 512`);
  if (facts.softwareName === undefined || !facts.softwareName.startsWith('Microsoft SQL Server')) {
    throw problem('NOT_A_BACKUP', `the TAPE block names the software "${facts.softwareName ?? '?'}", not Microsoft SQL Server`);
  }
  facts.password.media = u16(bytes, 0x4c) > 0 || u16(bytes, 0x3e) !== 0;
  const mediaSequence = u16(bytes, 0x3c);
  if (mediaSequence !== 1) throw problem('HEADER_DAMAGED', `this file is medium ${mediaSequence} of its media family: a backup that continues from another file is not whole`);
  const tapeBlock = await walkBlock(stream, 0, 0, blockSize, ['TAPE'], 'the TAPE block');
  const raid = tapeBlock.streams.find((s) => s.header.id === 'RAID');
  if (raid && raid.header.length >= 0x18) {
    bytes = await stream.prefix(raid.at + STREAM_HEADER_BYTES + raid.header.length, 'the TAPE block');
    const data = raid.at + STREAM_HEADER_BYTES;
    facts.mediaSetId = guid(bytes, data);
    const count = u16(bytes, data + 0x14);
    const number = u16(bytes, data + 0x16);
    if (count < 1 || count > 64 || number < 1 || number > count) throw problem('HEADER_DAMAGED', `the TAPE block names family ${number} of ${count}: impossible (1 to 64 families)`);
    facts.family = { count, number };
  }
  // SFMB after TAPE (MTF 5.3.7).
  const filemarkAt = tapeBlock.end;
  bytes = await stream.prefix(filemarkAt + SOFT_FILEMARK_BYTES, 'the first soft filemark');
  const filemark = readDblkHeader(bytes, filemarkAt);
  if (!filemark || filemark.type !== 'SFMB') throw problem('HEADER_DAMAGED', `no valid soft filemark (SFMB) at ${hex(filemarkAt)} after the TAPE block`);
  const setStart = filemarkAt + SOFT_FILEMARK_BYTES;
  // SSET (MTF 5.3.3).
  const sset = await walkBlock(stream, setStart, setStart, blockSize, ['SSET'], 'the start of the backup set (SSET)');
  bytes = await stream.prefix(sset.end, 'the SSET block');
  const s = setStart;
  const attributes = u32(bytes, s + 0x34);
  if ((attributes & (SsetAttribute.NORMAL | SsetAttribute.COPY | SsetAttribute.DIFFERENTIAL)) === 0) {
    throw problem('HEADER_DAMAGED', `the SSET block's attributes ${hex(attributes)} name no known kind of backup set (normal, copy or differential)`);
  }
  facts.password.backupSet = u16(bytes, s + 0x48) > 0 || u16(bytes, s + 0x38) !== 0;
  facts.backupSetName = readTapeAddressString(bytes, s, 0x40, sset.header.stringType);
  facts.userName = readTapeAddressString(bytes, s, 0x4c, sset.header.stringType);
  const setNumber = u16(bytes, s + 0x3e);
  const ssetDate = readMtfDate(bytes, s + 0x58);
  const [major, minor] = [bytes[s + 0x5d]!, bytes[s + 0x5e]!];
  const zone = (bytes[s + 0x5f]! << 24) >> 24;
  if (zone >= -48 && zone <= 56) {
    const minutes = Math.abs(zone) * 15;
    facts.timeZone = `${zone < 0 ? '-' : '+'}${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
  }
  facts.copyOnly = (attributes & SsetAttribute.COPY) !== 0 && (attributes & SsetAttribute.DIFFERENTIAL) === 0;
  // VOLB (MTF 5.3.6).
  const volb = await walkBlock(stream, sset.end, setStart, blockSize, ['VOLB'], 'the volume block (VOLB)');
  bytes = await stream.prefix(volb.end, 'the VOLB block');
  facts.machine = readTapeAddressString(bytes, volb.at, 0x40, volb.header.stringType);
  // MSCI: SQL Server's configuration, an MQCI stream holding SCIN.
  const msci = await walkBlock(stream, volb.end, setStart, blockSize, ['MSCI'], 'the SQL Server block (MSCI)');
  bytes = await stream.prefix(msci.end, 'the MSCI block');
  const scin = readScin(bytes, msci, 'the MSCI block');
  // The block after MSCI: data (MSDA) for full and differential backups, log (MSTL) for log backups (observed).
  const nextAt = msci.end;
  bytes = await stream.prefix(nextAt + DBLK_HEADER_BYTES, 'the block after MSCI');
  const next = readDblkHeader(bytes, nextAt);
  if (!next || !['MSDA', 'MSTL'].includes(next.type)) throw problem('HEADER_DAMAGED', `no data (MSDA) or log (MSTL) block at ${hex(nextAt)} after the SQL Server block`);

  facts.database = scin.database;
  facts.server = scin.server;
  facts.sqlVersion = scin.version;
  facts.backupStartedAt = ssetDate;
  facts.databaseCreatedAt = scin.createdAt;
  if (ssetDate !== scin.backupAt) throw problem('HEADER_DAMAGED', `the SSET block dates the backup ${ssetDate ?? '(no date)'}, the SQL Server block ${scin.backupAt ?? '(no date)'}`);
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
  return { blockSize, sset: { attributes, setNumber, date: ssetDate }, scin };
}

/** SCIN at the start of a block's MQCI stream (observed layout, see the module comment). */
function readScin(bytes: Uint8Array, block: WalkedBlock, what: string): ScinFacts {
  const mqci = block.streams.find((s) => s.header.id === 'MQCI');
  if (!mqci) throw problem('HEADER_DAMAGED', `${what} at ${hex(block.at)} has no MQCI stream`);
  const at = mqci.at + STREAM_HEADER_BYTES;
  if (fourCC(bytes, at) !== 'SCIN') throw problem('HEADER_DAMAGED', `${what}: the MQCI stream at ${hex(mqci.at)} does not start with SCIN`);
  const length = u32(bytes, at + 4);
  if (length < 0x70 || length > mqci.header.length) throw problem('HEADER_DAMAGED', `${what}: the SCIN structure claims ${length} bytes in a ${mqci.header.length}-byte stream`);
  const scin = bytes.subarray(at, at + length);
  const name = (pointer: number, label: string) => {
    const size = u16(scin, pointer);
    const offset = u16(scin, pointer + 2);
    const text = readString(scin, offset, size);
    if (!text || size > 256) throw problem('HEADER_DAMAGED', `${what}: the ${label} name in SCIN is missing or damaged (size ${size} at offset ${offset})`);
    return text;
  };
  const kind = u32(scin, 0x0c);
  if (kind !== 1 && kind !== 2) throw problem('HEADER_DAMAGED', `${what}: SCIN names backup kind ${kind} (1 database, 2 log)`);
  return {
    database: name(0x68, 'database'), server: name(0x6c, 'server'), kind,
    version: `${scin[0x1b]}.${scin[0x1a]}.${u16(scin, 0x18)}`, createdAt: readMtfDate(scin, 0x48), backupAt: readMtfDate(scin, 0x4d),
  };
}

function guid(bytes: Uint8Array, at: number): string {
  const h = (from: number, to: number, reverse: boolean) => {
    const part = [...bytes.subarray(at + from, at + to)];
    return (reverse ? part.reverse() : part).map((b) => b.toString(16).padStart(2, '0')).join('');
  };
  return `${h(0, 4, true)}-${h(4, 6, true)}-${h(6, 8, true)}-${h(8, 10, false)}-${h(10, 16, false)}`.toUpperCase();
}

// ---------------------------------------------------------------------------------------------
// The end of the backup set: a ranged read of the tail.

async function readEndOfSet(source: ByteSource, stream: LogicalStream, header: HeaderBlocks, facts: BackupFileFacts): Promise<void> {
  const size = source.size;
  if (size % SOFT_FILEMARK_BYTES !== 0) {
    throw problem('TRUNCATED', `the file is ${size} bytes, not a whole number of 512-byte blocks: it was cut short (SQL Server ends every backup on a block boundary)`);
  }
  const last = await source.read(size - SOFT_FILEMARK_BYTES, SOFT_FILEMARK_BYTES);
  const finalMark = readFilemark(last, 0);
  if (!finalMark) throw problem('TRUNCATED', `the last 512 bytes are not the soft filemark (SFMB) that ends every backup: the file is cut short or damaged (found "${printable(last, 0)}")`);
  const previous = finalMark.previous[0];
  if (finalMark.previous.length < 2 || previous === undefined || finalMark.previous.at(-1) !== 0x400 || previous % SOFT_FILEMARK_BYTES !== 0 || previous <= 0x400 || previous >= size - SOFT_FILEMARK_BYTES) {
    throw problem('END_DAMAGED', `the final soft filemark does not point back to the end-of-set filemark and the one at 0x400 (it lists ${finalMark.previous.map(hex).join(', ') || 'none'})`);
  }
  const windowStart = Math.max(0, previous - MSLS_WINDOW);
  const tail = await source.read(windowStart, size - windowStart);
  const at = (offset: number) => offset - windowStart;
  const endMark = readFilemark(tail, at(previous));
  if (!endMark || endMark.previous[0] !== 0x400) throw problem('END_DAMAGED', `no valid end-of-set soft filemark at ${hex(previous)}`);
  // The end of set itself, decoded when compressed.
  const endRegion = facts.compressed
    ? decodeSegment(tail, windowStart, previous + SOFT_FILEMARK_BYTES, size - SOFT_FILEMARK_BYTES, (stream as CompressedStream).signature!)
    : tail.subarray(at(previous + SOFT_FILEMARK_BYTES), at(size - SOFT_FILEMARK_BYTES));
  checkEndRegion(endRegion, header);
  // MSLS, the closing SQL Server block, right before the end-of-set filemark.
  const before = facts.compressed
    ? decodeChunksBefore(tail, windowStart, previous, (stream as CompressedStream).signature!)
    : tail.subarray(0, at(previous));
  const msls = findClosingBlock(before, header.blockSize);
  if (!msls) throw problem('END_DAMAGED', `no closing SQL Server block (MSLS) before the end of the backup set at ${hex(previous)}: the end does not belong to this backup or is damaged`);
  const scin = readScin(before, msls, 'the closing SQL Server block (MSLS)');
  for (const [label, start, end] of [['database', header.scin.database, scin.database], ['server', header.scin.server, scin.server], ['SQL Server version', header.scin.version, scin.version]] as const) {
    if (start !== end) throw problem('END_INCONSISTENT', `the end of the file is from another backup: its ${label} is "${end}", the start's is "${start}"`);
  }
  if (scin.kind !== header.scin.kind || scin.backupAt !== header.scin.backupAt || scin.createdAt !== header.scin.createdAt) {
    throw problem('END_INCONSISTENT', `the end of the file is from another backup: it was taken ${scin.backupAt ?? '?'} (${scin.kind === 2 ? 'log' : 'database'}), the start says ${header.scin.backupAt ?? '?'} (${header.scin.kind === 2 ? 'log' : 'database'})`);
  }
}

function readFilemark(bytes: Uint8Array, at: number): { previous: number[] } | undefined {
  const header = readDblkHeader(bytes, at);
  if (!header || header.type !== 'SFMB' || at + SOFT_FILEMARK_BYTES > bytes.length) return undefined;
  const entries = u32(bytes, at + 0x34);
  const used = u32(bytes, at + 0x38);
  const arrayAt = u32(bytes, at + 0x3c);
  if (arrayAt !== OBSERVED_SFMB_ARRAY_OFFSET || used > entries || arrayAt + used * 8 > SOFT_FILEMARK_BYTES) return undefined;
  return { previous: Array.from({ length: used }, (_, i) => u64(bytes, at + arrayAt + 8 * i)) };
}

/** ESET, the on-tape catalog, ESET (MTF 5.3.4, 6): both ESETs must close this set and neither may say it was aborted. */
function checkEndRegion(region: Uint8Array, header: HeaderBlocks): void {
  const esets: Array<{ at: number; header: DblkHeader }> = [];
  let position = 0;
  for (let guard = 0; position < region.length && guard < 256; guard++) {
    // On a block boundary an ESET may start; anything else there is a stream of the catalog (TSMP, SPAD).
    const block = position % header.blockSize === 0 ? readDblkHeader(region, position) : undefined;
    if (block?.type === 'ESET') {
      esets.push({ at: position, header: block });
      position += block.firstEvent;
      continue;
    }
    const stream = readStreamHeader(region, position);
    if (!stream) {
      throw problem('END_DAMAGED', block ? `a ${block.type} block in the end of the backup set, where only ESET belongs` : `the end of the backup set is damaged at its byte ${position} (no block or stream header)`);
    }
    position = alignStream(position + STREAM_HEADER_BYTES + stream.length);
  }
  if (position !== region.length) throw problem('END_DAMAGED', `the end of the backup set overruns its ${region.length} bytes`);
  if (esets.length < 2 || esets[0]!.at !== 0) throw problem('END_DAMAGED', `the end of the backup set holds ${esets.length} ESET block(s) where SQL Server writes two, the first at its start`);
  for (const eset of esets) {
    if (eset.header.attributes & BlockAttribute.ESET_ABORTED) throw problem('ABORTED', 'the end of the backup set says the backup was aborted');
    const attributes = u32(region, eset.at + 0x34);
    const setNumber = u16(region, eset.at + 0x4e);
    const date = readMtfDate(region, eset.at + 0x50);
    if (attributes !== header.sset.attributes || setNumber !== header.sset.setNumber || date !== header.sset.date) {
      throw problem('END_INCONSISTENT', `the end of the backup set (set ${setNumber}, attributes ${hex(attributes)}, ${date ?? 'no date'}) does not close the set the file starts (set ${header.sset.setNumber}, attributes ${hex(header.sset.attributes)}, ${header.sset.date ?? 'no date'})`);
    }
  }
}

/** The last MSLS block in `bytes` whose stream chain ends exactly at the end of `bytes`. */
function findClosingBlock(bytes: Uint8Array, blockSize: number): WalkedBlock | undefined {
  for (let at = bytes.length - SOFT_FILEMARK_BYTES; at >= 0; at -= SOFT_FILEMARK_BYTES) {
    const header = readDblkHeader(bytes, at);
    if (!header || header.type !== 'MSLS') continue;
    const streams: WalkedBlock['streams'] = [];
    let position = at + header.firstEvent;
    for (let guard = 0; guard < 64 && position < bytes.length; guard++) {
      const stream = readStreamHeader(bytes, position);
      if (!stream) break;
      streams.push({ at: position, header: stream });
      const end = position + STREAM_HEADER_BYTES + stream.length;
      if (stream.id === 'SPAD' && end === bytes.length && (end - at) % Math.min(blockSize, SOFT_FILEMARK_BYTES) === 0) return { header, at, end, streams };
      position = alignStream(end);
    }
    return undefined;
  }
  return undefined;
}

/** Decodes the chunks that fill [start, end) of a compressed file; what follows the last one must be zeros. */
function decodeSegment(tail: Uint8Array, base: number, start: number, end: number, signature: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  let position = start;
  try {
    while (position + CHUNK_HEADER_BYTES <= end && tail[position - base] === 0x21) {
      const chunk = readChunkHeader(tail, position, base);
      if (!sameSignature(chunk.signature, signature)) throw problem('COMPRESSED_UNREADABLE', `the compressed chunk at ${hex(position)} does not belong to this file`);
      parts.push(decodeChunk(tail, chunk, base));
      position += CHUNK_HEADER_BYTES + chunk.compressedSize;
    }
  } catch (error) {
    if (error instanceof ContainerError) throw problem('COMPRESSED_UNREADABLE', `the end of the backup set: ${error.message}`);
    throw error;
  }
  // Observed: the chunks of a segment are followed by a record whose first byte is 0x24 (or 0x2C
  // when it carries an index of the segment's chunks), then padding up to the next filemark.
  const trailer = tail[position - base];
  if (position >= end || (trailer !== 0x24 && trailer !== 0x2c)) {
    throw problem('END_DAMAGED', `the compressed end of the backup set is damaged at ${hex(position)} (neither a chunk nor the end-of-segment record)`);
  }
  return concat(parts);
}

/**
 * The decoded chunks that end the data segment before the filemark at `filemark`: chunks are found
 * by the signature they share with the file's first chunk, then followed back from the last one.
 */
function decodeChunksBefore(tail: Uint8Array, base: number, filemark: number, signature: Uint8Array): Uint8Array {
  const starts = new Map<number, ChunkHeader>();
  for (let i = tail.indexOf(signature[0]!, 8); i >= 8 && i + base < filemark; i = tail.indexOf(signature[0]!, i + 1)) {
    if (i - 8 + base + CHUNK_HEADER_BYTES > filemark || !sameSignature(tail.subarray(i, i + 16), signature)) continue;
    try {
      const chunk = readChunkHeader(tail, i - 8 + base, base);
      if (chunk.at + CHUNK_HEADER_BYTES + chunk.compressedSize <= filemark) starts.set(chunk.at, chunk);
    } catch {
      // A chance match inside compressed data: not a chunk.
    }
  }
  const byEnd = new Map([...starts.values()].map((c) => [c.at + CHUNK_HEADER_BYTES + c.compressedSize, c]));
  const lastEnd = Math.max(...byEnd.keys());
  if (!Number.isFinite(lastEnd)) throw problem('COMPRESSED_UNREADABLE', `no compressed chunk in the ${MSLS_WINDOW} bytes before the end-of-set filemark at ${hex(filemark)}`);
  const chain: ChunkHeader[] = [];
  let decoded = 0;
  for (let chunk = byEnd.get(lastEnd); chunk && decoded < MSLS_WINDOW; chunk = byEnd.get(chunk.at)) {
    chain.unshift(chunk);
    decoded += chunk.decodedSize;
  }
  try {
    return concat(chain.map((chunk) => decodeChunk(tail, chunk, base)));
  } catch (error) {
    if (error instanceof ContainerError) throw problem('COMPRESSED_UNREADABLE', `before the end of the backup set: ${error.message}`);
    throw error;
  }
}
