import { createHash } from 'node:crypto';
import { type FileHandle, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import pLimit from 'p-limit';
import type { Artifact } from '../../../protocol';
import { ConnectorError } from '../errors';
import { compositeChecksum, type ObjectStore } from '../store/object-store';
import { hashFile } from './file-checksums';

export interface DownloadOptions {
  /** Ranged GETs at once. @default 8 */
  concurrency?: number;
  /** Attempts per range when it fails or does not match its checksum. @default 3 */
  attempts?: number;
  onProgress?(bytesDone: number, bytesTotal: number): void;
}

const MiB = 1024 * 1024;
/** Received bytes are gathered up to this much before each write. */
const WRITE_BYTES = MiB;

/** What a partly downloaded file has: the ranges written and checked. Lives beside it as .partial.json. */
interface DownloadState {
  key: string;
  versionId: string;
  size: number;
  partSize: number;
  done: number[];
}

/**
 * Downloads one exact object version to `file` by parallel ranged GETs written in place, with
 * memory bounded by the ranges in flight. Every range is checked as it arrives and fetched again
 * when it does not match: an object uploaded in parts over its own parts, each against S3's
 * SHA-256 of that part (whose composite is the object's checksum the validator verified); a
 * single-PUT object as one range against the manifest's SHA-256. An interrupted download resumes
 * from the ranges already written. Only a complete, verified file gets its final name.
 */
export async function downloadArtifact(
  store: Pick<ObjectStore, 'getVersion'>,
  artifact: Artifact,
  file: string,
  options: DownloadOptions = {},
): Promise<{ bytes: number; resumedBytes: number }> {
  if (await hasContent(file, artifact)) return { bytes: artifact.size, resumedBytes: artifact.size };
  const plan = rangePlan(artifact);
  const partial = `${file}.partial`;
  const stateFile = `${file}.partial.json`;
  const state = await loadState(stateFile, artifact, plan.partSize);
  const done = new Set(state.done);
  const handle = await open(partial, done.size > 0 ? 'r+' : 'w');
  const resumedBytes = [...done].reduce((total, index) => total + rangeOf(index, plan.partSize, artifact.size).length, 0);
  let saving = Promise.resolve();
  try {
    await fetchRanges(store, artifact, plan, handle, done, {
      ...options,
      resumedBytes,
      onRange: () => {
        saving = saving.then(() => writeFile(stateFile, JSON.stringify({ ...state, done: [...done] })));
      },
    });
  } catch (error) {
    await saving.catch(() => undefined);
    await handle.close();
    // A damaged transfer leaves nothing behind; an interrupted one keeps its ranges for the next attempt.
    if (error instanceof ConnectorError && error.code === 'RESTORE_CHECKSUM_MISMATCH')
      await Promise.all([rm(partial, { force: true }), rm(stateFile, { force: true })]);
    throw error;
  }
  await saving.catch(() => undefined);
  await handle.close();
  await rename(partial, file);
  await rm(stateFile, { force: true });
  return { bytes: artifact.size, resumedBytes };
}

/**
 * The same verified ranged download into a new file of the caller's choosing (created, never
 * overwritten), without resuming: the restore of an archive file writes it under a short
 * temporary name and gives it its name itself. On failure the file is removed.
 */
export async function downloadVerified(
  store: Pick<ObjectStore, 'getVersion'>,
  artifact: Artifact,
  temporary: string | Buffer,
  options: DownloadOptions = {},
): Promise<void> {
  const plan = rangePlan(artifact);
  const handle = await open(temporary, 'wx');
  try {
    await fetchRanges(store, artifact, plan, handle, new Set(), { ...options, resumedBytes: 0 });
  } catch (error) {
    await handle.close();
    await rm(temporary, { force: true });
    throw error;
  }
  await handle.close();
}

interface RangePlan {
  partSize: number;
  count: number;
  /** SHA-256 (base64) each range must have. */
  digests: string[];
}

function rangePlan(artifact: Artifact): RangePlan {
  const composite = artifact.s3Checksum.type === 'COMPOSITE' ? artifact.s3Checksum : undefined;
  const partSize = composite?.partSize ?? Math.max(artifact.size, 1);
  const count = Math.max(1, Math.ceil(artifact.size / partSize));
  const digests = composite ? composite.parts : [Buffer.from(artifact.sha256, 'hex').toString('base64')];
  if (digests.length !== count || (composite && compositeChecksum(composite.parts) !== composite.value)) {
    throw new ConnectorError(
      'RESTORE_MANIFEST_INCONSISTENT',
      `${artifact.key}: the manifest's part checksums do not add up to its S3 checksum; the manifest is damaged`,
      { permanent: true },
    );
  }
  return { partSize, count, digests };
}

/** Every range not yet `done`, fetched in parallel, each checked and fetched again when damaged. */
async function fetchRanges(
  store: Pick<ObjectStore, 'getVersion'>,
  artifact: Artifact,
  plan: RangePlan,
  handle: FileHandle,
  done: Set<number>,
  options: DownloadOptions & { resumedBytes: number; onRange?(): void },
): Promise<void> {
  const attempts = options.attempts ?? 3;
  let bytesDone = options.resumedBytes;
  let damaged = false;
  await handle.truncate(artifact.size);
  const pending = Array.from({ length: plan.count }, (_, index) => index).filter((index) => !done.has(index));
  await pLimit(options.concurrency ?? 8).map(pending, async (index) => {
    const range = rangeOf(index, plan.partSize, artifact.size);
    for (let attempt = 1; ; attempt++) {
      try {
        const actual = await fetchRange(store, artifact, range, handle);
        if (actual === plan.digests[index]) break;
        if (attempt >= attempts) {
          damaged = true;
          throw new ConnectorError(
            'RESTORE_CHECKSUM_MISMATCH',
            `${artifact.key} (version ${artifact.versionId}) bytes ${range.start}-${range.end} downloaded ${attempts} times with SHA-256 ${actual}, but the validated backup has ${plan.digests[index]}: the download is damaged on the way (proxy, disk); nothing was restored from it`,
          );
        }
      } catch (error) {
        if (damaged || attempt >= attempts) throw error;
      }
    }
    done.add(index);
    bytesDone += range.length;
    options.onProgress?.(bytesDone, artifact.size);
    options.onRange?.();
  });
}

/** Fetches one range into its place in the file; returns the SHA-256 (base64) of what arrived. */
async function fetchRange(
  store: Pick<ObjectStore, 'getVersion'>,
  artifact: Artifact,
  range: { start: number; end: number; length: number },
  handle: FileHandle,
): Promise<string> {
  const hash = createHash('sha256');
  let position = range.start;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = async () => {
    // One system call for the gathered chunks, without copying them into one buffer.
    const { bytesWritten } = await handle.writev(pending, position);
    if (bytesWritten !== pendingBytes)
      throw new ConnectorError('RESTORE_WRITE_SHORT', `${artifact.key}: wrote ${bytesWritten} of ${pendingBytes} bytes at ${position}`);
    position += pendingBytes;
    pending = [];
    pendingBytes = 0;
  };
  if (range.length > 0) {
    for await (const chunk of await store.getVersion(artifact.key, artifact.versionId, { start: range.start, end: range.end })) {
      const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as unknown as Uint8Array);
      hash.update(bytes);
      pending.push(bytes);
      pendingBytes += bytes.length;
      if (pendingBytes >= WRITE_BYTES) await flush();
    }
    if (pendingBytes > 0) await flush();
  }
  if (position !== range.start + range.length)
    throw new ConnectorError(
      'RESTORE_SHORT_READ',
      `${artifact.key}: bytes ${range.start}-${range.end} came back as ${position - range.start} bytes`,
    );
  return hash.digest('base64');
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
    const same =
      saved.key === artifact.key && saved.versionId === artifact.versionId && saved.size === artifact.size && saved.partSize === partSize;
    return same && Array.isArray(saved.done) ? saved : fresh;
  } catch {
    return fresh;
  }
}

async function hasContent(file: string, artifact: Artifact): Promise<boolean> {
  const facts = await stat(file).catch(() => undefined);
  return facts?.size === artifact.size && (await hashFile(file, Infinity))?.sha256 === artifact.sha256;
}
