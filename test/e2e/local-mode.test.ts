import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LOCAL_S3_KEYS, runLocalMode, stopLocalMode, type LocalRunSummary } from '../../local/local-mode';
import { TEST_PORT_BLOCKS } from '../helpers/test-ports';

/**
 * End to end through local mode: Ceph RGW, dynalite, the synthesized state machines, the local
 * gateway, the TDS stand-in and the real connector process. The result is checked with Debian's
 * AWS CLI, an S3 client independent of the code under test.
 */
const AWS = '/usr/bin/aws';
const hasAws = existsSync(AWS);
if (!hasAws) console.warn('skipping the end-to-end test: Debian\'s awscli (/usr/bin/aws) is not installed; .ci/run installs it');

const dataDir = mkdtempSync(path.join(tmpdir(), 'so-backup-e2e-'));
const portBase = TEST_PORT_BLOCKS.localModeE2e;
const archive = path.join(dataDir, 'sample-so-arc');

function aws(summary: LocalRunSummary, ...args: string[]): string {
  return execFileSync(AWS, ['--endpoint-url', summary.s3Endpoint, '--region', 'us-east-1', '--output', 'json', ...args], {
    encoding: 'utf8', maxBuffer: 64 << 20,
    env: { ...process.env, AWS_ACCESS_KEY_ID: LOCAL_S3_KEYS.accessKeyId, AWS_SECRET_ACCESS_KEY: LOCAL_S3_KEYS.secretAccessKey, AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' },
  });
}

interface Version { Key: string; VersionId: string; IsLatest: boolean; Size: number }
function versions(summary: LocalRunSummary, prefix: string): Version[] {
  const out = JSON.parse(aws(summary, 's3api', 'list-object-versions', '--bucket', summary.bucket, '--prefix', prefix) || '{}') as { Versions?: Version[] };
  return out.Versions ?? [];
}

function filesBelow(root: string, prefix = ''): string[] {
  return readdirSync(path.join(root, prefix), { withFileTypes: true }).flatMap((entry) => {
    const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
    return entry.isDirectory() ? filesBelow(root, relative) : [relative];
  });
}

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

(hasAws ? describe : describe.skip)('local mode, end to end', () => {
  jest.setTimeout(600_000);
  afterAll(async () => {
    await stopLocalMode(dataDir);
    rmSync(dataDir, { recursive: true, force: true }); // a Ceph cluster: ~800 MB
  });
  let first: LocalRunSummary;

  test('GIVEN a fresh machine WHEN the daily backup runs THEN it SUCCEEDS, validated, and S3 holds exactly the source', async () => {
    first = await runLocalMode({ dataDir, portBase, fresh: true, keep: true, log: () => undefined });
    expect(first.failure).toBeUndefined();
    expect(first).toMatchObject({ status: 'SUCCEEDED', validated: true, runId: expect.stringMatching(/^local-\d{4}-\d{2}-\d{2}-daily$/) });

    // Every archived file, downloaded by the AWS CLI, equals the source byte for byte.
    const download = mkdtempSync(path.join(tmpdir(), 'so-backup-e2e-dl-'));
    aws(first, 's3', 'cp', '--recursive', '--only-show-errors', `s3://${first.bucket}/archive/local/SO_ARC/`, download);
    const source = filesBelow(archive).sort();
    expect(source.length).toBe(120);
    expect(filesBelow(download).sort()).toEqual(source);
    for (const file of source) expect(sha256(path.join(download, file))).toBe(sha256(path.join(archive, file)));

    // The database backup is there, checksummed by S3, and is a SQL Server backup of SuperOffice.
    const db = first.databases[0]!;
    const head = JSON.parse(aws(first, 's3api', 'head-object', '--bucket', first.bucket, '--key', db.key, `--version-id=${db.versionId}`, '--checksum-mode', 'ENABLED')) as { ContentLength: number; ChecksumSHA256?: string };
    expect(head.ContentLength).toBe(db.size);
    expect(head.ChecksumSHA256).toMatch(/^[A-Za-z0-9+/]{43}=(-\d+)?$/);
    const bak = path.join(download, 'SuperOffice.bak');
    aws(first, 's3api', 'get-object', '--bucket', first.bucket, '--key', db.key, `--version-id=${db.versionId}`, bak);
    const bytes = readFileSync(bak);
    expect(bytes.subarray(0, 4).toString('latin1')).toBe('TAPE');
    expect(bytes.subarray(0, 0x2000).includes(Buffer.from('SuperOffice', 'utf16le'))).toBe(true);
    expect(statSync(bak).size).toBe(db.size);

    // The manifest names this run and every artifact at its version.
    const manifestFile = path.join(download, 'manifest.json');
    aws(first, 's3api', 'get-object', '--bucket', first.bucket, '--key', first.manifestKey!, manifestFile);
    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as { runId: string; databases: Array<{ artifact: { versionId: string } }>; archive: { files: number } };
    expect(manifest.runId).toBe(first.runId);
    expect(manifest.databases[0]?.artifact.versionId).toBe(db.versionId);
    expect(manifest.archive.files).toBe(120);

    // The first validated run of the week and month is copied inside S3 to the weekly and monthly
    // tiers: the copies carry S3's own SHA-256 of the daily backup, and tier manifests name them.
    for (const tier of ['weekly', 'monthly']) {
      const [copy, ...more] = versions(first, `db/${tier}/local/`);
      expect(more).toEqual([]);
      const copyHead = JSON.parse(aws(first, 's3api', 'head-object', '--bucket', first.bucket, '--key', copy!.Key, '--checksum-mode', 'ENABLED')) as { ContentLength: number; ChecksumSHA256?: string };
      expect(copyHead).toMatchObject({ ContentLength: db.size, ChecksumSHA256: head.ChecksumSHA256 });
      const tierManifest = path.join(download, `${tier}.json`);
      aws(first, 's3api', 'get-object', '--bucket', first.bucket, '--key', `manifests/${tier}/local/manifest.json`, tierManifest);
      expect(JSON.parse(readFileSync(tierManifest, 'utf8'))).toMatchObject({
        tier, runId: first.runId, promotedFrom: { key: first.manifestKey }, databases: [{ artifact: { key: copy!.Key, versionId: copy!.VersionId } }],
      });
    }

    // The step-by-step history shows each state of the synthesized BackupRun.
    const steps = first.history.filter((line) => line.startsWith(first.runId)).join('\n');
    for (const state of ['Prepare', 'Request backup', 'Validate', 'Finalize', 'Backup succeeded']) expect(steps).toContain(state);
  });

  test('GIVEN one changed file WHEN the next day\'s backup runs THEN only that file is sent again', async () => {
    const changed = filesBelow(archive).sort()[5]!;
    appendFileSync(path.join(archive, changed), 'an edit made the next day');
    const second = await runLocalMode({ dataDir, portBase, keep: true, log: () => undefined });
    expect(second).toMatchObject({ status: 'SUCCEEDED', validated: true, runId: `${first.runId}-2` });
    expect(second.archive).toMatchObject({ files: 120, uploadedFiles: 1, deletedFiles: 0 });

    const archiveVersions = versions(second, 'archive/local/');
    const perKey = new Map<string, number>();
    for (const v of archiveVersions) perKey.set(v.Key, (perKey.get(v.Key) ?? 0) + 1);
    const changedKey = `archive/local/SO_ARC/${changed}`;
    expect(perKey.get(changedKey)).toBe(2);
    expect([...perKey.entries()].filter(([key, count]) => key !== changedKey && count !== 1)).toEqual([]);
    expect(versions(second, 'db/daily/local/')).toHaveLength(2);
    // The same week and month: no new weekly or monthly copy.
    expect(versions(second, 'db/weekly/local/')).toHaveLength(1);
    expect(versions(second, 'db/monthly/local/')).toHaveLength(1);
  });
});

(hasAws ? describe : describe.skip)('local mode, when API Gateway cuts the connection in the middle of a backup', () => {
  jest.setTimeout(600_000);
  const cutDataDir = mkdtempSync(path.join(tmpdir(), 'so-backup-e2e-cut-'));
  afterAll(async () => {
    await stopLocalMode(cutDataDir);
    rmSync(cutDataDir, { recursive: true, force: true });
  });

  test('GIVEN a 4 s idle timeout, a 5 s connection limit and a 6 s backup WHEN the gateway closes the socket mid-job THEN the result still arrives once and the run SUCCEEDS', async () => {
    const summary = await runLocalMode({
      dataDir: cutDataDir, portBase: TEST_PORT_BLOCKS.localModeCutE2e, fresh: true, keep: true, log: () => undefined,
      tuning: { gatewayIdleTimeoutMs: 4000, gatewayMaxConnectionMs: 5000, sqlBackupChunkDelayMs: 250 },
    });
    expect(summary.failure).toBeUndefined();
    expect(summary).toMatchObject({ status: 'SUCCEEDED', validated: true });
    const log = readFileSync(path.join(cutDataDir, 'logs', 'connector.log'), 'utf8');
    const reconnects = log.split('\n').filter((line) => line.includes('"code":1001') && line.includes('will reconnect'));
    expect(reconnects.length).toBeGreaterThanOrEqual(1);
    // Nothing duplicated: one backup version, one manifest, and the outbox is empty (the result was acknowledged).
    expect(versions(summary, 'db/daily/local/')).toHaveLength(1);
    expect(versions(summary, 'manifests/daily/local/').filter((v) => v.Key.endsWith('.json'))).toHaveLength(1);
    expect(readdirSync(path.join(cutDataDir, 'connector', 'state', 'outbox')).filter((f) => f.endsWith('.json'))).toEqual([]);
  });
});
