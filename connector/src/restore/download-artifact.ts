import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import type { Artifact } from '../../../protocol';
import { ConnectorError } from '../errors';
import type { ObjectStore } from '../store/object-store';

export interface DownloadOptions {
  /** Ranged GETs at once. @default 8 */
  concurrency?: number;
  /** Range size when the object was not uploaded in parts. @default 16 MiB */
  partSize?: number;
  /** Attempts per range, and for the whole file when its SHA-256 does not match. @default 3 */
  attempts?: number;
  onProgress?(bytesDone: number, bytesTotal: number): void;
}

const MiB = 1024 * 1024;

/** What a partly downloaded file has: the ranges written and checked. Lives beside it as .partial.json. */
interface DownloadState {
  key: string;
  versionId: string;
  size: number;
  partSize: number;
  done: number[];
}

/**
 * Downloads one exact object version to `file` by parallel ranged GETs, written in place, with
 * memory bounded by the ranges in flight. A multipart object is fetched over its own parts and
 * each part is checked against S3's part checksum as it arrives (and fetched again if it does
 * not match); the whole file is then checked against the manifest's SHA-256. An interrupted
 * download resumes from the ranges already written. Only a verified file gets its final name.
 */
export async function downloadArtifact(store: Pick<ObjectStore, 'getVersion'>, artifact: Artifact, file: string, options: DownloadOptions = {}): Promise<{ bytes: number; resumedBytes: number }> {
  if (await hasContent(file, artifact)) return { bytes: artifact.size, resumedBytes: artifact.size };
  const attempts = options.attempts ?? 3;
  for (let attempt = 1; ; attempt++) {
    const resumedBytes = await fetchRanges(store, artifact, file, options, attempts);
    const actual = await sha256Of(`${file}.partial`);
    if (actual === artifact.sha256) {
      await rename(`${file}.partial`, file);
      await rm(`${file}.partial.json`, { force: true });
      return { bytes: artifact.size, resumedBytes };
    }
    await rm(`${file}.partial`, { force: true });
    await rm(`${file}.partial.json`, { force: true });
    if (attempt >= attempts) {
      throw new ConnectorError('RESTORE_CHECKSUM_MISMATCH', `${artifact.key} (version ${artifact.versionId}) downloaded ${attempts} times with SHA-256 ${actual}, but the validated backup has ${artifact.sha256}: the download is damaged on the way (proxy, disk); nothing was restored from it`);
    }
  }
}

async function fetchRanges(store: Pick<ObjectStore, 'getVersion'>, artifact: Artifact, file: string, options: DownloadOptions, attempts: number): Promise<number> {
  const composite = artifact.s3Checksum.type === 'COMPOSITE' ? artifact.s3Checksum : undefined;
  const partSize = composite?.partSize ?? options.partSize ?? 16 * MiB;
  const count = Math.max(1, Math.ceil(artifact.size / partSize));
  const stateFile = `${file}.partial.json`;
  const state = await loadState(stateFile, artifact, partSize);
  const done = new Set(state.done);
  const handle = await open(`${file}.partial`, done.size > 0 ? 'r+' : 'w');
  let bytesDone = [...done].reduce((total, index) => total + rangeOf(index, partSize, artifact.size).length, 0);
  const resumedBytes = bytesDone;
  let saving = Promise.resolve();
  const save = () => {
    saving = saving.then(() => writeFile(stateFile, JSON.stringify({ ...state, done: [...done] })));
    return saving;
  };
  try {
    await handle.truncate(artifact.size);
    const pending = Array.from({ length: count }, (_, index) => index).filter((index) => !done.has(index));
    let next = 0;
    await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 8, pending.length) }, async () => {
      while (next < pending.length) {
        const index = pending[next++]!;
        const range = rangeOf(index, partSize, artifact.size);
        for (let attempt = 1; ; attempt++) {
          const hash = createHash('sha256');
          let position = range.start;
          try {
            if (range.length > 0) {
              for await (const chunk of await store.getVersion(artifact.key, artifact.versionId, { start: range.start, end: range.end })) {
                const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as unknown as Uint8Array);
                hash.update(bytes);
                await handle.write(bytes, 0, bytes.length, position);
                position += bytes.length;
              }
            }
            if (position !== range.start + range.length) throw new ConnectorError('RESTORE_SHORT_READ', `${artifact.key}: range ${range.start}-${range.end} returned ${position - range.start} bytes`);
            const expected = composite?.parts[index];
            if (expected && hash.digest('base64') !== expected) throw new ConnectorError('RESTORE_CHECKSUM_MISMATCH', `${artifact.key}: part ${index + 1} does not match S3's checksum of that part`);
            break;
          } catch (error) {
            if (attempt >= attempts) throw error;
          }
        }
        done.add(index);
        bytesDone += range.length;
        options.onProgress?.(bytesDone, artifact.size);
        await save();
      }
    }));
  } finally {
    await saving.catch(() => undefined);
    await handle.close();
  }
  return resumedBytes;
}

function rangeOf(index: number, partSize: number, size: number) {
  const start = index * partSize;
  const end = Math.min(size, start + partSize) - 1;
  return { start, end, length: Math.max(0, end - start + 1) };
}

/** The saved progress of an earlier attempt at this very version, or a fresh start. */
async function loadState(stateFile: string, artifact: Artifact, partSize: number): Promise<DownloadState> {
  const fresh: DownloadState = { key: artifact.key, versionId: artifact.versionId, size: artifact.size, partSize, done: [] };
  try {
    const saved = JSON.parse(await readFile(stateFile, 'utf8')) as DownloadState;
    const same = saved.key === artifact.key && saved.versionId === artifact.versionId && saved.size === artifact.size && saved.partSize === partSize;
    return same && Array.isArray(saved.done) ? saved : fresh;
  } catch {
    return fresh;
  }
}

async function hasContent(file: string, artifact: Artifact): Promise<boolean> {
  const facts = await stat(file).catch(() => undefined);
  return facts?.size === artifact.size && (await sha256Of(file)) === artifact.sha256;
}

export async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 4 * MiB })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
