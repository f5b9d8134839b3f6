import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { type S3Checksum, s3ChecksumSchema } from '../../../protocol';
import type { FileFacts } from './archive-scan';

/** What the connector knows of one archived file: enough to skip it unread when unchanged. */
export interface IndexEntry extends FileFacts {
  /** False for a time from an older index (double milliseconds): it matches within 1 µs until the next save writes it exactly. */
  exactTime: boolean;
  sha256: string;
  versionId: string;
  /** Only for files uploaded in parts, whose S3 checksum is COMPOSITE rather than the file's SHA-256. */
  s3Checksum?: S3Checksum;
  /** In memory only: the mirror run that found the file on disk (0: none yet). */
  run: number;
  /** In memory only: the version was made by that run (sent, or copied inside S3). */
  made: boolean;
}

/**
 * An index entry, always built by this one literal: objects of one shape share one hidden class.
 * (Built by spreading, 100,000 entries got 100,000 hidden classes: 27 MB measured.)
 */
export function indexEntry(facts: FileFacts, sha256: string, versionId: string, s3Checksum?: S3Checksum, exactTime = true): IndexEntry {
  return {
    size: facts.size,
    mtimeNs: facts.mtimeNs,
    exactTime,
    fileId: facts.fileId,
    birthNs: facts.birthNs,
    attributes: facts.attributes,
    mode: facts.mode,
    sha256,
    versionId,
    s3Checksum: s3Checksum?.type === 'COMPOSITE' ? s3Checksum : undefined,
    run: 0,
    made: false,
  };
}

/** Version 4: version 3 and the birth time (nanoseconds, decimal string; "0" unknown) and POSIX mode (-1 unknown). */
type Row = [...RowV3, birthNs: string, mode: number];
/** Version 3: exact times (nanoseconds, as a decimal string) and attribute bits. */
type RowV3 = [
  id: string,
  size: number,
  mtimeNs: string,
  fileId: string,
  sha256: string,
  versionId: string,
  s3Checksum: S3Checksum | null,
  attributes: number,
];
/** Version 2 (connectors before exact times): the time as double milliseconds. */
type RowV2 = [id: string, size: number, mtimeMs: number, fileId: string, sha256: string, versionId: string, s3Checksum: S3Checksum | null];

const FILE = 'archive-index.json';
const KIND = 'so-backup-archive-index';

/** How the index was found: a missing or corrupt index is rebuilt from S3, never trusted blindly. */
export type IndexState = { state: 'loaded' } | { state: 'missing' } | { state: 'corrupt'; problem: string };

/**
 * The local archive index: "<root>/<relative path>" (the exact name, files/file-names.ts) → size,
 * mtime (ns), file id, birth time (ns), attributes, POSIX mode, SHA-256 and S3 version. One JSON file followed by a line with its own SHA-256, written to a temporary file,
 * flushed to disk, then renamed over the old one: a crash leaves the old or the new index, and a
 * damaged file is detected rather than believed. One entry per line, read and written a line
 * at a time.
 */
export class ArchiveIndex {
  private changed = false;

  private constructor(
    private readonly file: string,
    private readonly map: Map<string, IndexEntry>,
    readonly found: IndexState,
  ) {}

  get entries(): ReadonlyMap<string, IndexEntry> {
    return this.map;
  }

  set(id: string, entry: IndexEntry): void {
    this.map.set(id, entry);
    this.changed = true;
  }

  delete(id: string): void {
    this.changed = this.map.delete(id) || this.changed;
  }

  /** True when something changed since it was loaded or last saved (a no-change run need not rewrite it). */
  get dirty(): boolean {
    return this.changed || this.found.state !== 'loaded';
  }

  static async load(stateDir: string): Promise<ArchiveIndex> {
    const file = path.join(stateDir, FILE);
    try {
      return new ArchiveIndex(file, await readIndex(file), { state: 'loaded' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new ArchiveIndex(file, new Map(), { state: 'missing' });
      if (error instanceof DamagedIndex) return new ArchiveIndex(file, new Map(), { state: 'corrupt', problem: error.message });
      throw error;
    }
  }

  /** Replaces the file atomically; safe to call while the mirror updates the map (it writes the entries as they were when called). */
  async save(): Promise<void> {
    this.changed = false;
    // A point-in-time list of the (immutable) entries, written 1,000 rows at a time: the index of
    // a 100,000-file archive never becomes one string in memory.
    const entries = [...this.map];
    const temporary = `${this.file}.${process.pid}.${Date.now()}.tmp`;
    try {
      await mkdir(path.dirname(this.file), { recursive: true });
      const handle = await open(temporary, 'w');
      try {
        const hash = createHash('sha256');
        const write = async (text: string) => {
          hash.update(text);
          await handle.write(text);
        };
        await write(`{"kind":"${KIND}","v":4,"entries":[\n`);
        for (let at = 0; at < entries.length; at += 1000) {
          const rows = entries
            .slice(at, at + 1000)
            .map(([id, e]) =>
              JSON.stringify([
                id,
                e.size,
                e.mtimeNs.toString(),
                e.fileId,
                e.sha256,
                e.versionId,
                e.s3Checksum ?? null,
                e.attributes,
                e.birthNs.toString(),
                e.mode,
              ] satisfies Row),
            );
          await write((at === 0 ? '' : ',\n') + rows.join(',\n'));
        }
        await write('\n]}');
        await handle.write(`\nsha256:${hash.digest('hex')}\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temporary, this.file);
    } catch (error) {
      this.changed = true;
      await rm(temporary, { force: true });
      throw error;
    }
  }
}

class DamagedIndex extends Error {}

/**
 * Reads the index a line at a time (one entry per line), hashing as it goes: 100,000 entries
 * never exist as one string or one parsed array next to the map they become.
 */
async function readIndex(file: string): Promise<Map<string, IndexEntry>> {
  const lines = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
  const hash = createHash('sha256');
  const entries = new Map<string, IndexEntry>();
  let header: { kind?: string; v?: number } | undefined;
  let version = 0;
  let trailer: string | undefined;
  let first = true;
  for await (const line of lines) {
    if (line.startsWith('sha256:')) {
      trailer = line.slice(7).trim();
      break;
    }
    hash.update(first ? line : `\n${line}`);
    first = false;
    if (header === undefined) {
      header = parseLine<{ kind?: string; v?: number }>(line.replace(/"entries":\[$/, '"entries":[]}'));
      if (header.kind !== KIND || (header.v !== 2 && header.v !== 3 && header.v !== 4))
        throw new DamagedIndex('not a version 2, 3 or 4 archive index');
      version = header.v;
      continue;
    }
    if (line === ']}' || line === '') continue;
    const row = parseLine<Row | RowV3 | RowV2>(line.endsWith(',') ? line.slice(0, -1) : line);
    const [id, size, time, fileId, sha256, versionId, s3Checksum] = row;
    const attributes = version >= 3 ? (row as RowV3)[7] : 0;
    // Older indexes knew no birth time and no mode: unknown, filled in by the next run without reading.
    const birth = version === 4 ? (row as Row)[8] : '0';
    const mode = version === 4 ? (row as Row)[9] : -1;
    const checksum = s3Checksum ? s3ChecksumSchema.safeParse(s3Checksum) : undefined;
    const timeOk = version >= 3 ? typeof time === 'string' && NANOSECONDS.test(time) : typeof time === 'number' && Number.isFinite(time);
    if (
      typeof id !== 'string' ||
      typeof size !== 'number' ||
      !timeOk ||
      typeof sha256 !== 'string' ||
      typeof versionId !== 'string' ||
      typeof attributes !== 'number' ||
      typeof birth !== 'string' ||
      !NANOSECONDS.test(birth) ||
      !Number.isInteger(mode) ||
      mode < -1 ||
      mode > 0o7777 ||
      (checksum && !checksum.success)
    ) {
      throw new DamagedIndex('an index entry is malformed');
    }
    const mtimeNs = version >= 3 ? BigInt(time) : BigInt(Math.round((time as number) * 1e6));
    entries.set(
      id,
      indexEntry(
        { size, mtimeNs, fileId: String(fileId ?? ''), birthNs: birth === '0' ? 0n : BigInt(birth), attributes, mode },
        sha256,
        versionId,
        checksum?.data,
        version >= 3,
      ),
    );
  }
  if (trailer === undefined) throw new DamagedIndex('the index has no checksum line (written by an older connector or cut short)');
  if (hash.digest('hex') !== trailer) throw new DamagedIndex('the index does not match its checksum (damaged on disk)');
  return entries;
}

const NANOSECONDS = /^-?\d{1,20}$/;

function parseLine<T>(line: string): T {
  try {
    return JSON.parse(line) as T;
  } catch {
    throw new DamagedIndex('an index line is not valid JSON (damaged on disk)');
  }
}
