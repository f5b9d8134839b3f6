import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import {
  type ArchiveSnapshot,
  keyLayout,
  type Manifest,
  parseSnapshot,
  type SnapshotFile,
  type SnapshotFolder,
  type SnapshotLink,
} from '../../../protocol';
import { ConnectorError } from '../errors';
import { type ObjectStore, readObject, type StoredObject } from '../store/object-store';

const gzipAsync = promisify(gzip);

/**
 * The snapshot as gzip, serialized and compressed 1,000 files at a time: each batch is one gzip
 * member, and concatenated members are one valid gzip file (RFC 1952), so no string of the whole
 * snapshot is ever built. Batches compress on the thread pool while the next ones serialize.
 */
export async function gzipSnapshot(
  runId: string,
  files: Iterable<SnapshotFile>,
  emptyFolders: SnapshotFolder[],
  links: SnapshotLink[] = [],
  folders: SnapshotFolder[] = [],
): Promise<Buffer[]> {
  const members: Array<Promise<Buffer>> = [];
  let inFlight: Array<Promise<Buffer>> = [];
  const compress = async (text: string) => {
    const member = gzipAsync(text, { level: 1 });
    members.push(member);
    inFlight.push(member);
    if (inFlight.length >= 2) {
      await inFlight[0];
      inFlight = inFlight.slice(1);
    }
  };
  let batch = `{"kind":"so-backup-archive-snapshot","v":1,"runId":${JSON.stringify(runId)},"emptyFolders":${JSON.stringify(emptyFolders)},"folders":${JSON.stringify(folders)},"links":${JSON.stringify(links)},"files":[`;
  let inBatch = 0;
  let first = true;
  for (const file of files) {
    batch += (first ? '' : ',') + JSON.stringify(file);
    first = false;
    if (++inBatch === 1000) {
      await compress(batch);
      batch = '';
      inBatch = 0;
    }
  }
  await compress(`${batch}]}`);
  return Promise.all(members); // sent as they are, never joined into one more copy
}

/** What a run's snapshot records besides its files (the archive mirror's result). */
export interface SnapshotContents {
  snapshotFiles(): Iterable<SnapshotFile>;
  emptyFolders: SnapshotFolder[];
  links: SnapshotLink[];
  folders: SnapshotFolder[];
}

/** Stores the run's snapshot at its staged key (keyLayout.stagedSnapshot), gzip JSON sent in members; returns the version S3 stored. */
export async function writeSnapshot(
  store: Pick<ObjectStore, 'putBuffer'>,
  run: { tenantId: string; runId: string },
  contents: SnapshotContents,
): Promise<StoredObject> {
  const body = await gzipSnapshot(run.runId, contents.snapshotFiles(), contents.emptyFolders, contents.links, contents.folders);
  return store.putBuffer(keyLayout.stagedSnapshot(run.tenantId, run.runId), body, 'application/gzip');
}

/** A run's archive snapshot at its exact version, checked against the manifest's SHA-256 (restore, drills). */
export async function readRunSnapshot(store: Pick<ObjectStore, 'getVersion'>, manifest: Manifest): Promise<ArchiveSnapshot> {
  if (!manifest.archive) throw new ConnectorError('RESTORE_NO_ARCHIVE', `run ${manifest.runId} has no archive`, { permanent: true });
  const { key, versionId, sha256 } = manifest.archive.snapshot;
  const raw = await readObject(store, key, versionId);
  if (createHash('sha256').update(raw).digest('hex') !== sha256) {
    throw new ConnectorError(
      'RESTORE_CHECKSUM_MISMATCH',
      `the archive snapshot of run ${manifest.runId} does not match its SHA-256 in the manifest`,
    );
  }
  return parseSnapshot(raw);
}

/** The snapshot stored at one version, or undefined when it cannot be read or decoded (an index rebuild then reads files instead). */
export async function readSnapshotIfValid(
  store: Pick<ObjectStore, 'getVersion'>,
  key: string,
  versionId: string,
): Promise<ArchiveSnapshot | undefined> {
  try {
    return parseSnapshot(await readObject(store, key, versionId));
  } catch {
    return undefined;
  }
}
