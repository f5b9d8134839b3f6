import { promisify } from 'node:util';
import { gunzipSync, gzip } from 'node:zlib';
import { type ArchiveSnapshot, archiveSnapshotSchema, type SnapshotFile, type SnapshotFolder, type SnapshotLink } from '../../../protocol';

const gzipAsync = promisify(gzip);

/**
 * The snapshot as gzip, serialized and compressed 1,000 files at a time: each batch is one gzip
 * member, and concatenated members are one valid gzip file (RFC 1952), so no string of the whole
 * snapshot is ever built. Batches compress on the thread pool while the next ones serialize.
 */
export async function gzipSnapshot(runId: string, files: Iterable<SnapshotFile>, emptyFolders: SnapshotFolder[], links: SnapshotLink[] = [], folders: SnapshotFolder[] = []): Promise<Buffer[]> {
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
  await compress(batch + ']}');
  return Promise.all(members); // sent as they are, never joined into one more copy
}

/** A stored snapshot (gzip JSON, possibly several concatenated gzip members), parsed and checked. */
export function parseSnapshot(gzipped: Buffer): ArchiveSnapshot {
  return archiveSnapshotSchema.parse(JSON.parse(gunzipSync(gzipped).toString('utf8')));
}
