import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { S3Checksum } from '../../../protocol';

/** What the connector knows of one archived file: enough to skip it unread when unchanged. */
export interface IndexEntry {
  size: number;
  mtimeMs: number;
  sha256: string;
  key: string;
  versionId: string;
  s3Checksum?: S3Checksum;
}

/**
 * The local archive index: "<root>/<relative path>" → last uploaded state. Stored as one JSON
 * file replaced atomically (write, then rename), so a crash leaves the old or the new index.
 */
export class ArchiveIndex {
  private constructor(private readonly file: string, readonly entries: Map<string, IndexEntry>) {}

  static async load(stateDir: string): Promise<ArchiveIndex> {
    const file = path.join(stateDir, 'archive-index.json');
    try {
      const json = JSON.parse(await readFile(file, 'utf8')) as { v: number; entries: Record<string, IndexEntry> };
      return new ArchiveIndex(file, new Map(Object.entries(json.entries)));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new ArchiveIndex(file, new Map());
      throw error;
    }
  }

  async save(): Promise<void> {
    await mkdir(path.dirname(this.file), { recursive: true });
    const temporary = `${this.file}.${process.pid}.tmp`;
    await writeFile(temporary, JSON.stringify({ v: 1, entries: Object.fromEntries(this.entries) }));
    await rename(temporary, this.file);
  }
}
