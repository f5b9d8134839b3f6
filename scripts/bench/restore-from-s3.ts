// One restore by the connector's own code, for the benchmark; prints JSON.
//   restore-from-s3 ENDPOINT BUCKET TENANT DEST archive          the newest snapshot, every file verified
//   restore-from-s3 ENDPOINT BUCKET TENANT DEST bak ARTIFACT     one backup file (its artifact JSON), verified
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type Artifact, keyLayout } from '../../protocol';
import { parseSnapshot } from '../../protocol';
import { readObject } from '../../connector/src/store/object-store';
import { materializeSnapshot } from '../../connector/src/restore/materialize-snapshot';
import { downloadArtifact } from '../../connector/src/repository/download-artifact';
import { S3ObjectStore } from '../../connector/src/store/s3-object-store';

async function main(): Promise<void> {
  const [endpoint, bucket, tenantId, dest, what, artifactFile] = process.argv.slice(2);
  if (!endpoint || !bucket || !tenantId || !dest || (what !== 'archive' && what !== 'bak'))
    throw new Error('usage: restore-from-s3 ENDPOINT BUCKET TENANT DEST archive|bak [ARTIFACT_JSON]');
  const store = new S3ObjectStore(
    { bucket, region: 'us-east-1', endpoint, forcePathStyle: true },
    {
      accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? '',
      secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? '',
      expiration: new Date(Date.now() + 3600_000).toISOString(),
    },
  );
  const started = process.hrtime.bigint();
  let result: { files: number; bytes: number };
  if (what === 'archive') {
    const key = keyLayout.snapshot(tenantId);
    const current = (await store.latestVersions(key)).get(key);
    if (!current) throw new Error(`no snapshot at ${key}`);
    const snapshot = parseSnapshot(await readObject(store, key, current.versionId));
    result = await materializeSnapshot(snapshot.files, store, dest, { emptyFolders: snapshot.emptyFolders });
  } else {
    const artifact = JSON.parse(readFileSync(artifactFile ?? '', 'utf8')) as Artifact;
    const downloaded = await downloadArtifact(store, artifact, path.join(dest, path.basename(artifact.key)));
    result = { files: 1, bytes: downloaded.bytes };
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  process.stdout.write(`${JSON.stringify({ seconds, ...result, maxRssKiB: process.resourceUsage().maxRSS })}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`);
  process.exit(1);
});
