import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { type ArchiveSnapshot, keyLayout, type S3Checksum, type SnapshotFile } from '../../../protocol';
import { compositeChecksum, type LatestVersion, type ObjectStore, readObject } from '../store/object-store';
import { parseSnapshot } from './snapshot-codec';
import { hostPlatform } from '../files/file-names';
import { sameMtime, snapshotMtimeNs } from '../files/file-times';
import type { FileFacts } from './archive-scan';
import { type IndexEntry, indexEntry } from './archive-index';

/**
 * What S3 already holds of a tenant's archive, for rebuilding a lost or damaged index without
 * re-uploading: the current version of every key, and the newest snapshot the connector wrote
 * (its SHA-256 and mtime per version).
 */
export interface RemoteArchive {
  latest: Map<string, LatestVersion>;
  previous: Map<string, SnapshotFile>;
  /** The run whose snapshot was used, if any. */
  snapshotRunId?: string;
}

export async function loadRemoteArchive(tenantId: string, store: ObjectStore): Promise<RemoteArchive> {
  const latest = await store.latestVersions(keyLayout.archive(tenantId));
  // The current version of the snapshot key is the newest snapshot. If it cannot be read, the
  // rebuild only costs extra local reads (each file is hashed and compared with S3's checksum).
  const snapshotKey = keyLayout.snapshot(tenantId);
  const current = (await store.latestVersions(snapshotKey)).get(snapshotKey);
  const snapshot = current && (await readSnapshot(store, snapshotKey, current.versionId));
  if (snapshot) return { latest, previous: new Map(snapshot.files.map((f) => [f.key, f])), snapshotRunId: snapshot.runId };
  return { latest, previous: new Map() };
}

async function readSnapshot(store: ObjectStore, key: string, versionId: string): Promise<ArchiveSnapshot | undefined> {
  try {
    return parseSnapshot(await readObject(store, key, versionId));
  } catch {
    return undefined;
  }
}

/**
 * What S3 holds at `key`, if it provably is this file: an index entry for it. Without reading
 * when the snapshot names that very version with the same size and mtime; otherwise the file is
 * read once (no upload) and its SHA-256 compared with S3's own checksum of the current version.
 */
export async function adoptFromRemote(remote: RemoteArchive, store: ObjectStore, key: string, diskPath: string | Buffer, facts: FileFacts, reading: () => void = () => undefined): Promise<IndexEntry | undefined> {
  const current = remote.latest.get(key);
  if (!current || current.size !== facts.size) return undefined;
  const known = remote.previous.get(key);
  if (known && known.versionId === current.versionId && known.size === facts.size) {
    // The recorded time, or the time a restore of that snapshot writes: a restored archive is adopted unread.
    const time = snapshotMtimeNs(known);
    if (sameMtime(time.ns, facts.mtimeNs, hostPlatform, time.exact)) return indexEntry(facts, known.sha256, known.versionId, known.s3Checksum);
  }
  const s3 = await store.head(key, current.versionId);
  if (!s3?.s3Checksum || s3.size !== facts.size) return undefined;
  reading();
  const local = await hashFile(diskPath, s3.s3Checksum.type === 'COMPOSITE' ? store.partSizeFor(facts.size) : Infinity);
  if (!local || local.s3Checksum.value !== s3.s3Checksum.value) return undefined;
  return indexEntry(facts, local.sha256, current.versionId, local.s3Checksum);
}

/** SHA-256 of a file, and the checksum S3 would store for it uploaded in parts of `partSize`. */
export async function hashFile(file: string | Buffer, partSize: number): Promise<{ sha256: string; s3Checksum: S3Checksum } | undefined> {
  const handle = await open(file, 'r').catch(() => undefined);
  if (!handle) return undefined;
  try {
    const whole = createHash('sha256');
    const parts: string[] = [];
    let part = createHash('sha256');
    let inPart = 0;
    const buffer = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const want = Number.isFinite(partSize) ? Math.min(buffer.length, partSize - inPart) : buffer.length;
      const { bytesRead } = await handle.read(buffer, 0, want, null);
      if (bytesRead === 0) break;
      const chunk = buffer.subarray(0, bytesRead);
      whole.update(chunk);
      part.update(chunk);
      inPart += bytesRead;
      if (inPart === partSize) {
        parts.push(part.digest('base64'));
        part = createHash('sha256');
        inPart = 0;
      }
    }
    const digest = whole.digest();
    if (!Number.isFinite(partSize)) return { sha256: digest.toString('hex'), s3Checksum: { algorithm: 'SHA256', type: 'FULL_OBJECT', value: digest.toString('base64') } };
    if (inPart > 0) parts.push(part.digest('base64'));
    return { sha256: digest.toString('hex'), s3Checksum: { algorithm: 'SHA256', type: 'COMPOSITE', value: compositeChecksum(parts), partSize, parts } };
  } finally {
    await handle.close();
  }
}
