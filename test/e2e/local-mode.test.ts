import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runLocalMode, stopLocalMode, type LocalRunSummary } from '../../local/local-mode';
import { rgwOwnerKey } from '../../local/ceph-rgw';
import { LOCAL_PORT_SPAN, portHolder } from '../../local/ports';
import { freePort, TEST_PORT_BLOCKS } from '../helpers/test-ports';
import { awsCli, cephChroot, describeWith } from '../helpers/prerequisites';
import { bufferSource, readBackupFile } from '../../protocol';
import { listRuns, showRun } from '../../cli/src/backups';
import { openFleet } from '../../cli/src/fleet';

/**
 * End to end through local mode: Ceph RGW, dynalite, the synthesized state machines, the local
 * gateway, the TDS stand-in and the real connector process. The result is checked with Debian's
 * AWS CLI, an S3 client independent of the code under test.
 */
const AWS = '/usr/bin/aws';

const dataDir = mkdtempSync(path.join(tmpdir(), 'so-backup-e2e-'));
const portBase = TEST_PORT_BLOCKS.localModeE2e;
const archive = path.join(dataDir, 'sample-so-arc');

/** The data folder each run's summary came from: the bucket owner's key is that folder's. */
const folderOf = new WeakMap<LocalRunSummary, string>();

function aws(summary: LocalRunSummary, ...args: string[]): string {
  // The bucket owner's key, made by RGW for the run's data folder (ceph/owner-key.json, 0600).
  const owner = rgwOwnerKey(path.join(folderOf.get(summary) ?? dataDir, 'ceph'));
  return execFileSync(AWS, ['--endpoint-url', summary.s3Endpoint, '--region', 'us-east-1', '--output', 'json', ...args], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    // Local mode's S3 speaks TLS only, under its own CA.
    env: {
      ...process.env,
      AWS_ACCESS_KEY_ID: owner.accessKeyId,
      AWS_SECRET_ACCESS_KEY: owner.secretAccessKey,
      AWS_CA_BUNDLE: summary.caBundle,
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    },
  });
}

/** S3 HeadObject on the run's bucket by the AWS CLI, with S3's checksum asked for; the latest version unless one is named. */
function headObject(summary: LocalRunSummary, object: { key: string; versionId?: string }): unknown {
  const version = object.versionId === undefined ? [] : [`--version-id=${object.versionId}`];
  return JSON.parse(
    aws(summary, 's3api', 'head-object', '--bucket', summary.bucket, '--key', object.key, ...version, '--checksum-mode', 'ENABLED'),
  );
}

interface Version {
  Key: string;
  VersionId: string;
  IsLatest: boolean;
  Size: number;
}
function versions(summary: LocalRunSummary, prefix: string): Version[] {
  const out = JSON.parse(aws(summary, 's3api', 'list-object-versions', '--bucket', summary.bucket, '--prefix', prefix) || '{}') as {
    Versions?: Version[];
  };
  return out.Versions ?? [];
}

function filesBelow(root: string, prefix = ''): string[] {
  return readdirSync(path.join(root, prefix), { withFileTypes: true }).flatMap((entry) => {
    const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
    return entry.isDirectory() ? filesBelow(root, relative) : [relative];
  });
}

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** Nothing listens on any port of this local-mode instance (its daemons and every Ceph port). */
function listenersOn(base: number): string[] {
  return Array.from({ length: LOCAL_PORT_SPAN }, (_, i) => base + i).flatMap((port) => {
    const holder = portHolder(port);
    return holder ? [`${port}: ${holder}`] : [];
  });
}

describeWith([cephChroot, awsCli], 'local mode as the README says: run, stop, run again — on a busy machine', () => {
  jest.setTimeout(900_000);
  let hog: ChildProcess | undefined;
  beforeAll(async () => {
    // Another program holds 3,000 loopback connections: their client ends sit on kernel ephemeral ports.
    hog = spawn(
      'bash',
      [
        '-c',
        `ulimit -n 16384 2>/dev/null; exec "${process.execPath}" "${path.join(__dirname, '..', 'helpers', 'connection-hog.js')}" ${await freePort()} 3000`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve, reject) => {
      hog!.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('ready 3000') && resolve());
      hog!.once('exit', (code) => reject(new Error(`the connection hog exited (${code})`)));
    });
  });
  afterAll(async () => {
    hog?.kill();
    await stopLocalMode(dataDir);
    rmSync(dataDir, { recursive: true, force: true }); // a Ceph cluster: ~800 MB
  });
  let first: LocalRunSummary;

  test('GIVEN a fresh machine and a gateway that loses the first result WHEN the daily backup runs THEN the connector sends the result again on its timer, the run SUCCEEDS, validated, and every service is stopped afterwards', async () => {
    first = await runLocalMode({ dataDir, portBase, fresh: true, log: () => undefined, tuning: { gatewayDropResults: 1 } });
    if (first.status !== 'SUCCEEDED') console.error(`${first.runId} ${first.status}:\n${first.history.join('\n')}`);
    expect(first.failure).toBeUndefined();
    const connectorLog = readFileSync(path.join(dataDir, 'logs', 'connector.log'), 'utf8');
    expect(connectorLog).toContain('result not acknowledged yet; sending it again');
    expect(connectorLog.split('\n').filter((line) => line.includes('"msg":"connected"'))).toHaveLength(1); // the timer, not a reconnect
    expect(first).toMatchObject({ status: 'SUCCEEDED', validated: true, runId: expect.stringMatching(/^local-\d{4}-\d{2}-\d{2}-daily$/) });
    expect(first.archive).toMatchObject({ files: 120, uploadedFiles: 120 });
    expect(listenersOn(portBase)).toEqual([]);
  });

  test('GIVEN one changed file and everything stopped WHEN local mode runs again THEN it starts every part again and sends only that file', async () => {
    appendFileSync(path.join(archive, filesBelow(archive).sort()[5]!), 'an edit made the next day');
    const second = await runLocalMode({ dataDir, portBase, log: () => undefined });
    expect(second.failure).toBeUndefined();
    expect(second).toMatchObject({ status: 'SUCCEEDED', validated: true, runId: `${first.runId}-2` });
    expect(second.archive).toMatchObject({ files: 120, uploadedFiles: 1, deletedFiles: 0 });
    expect(listenersOn(portBase)).toEqual([]);
  });

  test('GIVEN another changed file WHEN local mode runs a third time from stopped THEN S3 holds exactly the source, each changed file as one more version', async () => {
    const sorted = filesBelow(archive).sort();
    appendFileSync(path.join(archive, sorted[7]!), 'an edit made the day after');
    const third = await runLocalMode({ dataDir, portBase, keep: true, log: () => undefined });
    expect(third.failure).toBeUndefined();
    expect(third).toMatchObject({ status: 'SUCCEEDED', validated: true, runId: `${first.runId}-3` });
    expect(third.archive).toMatchObject({ files: 120, uploadedFiles: 1, deletedFiles: 0 });

    // Every archived file, downloaded by the AWS CLI, equals the source byte for byte.
    const download = mkdtempSync(path.join(tmpdir(), 'so-backup-e2e-dl-'));
    aws(third, 's3', 'cp', '--recursive', '--only-show-errors', `s3://${third.bucket}/archive/local/SO_ARC/`, download);
    const source = filesBelow(archive).sort();
    expect(source.length).toBe(120);
    expect(filesBelow(download).sort()).toEqual(source);
    for (const file of source) expect(sha256(path.join(download, file))).toBe(sha256(path.join(archive, file)));
    const perKey = new Map<string, number>();
    for (const v of versions(third, 'archive/local/')) perKey.set(v.Key, (perKey.get(v.Key) ?? 0) + 1);
    const changed = [5, 7].map((i) => `archive/local/SO_ARC/${sorted[i]}`);
    for (const key of changed) expect(perKey.get(key)).toBe(2);
    expect([...perKey.entries()].filter(([key, count]) => !changed.includes(key) && count !== 1)).toEqual([]);

    // The database backup is there, checksummed by S3, and is a SQL Server backup of SuperOffice.
    const db = third.databases[0]!;
    const head = headObject(third, { key: db.key, versionId: db.versionId }) as { ContentLength: number; ChecksumSHA256?: string };
    expect(head.ContentLength).toBe(db.size);
    expect(head.ChecksumSHA256).toMatch(/^[A-Za-z0-9+/]{43}=(-\d+)?$/);
    const bak = path.join(download, 'SuperOffice.bak');
    aws(third, 's3api', 'get-object', '--bucket', third.bucket, '--key', db.key, `--version-id=${db.versionId}`, bak);
    // Read as support would read it (so-backup verify-backup's reader): a complete full backup of SuperOffice.
    const { facts, problems } = await readBackupFile(bufferSource(readFileSync(bak)));
    expect(problems).toEqual([]);
    expect(facts).toMatchObject({
      database: 'SuperOffice',
      backupType: 'full',
      copyOnly: true,
      complete: true,
      family: { count: 1, number: 1 },
    });
    expect(statSync(bak).size).toBe(db.size);
    expect(versions(third, 'db/daily/local/')).toHaveLength(3);

    // The manifest names this run and every artifact at its version.
    const manifestFile = path.join(download, 'manifest.json');
    aws(third, 's3api', 'get-object', '--bucket', third.bucket, '--key', third.manifestKey!, manifestFile);
    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as {
      runId: string;
      databases: Array<{ artifact: { versionId: string } }>;
      archive: { files: number };
    };
    expect(manifest.runId).toBe(third.runId);
    expect(manifest.databases[0]?.artifact.versionId).toBe(db.versionId);
    expect(manifest.archive.files).toBe(120);

    // Only the first validated run of the week and month is copied inside S3 to the weekly and
    // monthly tiers: the copy carries S3's own SHA-256 of that daily backup, and the tier manifest names it.
    const firstDb = first.databases[0]!;
    const firstHead = headObject(third, { key: firstDb.key, versionId: firstDb.versionId }) as { ChecksumSHA256?: string };
    for (const tier of ['weekly', 'monthly']) {
      const [copy, ...more] = versions(third, `db/${tier}/local/`);
      expect(more).toEqual([]);
      const copyHead = headObject(third, { key: copy!.Key }) as { ContentLength: number; ChecksumSHA256?: string };
      expect(copyHead).toMatchObject({ ContentLength: firstDb.size, ChecksumSHA256: firstHead.ChecksumSHA256 });
      const tierManifest = path.join(download, `${tier}.json`);
      aws(third, 's3api', 'get-object', '--bucket', third.bucket, '--key', `manifests/${tier}/local/manifest.json`, tierManifest);
      expect(JSON.parse(readFileSync(tierManifest, 'utf8'))).toMatchObject({
        tier,
        runId: first.runId,
        promotedFrom: { key: first.manifestKey },
        databases: [{ artifact: { key: copy!.Key, versionId: copy!.VersionId } }],
      });
    }

    // The step-by-step history shows each state of the synthesized BackupRun.
    const steps = third.history.filter((line) => line.startsWith(third.runId)).join('\n');
    for (const state of ['Prepare', 'Request backup', 'Validate', 'Finalize', 'Backup succeeded']) expect(steps).toContain(state);

    // Every call was authorized against the template and none was refused; each function ran from its bundle on Node 24.
    expect(existsSync(path.join(dataDir, 'logs', 'access-denied.log'))).toBe(false);
    const requestLog = readdirSync(path.join(dataDir, 'logs')).find((f) => f.startsWith('lambda-BackupRunRequestBackup'))!;
    expect(readFileSync(path.join(dataDir, 'logs', requestLog), 'utf8')).toContain('backup job sent');
    // The connector uploaded with STS session credentials that RGW minted: plain HTTP is not even served.
    await expect(fetch(third.s3Endpoint.replace('https:', 'http:'))).rejects.toThrow();
  });

  test("GIVEN SuperOffice and 2two, where 2two is OFFLINE, WHEN the fourth day's backup runs THEN it FAILS and alerts naming 2two, while SuperOffice and the archive are validated, promoted and counted", async () => {
    const fourth = await runLocalMode({
      dataDir,
      portBase,
      keep: true,
      log: () => undefined,
      sqlDatabases: ['SuperOffice', '2two'],
      standInDatabaseStates: { '2two': { state: 'OFFLINE' } },
    });
    expect(fourth).toMatchObject({ status: 'FAILED', runId: `${first.runId}-4`, kept: { databases: ['SuperOffice'], archive: true } });
    expect(fourth.failure).toMatchObject({
      error: 'PartsFailed',
      cause: expect.stringMatching(
        /database 2two: SQL_DATABASE_OFFLINE: database "2two" is OFFLINE.*kept and validated: database SuperOffice, the archive/,
      ),
    });
    expect(fourth.failures).toEqual([
      { kind: 'database', name: '2two', code: 'SQL_DATABASE_OFFLINE', message: expect.stringMatching(/Bring it online/) },
    ]);
    const alerts = readFileSync(path.join(dataDir, 'alerts.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { subject?: string; message: string; publishedBy: string });
    // The run's own alert, published by the state machine's role; and the FailedRuns alarm, published by CloudWatch (the topic policy lets it).
    expect(alerts.filter((a) => a.subject === 'so-backup: backup of local FAILED').at(-1)).toMatchObject({
      message: expect.stringMatching(/2two.*OFFLINE/s),
      publishedBy: expect.stringContaining('assumed-role/BackupRunStateMachineRole'),
    });
    expect(alerts.filter((a) => a.publishedBy === 'cloudwatch.amazonaws.com').map((a) => a.subject)).toEqual(
      expect.arrayContaining([expect.stringContaining('AlarmsFailedRuns')]),
    );
    // The good parts count: a fourth validated daily version of SuperOffice, and the run's kept manifest names it.
    const daily = versions(fourth, 'db/daily/local/');
    expect(daily.map((v) => v.Key)).toEqual(Array(4).fill('db/daily/local/SuperOffice.bak'));
    expect(fourth.databases).toEqual([
      expect.objectContaining({
        database: 'SuperOffice',
        key: 'db/daily/local/SuperOffice.bak',
        versionId: daily.find((v) => v.IsLatest)!.VersionId,
      }),
    ]);
    expect(versions(fourth, 'manifests/daily/local/manifest.json')).toHaveLength(4);
    // The staged manifest names the failure with its reason; nothing of the run is in any tier but daily.
    const staged = path.join(dataDir, 'staged.json');
    aws(fourth, 's3api', 'get-object', '--bucket', fourth.bucket, '--key', fourth.stagedManifestKey!, staged);
    expect(JSON.parse(readFileSync(staged, 'utf8'))).toMatchObject({
      failures: [{ kind: 'database', name: '2two', error: { code: 'SQL_DATABASE_OFFLINE' } }],
    });
    expect(versions(fourth, 'db/weekly/local/')).toHaveLength(1);
    // `so-backup run show` and `runs` show what was kept and what failed.
    const fleet = await openFleet({ local: dataDir, stackName: 'SoBackup' });
    try {
      const shown = await showRun(fleet, fourth.runId);
      expect(shown).toMatchObject({ status: 'FAILED', kept: 'partly', artifactsAre: 'kept' });
      expect(shown.parts).toEqual([
        { kind: 'database', name: 'SuperOffice', outcome: 'kept' },
        { kind: 'archive', name: 'SO_ARC', outcome: 'kept' },
        {
          kind: 'database',
          name: '2two',
          outcome: 'failed',
          detail: expect.stringMatching(/^SQL_DATABASE_OFFLINE: database "2two" is OFFLINE/),
        },
      ]);
      expect((await listRuns(fleet, 'local', 3)).map((r) => [r.status, r.kept])).toEqual([
        ['FAILED', 'partly'],
        ['SUCCEEDED', 'all'],
        ['SUCCEEDED', 'all'],
      ]);
    } finally {
      fleet.close();
    }
  });
});

describeWith([cephChroot, awsCli], 'local mode, when API Gateway cuts the connection in the middle of a backup', () => {
  jest.setTimeout(600_000);
  const cutDataDir = mkdtempSync(path.join(tmpdir(), 'so-backup-e2e-cut-'));
  afterAll(async () => {
    await stopLocalMode(cutDataDir);
    rmSync(cutDataDir, { recursive: true, force: true });
  });

  test('GIVEN a 6 s idle timeout, an 8 s connection limit and a 12 s backup WHEN the gateway closes the socket mid-job THEN the result still arrives once and the run SUCCEEDS', async () => {
    const summary = await runLocalMode({
      dataDir: cutDataDir,
      portBase: TEST_PORT_BLOCKS.localModeCutE2e,
      fresh: true,
      keep: true,
      log: () => undefined,
      // Limits far below API Gateway's (10 min idle, 2 h) so the socket is cut mid-job, yet long enough
      // for a connection's own start (authorizer, $connect, settings) on a loaded CI machine: at 4 s / 5 s
      // every connection could end before the result's acknowledgement came back (CI, 2026-11-30).
      tuning: { gatewayIdleTimeoutMs: 6000, gatewayMaxConnectionMs: 8000, sqlBackupChunkDelayMs: 500 },
    });
    folderOf.set(summary, cutDataDir);
    // The run's step-by-step history, to diagnose a failure.
    if (summary.status !== 'SUCCEEDED') console.error(`${summary.runId} ${summary.status}:\n${summary.history.join('\n')}`);
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
