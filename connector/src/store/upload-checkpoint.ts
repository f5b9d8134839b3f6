import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** Where a multipart upload stands, so a restarted connector can finish it instead of starting over. */
export interface CheckpointState {
  key: string;
  uploadId: string;
  partSize: number;
  /** The file as it was when the upload started; a changed file is uploaded afresh. */
  fileSize: number;
  mtimeMs: number;
  /** Parts S3 accepted: part number → SHA-256 (base64) and ETag. */
  parts: Record<string, { checksum: string; etag: string }>;
}

export class UploadCheckpoint {
  private writing = Promise.resolve();

  private constructor(
    private readonly file: string,
    readonly state: CheckpointState,
  ) {}

  private static fileFor(dir: string, key: string) {
    return path.join(dir, `${createHash('sha256').update(key).digest('hex').slice(0, 32)}.json`);
  }

  /** The checkpoint for this key, if one exists for the same file (size and mtime). */
  static async find(dir: string, key: string, fileSize: number, mtimeMs: number): Promise<UploadCheckpoint | undefined> {
    const file = UploadCheckpoint.fileFor(dir, key);
    try {
      const state = JSON.parse(await readFile(file, 'utf8')) as CheckpointState;
      if (state.key === key && state.fileSize === fileSize && state.mtimeMs === mtimeMs && typeof state.uploadId === 'string')
        return new UploadCheckpoint(file, state);
    } catch {
      // none, or torn: start afresh
    }
    return undefined;
  }

  static async create(dir: string, state: Omit<CheckpointState, 'parts'>): Promise<UploadCheckpoint> {
    await mkdir(dir, { recursive: true });
    const checkpoint = new UploadCheckpoint(UploadCheckpoint.fileFor(dir, state.key), { ...state, parts: {} });
    await checkpoint.save();
    return checkpoint;
  }

  /** Records an accepted part; writes are serialized and atomic (write, then rename). */
  record(partNumber: number, checksum: string, etag: string): Promise<void> {
    this.state.parts[String(partNumber)] = { checksum, etag };
    this.writing = this.writing.then(() => this.save());
    return this.writing;
  }

  async remove(): Promise<void> {
    await this.writing.catch(() => undefined);
    await rm(this.file, { force: true });
  }

  private async save(): Promise<void> {
    const temporary = `${this.file}.tmp`;
    await writeFile(temporary, JSON.stringify(this.state));
    await rename(temporary, this.file);
  }
}
