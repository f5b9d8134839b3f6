import { createHash } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { type S3Checksum, s3ChecksumSchema } from '../../../protocol';
import type { FileFacts } from './archive-scan';

/** What the connector knows of one archived file: enough to skip it unread when unchanged. */
export interface IndexEntry extends FileFacts {
  sha256: string;
  versionId: string;
  /** Only for files uploaded in parts, whose S3 checksum is COMPOSITE rather than the file's SHA-256. */
  s3Checksum?: S3Checksum;
}

type Row = [id: string, size: number, mtimeMs: number, fileId: string, sha256: string, versionId: string, s3Checksum: S3Checksum | null];

const FILE = 'archive-index.json';
const KIND = 'so-backup-archive-index';

/** How the index was found: a missing or corrupt index is rebuilt from S3, never trusted blindly. */
export type IndexState = { state: 'loaded' } | { state: 'missing' } | { state: 'corrupt'; problem: string };

/**
 * The local archive index: "<root>/<relative path>" → size, mtime, file id, SHA-256 and S3
 * version. One JSON file followed by a line with its own SHA-256, written to a temporary file,
 * flushed to disk, then renamed over the old one: a crash leaves the old or the new index, and a
 * damaged file is detected rather than believed. Loading 100,000 entries takes one JSON.parse.
 */
export class ArchiveIndex {
  private changed = false;

  private constructor(private readonly file: string, private readonly map: Map<string, IndexEntry>, readonly found: IndexState) {}

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
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new ArchiveIndex(file, new Map(), { state: 'missing' });
      throw error;
    }
    try {
      return new ArchiveIndex(file, parseIndex(text), { state: 'loaded' });
    } catch (error) {
      return new ArchiveIndex(file, new Map(), { state: 'corrupt', problem: (error as Error).message });
    }
  }

  /** Replaces the file atomically; safe to call while the map is being updated (the text is built at once). */
  async save(): Promise<void> {
    this.changed = false;
    const rows: string[] = [];
    for (const [id, e] of this.map) rows.push(JSON.stringify([id, e.size, e.mtimeMs, e.fileId, e.sha256, e.versionId, e.s3Checksum ?? null] satisfies Row));
    const body = `{"kind":"${KIND}","v":2,"entries":[\n${rows.join(',\n')}\n]}`;
    const text = `${body}\nsha256:${createHash('sha256').update(body).digest('hex')}\n`;
    const temporary = `${this.file}.${process.pid}.${Date.now()}.tmp`;
    try {
      await mkdir(path.dirname(this.file), { recursive: true });
      const handle = await open(temporary, 'w');
      try {
        await handle.writeFile(text);
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

function parseIndex(text: string): Map<string, IndexEntry> {
  const trailer = text.lastIndexOf('\nsha256:');
  if (trailer < 0) throw new Error('the index has no checksum line (written by an older connector or cut short)');
  const body = text.slice(0, trailer);
  const expected = text.slice(trailer + 8).trim();
  if (createHash('sha256').update(body).digest('hex') !== expected) throw new Error('the index does not match its checksum (damaged on disk)');
  const json = JSON.parse(body) as { kind?: string; v?: number; entries?: Row[] };
  if (json.kind !== KIND || json.v !== 2 || !Array.isArray(json.entries)) throw new Error('not a version 2 archive index');
  const entries = new Map<string, IndexEntry>();
  for (const [id, size, mtimeMs, fileId, sha256, versionId, s3Checksum] of json.entries) {
    entries.set(id, { size, mtimeMs, fileId, sha256, versionId, s3Checksum: s3Checksum ? s3ChecksumSchema.parse(s3Checksum) : undefined });
  }
  return entries;
}
