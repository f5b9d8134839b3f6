import { keyLayout, type SnapshotFile } from '../../../protocol';
import type { LatestVersion, ObjectStore } from '../store/object-store';
import { hashFile } from '../repository/file-checksums';
import { readSnapshotIfValid } from '../repository/snapshots';
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
  const snapshot = current && (await readSnapshotIfValid(store, snapshotKey, current.versionId));
  if (snapshot) return { latest, previous: new Map(snapshot.files.map((f) => [f.key, f])), snapshotRunId: snapshot.runId };
  return { latest, previous: new Map() };
}

/**
 * What S3 holds at `key`, if it provably is this file: an index entry for it. Without reading
 * when the snapshot names that very version with the same size and mtime; otherwise the file is
 * read once (no upload) and its SHA-256 compared with S3's own checksum of the current version.
 */
export async function adoptFromRemote(
  remote: RemoteArchive,
  store: ObjectStore,
  key: string,
  diskPath: string | Buffer,
  facts: FileFacts,
  reading: () => void = () => undefined,
): Promise<IndexEntry | undefined> {
  const current = remote.latest.get(key);
  if (!current || current.size !== facts.size) return undefined;
  const known = remote.previous.get(key);
  if (known && known.versionId === current.versionId && known.size === facts.size) {
    // The recorded time, or the time a restore of that snapshot writes: a restored archive is adopted unread.
    const time = snapshotMtimeNs(known);
    if (sameMtime(time.ns, facts.mtimeNs, hostPlatform, time.exact))
      return indexEntry(facts, known.sha256, known.versionId, known.s3Checksum);
  }
  const s3 = await store.head(key, current.versionId);
  if (!s3?.s3Checksum || s3.size !== facts.size) return undefined;
  reading();
  const local = await hashFile(diskPath, s3.s3Checksum.type === 'COMPOSITE' ? store.partSizeFor(facts.size) : Infinity);
  if (!local || local.s3Checksum.value !== s3.s3Checksum.value) return undefined;
  return indexEntry(facts, local.sha256, current.versionId, local.s3Checksum);
}
