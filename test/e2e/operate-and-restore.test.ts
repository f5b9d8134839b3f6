import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import https from 'node:https';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { Duration } from 'aws-cdk-lib';
import { openFleet } from '../../cli/src/fleet';
import { tsxCommand, USER_NODE } from '../../local/daemons';
import { localPorts, runLocalMode, standInConnectionString, stopLocalMode } from '../../local/local-mode';
import { type CliResult, runConnectorRestore, runSoBackup } from '../../local/so-backup-cli';
import { TEST_PORT_BLOCKS } from '../helpers/test-ports';
import { rgwOwnerKey } from '../../local/ceph-rgw';
import { awsCli, cephChroot, describeWith } from '../helpers/prerequisites';

/**
 * The support engineer's whole flow for an Online customer, with the real `so-backup` command
 * against local mode: add the tenant, enrol its connector, take a backup with a reason and
 * --wait, read runs and the run's steps, share a download link (fetched through local mode's AWS
 * endpoint, which checks the signature and IAM), and see the fleet's status. Then customer IT restores with the real
 * `so-connector restore`: a database under a new name, the archive as it was at a run or a date.
 */
const ROOT = path.resolve(__dirname, '..', '..');
const dataDir = mkdtempSync(path.join(tmpdir(), 'so-backup-cli-'));
const portBase = TEST_PORT_BLOCKS.operateE2e;
const ports = localPorts(portBase);
const me = `local:${userInfo().username}`;
const holdFile = path.join(dataDir, 'hold-sql-backups');
/** Customer IT's servers trust S3's certificate; local mode's S3 has its own CA. */
const connectorEnv = () => ({ ...process.env, NODE_EXTRA_CA_CERTS: path.join(dataDir, 'tls', 'ca.crt') });

/** Every file below `root` with its content, by relative path. */
function treeOf(root: string, prefix = ''): Record<string, string> {
  return Object.fromEntries(
    readdirSync(path.join(root, prefix), { withFileTypes: true }).flatMap((entry) => {
      const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
      return entry.isDirectory() ? Object.entries(treeOf(root, relative)) : [[relative, readFileSync(path.join(root, relative), 'latin1')]];
    }),
  );
}

/** GET over HTTPS trusting local mode's CA (a browser or curl would be told to trust it too). */
function get(url: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca: readFileSync(path.join(dataDir, 'tls', 'ca.crt')) }, async (res) => {
        const chunks: Buffer[] = [];
        for await (const chunk of res) chunks.push(chunk as Buffer);
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) });
      })
      .on('error', reject);
  });
}

/** Runs the so-backup command against this local mode; `json` is its parsed --json output. */
const soBackup = <T = unknown>(...args: string[]) => runSoBackup<T>(dataDir, args);

/**
 * Customer IT enrols a connector with its activation code and starts `so-connector run` (here
 * against the SQL stand-in), its archive `<home>/SO_ARC`. `configChanges` are written into the
 * configuration file enrol made; the connector's output goes to `log` when given.
 */
function enrolAndStart(activationCode: string, home: string, options: { configChanges?: object; log?: string } = {}) {
  mkdirSync(path.join(home, 'staging'), { recursive: true });
  const config = path.join(home, 'config.json');
  const enrol = tsxCommand('connector/src/bin/so-connector.ts', [
    'enrol',
    '--endpoint',
    `ws://127.0.0.1:${ports.gateway}`,
    '--code',
    activationCode,
    '--config',
    config,
    '--state-dir',
    path.join(home, 'state'),
    '--sql',
    standInConnectionString(portBase, dataDir),
    '--database',
    'SuperOffice',
    '--staging',
    path.join(home, 'staging'),
    '--archive',
    `SO_ARC=${path.join(home, 'SO_ARC')}`,
  ]);
  execFileSync(enrol.command, enrol.args, { stdio: 'pipe', env: connectorEnv() });
  if (options.configChanges)
    writeFileSync(config, JSON.stringify({ ...JSON.parse(readFileSync(config, 'utf8')), ...options.configChanges }, null, 2));
  const run = tsxCommand('connector/src/bin/so-connector.ts', ['run', '--config', config]);
  const output = options.log ? openSync(options.log, 'a') : 'ignore';
  return { config, process: spawn(run.command, run.args, { stdio: ['ignore', output, output], env: connectorEnv() }) };
}

describeWith([cephChroot, awsCli], 'operating with so-backup and restoring with so-connector, against local mode', () => {
  jest.setTimeout(600_000);
  let connector: ChildProcess | undefined;
  let checkingIn: ChildProcess | undefined;
  let runId = '';
  let firstLocalRun = '';

  beforeAll(async () => {
    // Slow SQL backups (about 6 s) leave time to detach from and cancel a running backup.
    firstLocalRun = (
      await runLocalMode({
        dataDir,
        portBase,
        fresh: true,
        keep: true,
        log: () => undefined,
        tuning: { sqlBackupChunkDelayMs: 250, sqlBackupHoldFile: holdFile },
        // Connectors check in every minute (the default is an hour), and a run retries an absent connector every 20 s
        // (15 min): the check-in test below in minutes. Every other connector here stays its first 30 minutes.
        stack: { checkInMinutes: 1, offlineRetryInterval: Duration.seconds(20), offlineRetryWindow: Duration.minutes(10) },
      })
    ).runId;
  });
  afterAll(async () => {
    connector?.kill('SIGTERM');
    checkingIn?.kill('SIGTERM');
    await stopLocalMode(dataDir);
    rmSync(dataDir, { recursive: true, force: true }); // a Ceph cluster: ~800 MB
  });

  test("GIVEN local mode running WHEN another local user looks for its secrets THEN DynamoDB has no port, and the bucket owner's key is RGW's own, on no command line and in no operator file (issue 14, F1 and F2)", async () => {
    // F1: dynalite answered anyone on loopback, any signature. It now listens on a socket in the 0700 data folder only.
    const dynalite = Number(readFileSync(path.join(dataDir, 'run', 'dynalite.pid'), 'utf8'));
    const tcp = execFileSync('ss', ['-Hltnp'], { encoding: 'utf8' });
    expect(tcp).not.toContain(`pid=${dynalite},`);
    expect(tcp).not.toContain(`127.0.0.1:${portBase + 1} `);
    expect(statSync(path.join(dataDir, 'run', 'dynamodb.sock')).isSocket()).toBe(true);
    expect((statSync(dataDir).mode & 0o777).toString(8)).toBe('700');
    // F2: the owner key is made by RGW for this folder (0600), not the constant an earlier version shipped…
    const ownerFile = path.join(dataDir, 'ceph', 'owner-key.json');
    const owner = rgwOwnerKey(path.join(dataDir, 'ceph'));
    expect((statSync(ownerFile).mode & 0o777).toString(8)).toBe('600');
    expect(owner.accessKeyId).not.toBe('SOBACKUPLOCALACCESS0');
    // …on no process's command line (ps shows them to every user)…
    const commandLines = readdirSync('/proc')
      .filter((entry) => /^\d+$/.test(entry))
      .map((pid) => {
        try {
          return readFileSync(path.join('/proc', pid, 'cmdline'), 'utf8');
        } catch {
          return ''; // exited meanwhile
        }
      });
    expect(commandLines.filter((line) => line.includes(owner.secretAccessKey) || line.includes(owner.accessKeyId))).toEqual([]);
    // …and not handed to the operator: the CLI reaches S3 through the AWS endpoint with the operator's own key.
    const outputs = readFileSync(path.join(dataDir, 'outputs.json'), 'utf8');
    expect(outputs).not.toContain(owner.secretAccessKey);
    expect(outputs).not.toContain(owner.accessKeyId);
    // A sibling: the SQL Server stand-in's login was a constant of the repository too; now made per folder, 0600.
    const login = JSON.parse(readFileSync(path.join(dataDir, 'sql-login.json'), 'utf8')) as { password: string };
    expect((statSync(path.join(dataDir, 'sql-login.json')).mode & 0o777).toString(8)).toBe('600');
    expect(login.password).not.toBe('Local-Stand-In-1');
    expect(login.password.length).toBeGreaterThanOrEqual(24);
  });

  test('GIVEN a new Online customer WHEN support adds it, IT enrols the connector and support takes a backup with a reason THEN the run is validated and recorded with who and why', async () => {
    const added = await soBackup<{ activationCode: string; enrolCommand: string }>(
      '--json',
      'tenants',
      'add',
      'acme',
      '--name',
      'Acme AS',
      '--online',
    );
    expect(added.code).toBe(0);
    expect(added.json).toMatchObject({
      tenant: { tenantId: 'acme', displayName: 'Acme AS', online: true, enabled: true },
      activationCode: expect.stringMatching(/^acme:/),
    });
    expect(added.json.enrolCommand).toContain(`--endpoint ws://127.0.0.1:${ports.gateway} --code "${added.json.activationCode}"`);
    expect((await soBackup('tenants', 'add', 'acme', '--name', 'Again')).code).toBe(2);

    // Customer IT enrols with the code and runs the connector (here: against the SQL stand-in).
    const home = path.join(dataDir, 'acme');
    mkdirSync(path.join(home, 'SO_ARC', 'ANNA'), { recursive: true });
    writeFileSync(path.join(home, 'SO_ARC', 'ANNA', 'offer.docx'), 'an offer');
    connector = enrolAndStart(added.json.activationCode, home).process;
    let connectors: CliResult<Array<{ tenantId: string; online: boolean }>> | undefined;
    for (let i = 0; i < 120; i++) {
      connectors = await soBackup('--json', 'connectors');
      if (connectors.json?.find((c) => c.tenantId === 'acme')?.online) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(connectors!.json).toEqual(
      expect.arrayContaining([expect.objectContaining({ tenantId: 'acme', online: true, connectorVersion: expect.any(String) })]),
    );

    expect((await soBackup('backup', 'acme')).code).toBe(2); // a reason is required
    const reason = 'Customer asked for a copy before upgrading (ticket 4711)';
    const backup = await soBackup<{ runId: string }>('--json', 'backup', 'acme', '--reason', reason, '--wait');
    expect(backup.stderr).toContain('Ctrl-C detaches; the backup goes on');
    expect(backup.code).toBe(0);
    expect(backup.json).toMatchObject({
      tenantId: 'acme',
      trigger: 'support',
      requestedBy: me,
      reason,
      status: 'SUCCEEDED',
      validated: true,
    });
    runId = backup.json.runId;
    expect(runId).toMatch(/^acme-\d{4}-\d{2}-\d{2}-support$/);

    const runs = await soBackup('--json', 'runs', 'acme');
    expect(runs.json).toEqual([
      expect.objectContaining({
        runId,
        trigger: 'support',
        requestedBy: me,
        reason,
        status: 'SUCCEEDED',
        validated: true,
        uploadedBytes: expect.any(Number),
      }),
    ]);

    const shown = await soBackup<{ steps: Array<{ name: string; outcome: string }>; artifacts: unknown[] }>('--json', 'run', 'show', runId);
    expect(shown.json).toMatchObject({ runId, requestedBy: me, reason, validation: { ok: true }, shares: [] });
    expect(shown.json.steps.map((s) => s.name)).toEqual(expect.arrayContaining(['Prepare', 'Request backup', 'Validate', 'Finalize']));
    expect(shown.json.steps.filter((s) => s.outcome !== 'succeeded')).toEqual([]);
    expect(shown.json.artifacts).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'database', key: 'db/daily/acme/SuperOffice.bak', versionId: expect.any(String) }),
      ]),
    );
    const human = await soBackup('run', 'show', runId);
    expect(human.stdout).toContain(`trigger support, by ${me}, because: ${reason}`);
    expect(human.stdout).toMatch(/Finalize\s+\d\d:\d\d:\d\d\s+\S+\s+succeeded/);
  });

  test('GIVEN a validated run WHEN support shares it THEN the link downloads exactly the backup through S3 (signature checked), the share is recorded, and an expiry beyond 7 days is refused', async () => {
    const tooLong = await soBackup('share', runId, '--expires', '8d');
    expect(tooLong.code).toBe(2);
    expect(tooLong.stderr).toContain('a presigned link lives at most 7 days');

    const shared = await soBackup<{ links: Array<{ url: string; sha256: string; size: number }> }>(
      '--json',
      'share',
      runId,
      '--expires',
      '72h',
      '--reason',
      'sent to Acme IT',
    );
    expect(shared.code).toBe(0);
    const [link] = shared.json.links;
    // Signed with the operator's own key for the AWS endpoint, which checks the signature, X-Amz-Expires and IAM (issue 14, F3).
    const operator = JSON.parse(readFileSync(path.join(dataDir, 'operator.json'), 'utf8')) as { accessKeyId: string };
    expect(link!.url).toContain(`127.0.0.1:${ports.aws}`);
    expect(new URL(link!.url).searchParams.get('X-Amz-Credential')).toMatch(new RegExp(`^${operator.accessKeyId}/`));
    expect(link!.url).toContain('X-Amz-Expires=259200');
    const download = await get(link!.url);
    expect(download.status).toBe(200);
    const body = download.body;
    expect(body.length).toBe(link!.size);
    expect(createHash('sha256').update(body).digest('hex')).toBe(link!.sha256);
    // The AWS endpoint checks the signature: a link altered to another key is refused.
    expect((await get(link!.url.replace('SuperOffice.bak', 'Other.bak'))).status).toBe(403);

    const shown = await soBackup<{ shares: Array<{ at: string; expiresAt: string }> }>('--json', 'run', 'show', runId);
    expect(shown.json.shares).toEqual([
      expect.objectContaining({ by: me, reason: 'sent to Acme IT', keys: ['db/daily/acme/SuperOffice.bak'] }),
    ]);
    expect(Date.parse(shown.json.shares[0]!.expiresAt) - Date.parse(shown.json.shares[0]!.at)).toBe(72 * 3600_000);
  });

  test('GIVEN a tenant whose last validated backup is 30 h old WHEN the operator asks for the status THEN it is marked stale and listed first', async () => {
    const fleet = await openFleet({ local: dataDir, stackName: 'unused' });
    const local = (await fleet.tenants.get('local'))!;
    await fleet.tenants.recordSuccess('local', local.lastRunId!, new Date(Date.now() - 30 * 3600_000).toISOString());
    fleet.close();

    const status = await soBackup<Array<{ tenantId: string; lastBackupAgeHours: number }>>('--json', 'status');
    expect(status.code).toBe(1); // not every tenant is healthy
    expect(status.json.map((t) => t.tenantId)).toEqual(['local', 'acme']);
    expect(status.json[0]).toMatchObject({ tenantId: 'local', health: 'stale', stale: true, lastBackupAgeHours: expect.any(Number) });
    expect(status.json[0]!.lastBackupAgeHours).toBeGreaterThanOrEqual(30);
    expect(status.json[1]).toMatchObject({ tenantId: 'acme', health: 'ok', stale: false, connector: 'online' });
    expect((await soBackup('status')).stdout).toMatch(/local\s+stale\s+1d 6h ago\s+STALE/);
  });

  test('GIVEN a backup followed with --wait WHEN support presses Ctrl-C THEN the CLI detaches, says the backup goes on, and it does; --cancel stops a running one and records who', async () => {
    const child = execFile(USER_NODE, [
      path.join(ROOT, 'cli', 'bin', 'so-backup.cjs'),
      '--local',
      dataDir,
      'backup',
      'acme',
      '--reason',
      'second copy for the customer',
      '--wait',
    ]);
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    for (let i = 0; i < 200 && !stderr.includes('started'); i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 500));
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(130);
    expect(stderr).toMatch(/Detached: the backup acme-\d{4}-\d{2}-\d{2}-support-2 is NOT cancelled and goes on/);
    let latest: CliResult<Array<{ runId: string; status: string }>> | undefined;
    for (let i = 0; i < 120; i++) {
      latest = await soBackup('--json', 'runs', 'acme', '--limit', '1');
      if (latest.json[0]?.status !== 'RUNNING') break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(latest!.json[0]).toMatchObject({ runId: expect.stringMatching(/-support-2$/), status: 'SUCCEEDED' });

    // SQL Server holds this backup mid-way until it is cancelled, however slow the machine is.
    writeFileSync(holdFile, '');
    try {
      const started = await soBackup<{ runId: string }>(
        '--json',
        'backup',
        'acme',
        '--reason',
        'a third copy, to be cancelled',
        '--trigger',
        'operator',
      );
      expect(started.code).toBe(0);
      expect(started.json.runId).toMatch(/-operator$/);
      for (
        let i = 0;
        i < 100 && (await soBackup<Array<{ status: string }>>('--json', 'runs', 'acme', '--limit', '1')).json[0]?.status !== 'RUNNING';
        i++
      )
        await new Promise((r) => setTimeout(r, 100));
      const cancelled = await soBackup('--json', 'backup', 'acme', '--cancel', '--yes', '--reason', 'asked by mistake');
      expect(cancelled).toMatchObject({ code: 0, json: { runId: started.json.runId, cancelledBy: me, connectorsTold: 1 } });
      // The connector stops its work and reports the cancellation.
      let shown: CliResult<{ connectorResult?: { error?: { code: string } } }> | undefined;
      for (let i = 0; i < 100; i++) {
        shown = await soBackup('--json', 'run', 'show', started.json.runId);
        if (shown.json.connectorResult) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(shown!.json).toMatchObject({
        status: 'FAILED',
        failure: { error: 'Cancelled', cause: `cancelled by ${me}: asked by mistake` },
        connectorResult: { outcome: 'failed', error: { code: 'CANCELLED' } },
      });
      expect((await soBackup('backup', 'acme', '--cancel', '--yes')).code).toBe(3); // nothing running any more
    } finally {
      rmSync(holdFile, { force: true });
    }
  });

  test('GIVEN two validated runs WHEN customer IT restores THEN the database comes back under a new name, the archive as it was at each run (by id or by date) byte for byte, one file alone; an existing database is not overwritten; the restores are recorded', async () => {
    const archive = path.join(dataDir, 'sample-so-arc');
    const before = treeOf(archive);
    const changed = Object.keys(before).sort()[3]!;
    appendFileSync(path.join(archive, changed), ' - edited after the first backup');
    const second = await soBackup<{ runId: string; status: string }>(
      '--json',
      'backup',
      'local',
      '--reason',
      'a second run to restore from',
      '--wait',
    );
    expect(second.json.status).toBe('SUCCEEDED');
    const runs = (await soBackup<Array<{ runId: string; startedAt: string }>>('--json', 'runs', 'local')).json;
    const first = runs.find((r) => r.runId === firstLocalRun)!;

    const restore = (...args: string[]) =>
      runConnectorRestore<{ runId: string; database?: { restoredAs: string; files: Array<{ to: string }> }; archive?: { files: number } }>(
        dataDir,
        args,
      );
    const byId = await restore(
      '--run',
      firstLocalRun,
      '--database-name',
      'SuperOffice_restored',
      '--archive-to',
      path.join(dataDir, 'restored-by-id'),
    );
    expect(byId.code).toBe(0);
    expect(byId.json).toMatchObject({ runId: firstLocalRun, database: { restoredAs: 'SuperOffice_restored' }, archive: { files: 120 } });
    expect(byId.json.database!.files.map((f) => path.basename(f.to))).toEqual(['SuperOffice_restored.mdf', 'SuperOffice_restored_log.ldf']);
    expect(treeOf(path.join(dataDir, 'restored-by-id', 'SO_ARC'))).toEqual(before);

    const atDate = await restore(
      '--at',
      new Date(Date.parse(first.startedAt) + 1000).toISOString(),
      '--archive-to',
      path.join(dataDir, 'restored-at-date'),
    );
    expect(atDate.json.runId).toBe(firstLocalRun);
    expect(treeOf(path.join(dataDir, 'restored-at-date', 'SO_ARC'))).toEqual(before);

    const oneFile = await restore('--file', `SO_ARC/${changed}`, '--archive-to', path.join(dataDir, 'restored-one-file'));
    expect(oneFile.json).toMatchObject({ runId: second.json.runId, archive: { files: 1 } });
    expect(treeOf(path.join(dataDir, 'restored-one-file'))).toEqual({
      [`SO_ARC/${changed}`]: `${before[changed]} - edited after the first backup`,
    });

    const again = await restore('--database-name', 'SuperOffice_restored');
    expect(again).toMatchObject({ code: 2, stderr: expect.stringContaining('database "SuperOffice_restored" exists') });
    const live = await restore('--archive-to', archive);
    expect(live).toMatchObject({ code: 2, stderr: expect.stringContaining('live archive') });

    const shown = await soBackup<{ restores: Array<{ by: string }> }>('--json', 'run', 'show', firstLocalRun);
    expect(shown.json.restores).toEqual([
      expect.objectContaining({ by: expect.stringMatching(/@/) }),
      expect.objectContaining({ by: expect.stringMatching(/@/) }),
    ]);
  });

  test('GIVEN an archive that needs three backup windows at a small bandwidth limit WHEN it is backed up night after night THEN each night validates the database and part of the archive, the next nights go on without sending anything twice, the last snapshot is complete and restores byte for byte, and the tenant is never stale', async () => {
    const home = path.join(dataDir, 'acme');
    const archive = path.join(home, 'SO_ARC');
    mkdirSync(path.join(archive, 'SEED'), { recursive: true });
    // 96 documents of 1 MiB (101 MB). At 8 Mbit/s (1 MB/s) a 60-second window holds the stand-in's
    // 25 MB database (about 31 s with its backup) and at most about 29 s of documents plus those in
    // flight at its end (about 10 s of the limit): under 40 MB a night, so at least three nights.
    const documentBytes = 1024 * 1024;
    for (let i = 0; i < 96; i++)
      writeFileSync(path.join(archive, 'SEED', `document-${String(i).padStart(3, '0')}.pdf`), randomBytes(documentBytes));
    expect((await soBackup('tenants', 'set', 'acme', '--bandwidth', '8 Mbit/s')).code).toBe(0);
    type Progress = { filesDone: number; filesTotal: number; pendingFiles: number; uploadedBytes: number };
    type Shown = { runId: string; status: string; windowEndsAt?: string; archiveProgress?: Progress; artifacts: Array<{ kind: string }> };
    const nights: Shown[] = [];
    for (let night = 1; night <= 10; night++) {
      const run = await soBackup<{ runId: string; status: string; validated: boolean }>(
        '--json',
        'backup',
        'acme',
        '--reason',
        `seeding, night ${night}`,
        '--window',
        '60s',
        '--wait',
      );
      expect(run.json).toMatchObject({ status: 'SUCCEEDED', validated: true });
      const shown = (await soBackup<Shown>('--json', 'run', 'show', run.json.runId)).json;
      expect(shown.windowEndsAt).toEqual(expect.any(String));
      // The database is backed up and validated every night, whatever the window.
      expect(shown.artifacts).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'database' })]));
      nights.push(shown);
      const status = await soBackup<Array<{ tenantId: string; stale: boolean }>>('--json', 'status');
      expect(status.json.find((t) => t.tenantId === 'acme')).toMatchObject({ stale: false });
      if (shown.archiveProgress?.pendingFiles === 0) break;
      expect(shown.archiveProgress).toMatchObject({ pendingFiles: expect.any(Number), uploadedBytes: expect.any(Number) });
      expect(shown.archiveProgress!.uploadedBytes).toBeGreaterThan(0); // every night goes on
      expect((await soBackup('status')).stdout).toMatch(/acme.*seeding \d+ %/);
    }
    expect(nights.length).toBeGreaterThanOrEqual(3);
    const last = nights.at(-1)!;
    expect(last.archiveProgress).toMatchObject({ pendingFiles: 0, filesDone: last.archiveProgress!.filesTotal });
    // Nothing was sent twice: the nights together sent each document once.
    expect(nights.reduce((sum, n) => sum + n.archiveProgress!.uploadedBytes, 0)).toBe(96 * documentBytes);
    expect(nights[0]!.archiveProgress!.filesDone).toBeLessThan(nights[1]!.archiveProgress!.filesDone);
    expect((await soBackup<{ seeding?: unknown }>('--json', 'tenants', 'show', 'acme')).json.seeding).toBeUndefined();

    const restore = (runId: string, to: string) =>
      runConnectorRestore<{ archive?: { files: number; seeding?: { files: number; of: number } } }>(
        dataDir,
        ['--run', runId, '--archive-to', path.join(dataDir, to)],
        path.join(home, 'config.json'),
      );
    const complete = await restore(last.runId, 'seeded-complete');
    expect(complete.code).toBe(0);
    expect(complete.json.archive).toMatchObject({ files: 97 });
    expect(complete.json.archive!.seeding).toBeUndefined();
    expect(treeOf(path.join(dataDir, 'seeded-complete', 'SO_ARC'))).toEqual(treeOf(archive));
    const partial = await restore(nights[0]!.runId, 'seeded-night-1');
    expect(partial.code).toBe(0);
    expect(partial.json.archive!.seeding).toMatchObject({ files: nights[0]!.archiveProgress!.filesDone, of: 97 });
    expect((await soBackup('tenants', 'set', 'acme', '--bandwidth', 'default')).code).toBe(0);
  });

  test('GIVEN a connector that checks in (issue 18: the default, for cost) WHEN support asks for a backup while it is away THEN the run starts at its next check-in and is validated; between check-ins the connector is resting, not offline, and after the run it leaves again', async () => {
    const added = await soBackup<{ activationCode: string }>('--json', 'tenants', 'add', 'beta', '--name', 'Beta AS');
    expect(added.code).toBe(0);
    const home = path.join(dataDir, 'beta');
    mkdirSync(path.join(home, 'SO_ARC', 'PER'), { recursive: true });
    writeFileSync(path.join(home, 'SO_ARC', 'PER', 'contract.pdf'), randomBytes(4096));
    const log = path.join(home, 'connector.log');
    // No stay after the start (customer IT's default is 30 minutes): it leaves after its first check-in.
    checkingIn = enrolAndStart(added.json.activationCode, home, { configChanges: { startupHoldMinutes: 0 }, log }).process;
    const leaves = () => (existsSync(log) ? readFileSync(log, 'utf8').split('checking in again at').length - 1 : 0);
    const until = async (what: string, ok: () => boolean | Promise<boolean>, seconds: number) => {
      const end = Date.now() + seconds * 1000;
      while (!(await ok())) {
        if (Date.now() > end)
          throw new Error(
            `${what}: not within ${seconds} s; connector log:\n${existsSync(log) ? readFileSync(log, 'utf8').slice(-3000) : ''}`,
          );
        await new Promise((r) => setTimeout(r, 500));
      }
    };
    await until('the connector checked in and left', () => leaves() >= 1, 120);

    type Connector = { tenantId: string; online: boolean; resting?: boolean; state?: string };
    const away = (await soBackup<Connector[]>('--json', 'connectors')).json.find((c) => c.tenantId === 'beta');
    expect(away).toMatchObject({ online: false, resting: true });
    expect((await soBackup('status')).stdout).toMatch(/beta.*checks in every 1 ?min/);

    const askedAt = Date.now();
    const backup = await soBackup<{ runId: string; status: string; validated: boolean }>(
      '--json',
      'backup',
      'beta',
      '--reason',
      'a copy before the upgrade, connector checking in',
      '--wait',
    );
    expect(backup.stderr).toMatch(/next check-in/);
    expect(backup.json).toMatchObject({ status: 'SUCCEEDED', validated: true });
    // The next check-in (at most 66 s away), then the run's next try (every 20 s here), then the backup itself.
    expect(Date.now() - askedAt).toBeLessThan(240_000);
    const shown = await soBackup<{ steps: Array<{ name: string; outcome: string }> }>('--json', 'run', 'show', backup.json.runId);
    expect(shown.json.steps.filter((s) => s.name === 'Request backup').length).toBeGreaterThanOrEqual(1);

    // After its result is acknowledged it leaves again, and is still not called offline.
    const leftBefore = leaves();
    await until('the connector left again after the run', () => leaves() > leftBefore, 120);
    expect((await soBackup<Connector[]>('--json', 'connectors')).json.find((c) => c.tenantId === 'beta')).toMatchObject({
      online: false,
      resting: true,
    });
    const status = await soBackup<Array<{ tenantId: string; connector: string; stale: boolean }>>('--json', 'status');
    expect(status.json.find((t) => t.tenantId === 'beta')).toMatchObject({ connector: 'resting', stale: false });

    // A tenant set to always: told at once (a settings push needs a live connection, so at the next check-in), it stays.
    expect((await soBackup('tenants', 'set', 'beta', '--presence', 'always')).code).toBe(0);
    await until(
      'an always-connected connector',
      async () => (await soBackup<Connector[]>('--json', 'connectors')).json.find((c) => c.tenantId === 'beta')?.online === true,
      120,
    );
    const stayed = leaves();
    await new Promise((r) => setTimeout(r, 45_000)); // longer than a check-in's 30 s
    expect(leaves()).toBe(stayed);
    expect((await soBackup<Connector[]>('--json', 'connectors')).json.find((c) => c.tenantId === 'beta')?.online).toBe(true);
  });

  test('tenant settings change (name, Online, backup hour); errors are named with their exit codes: unknown tenant or run, disabled tenant, bad hour, local mode not running', async () => {
    const unknown = await soBackup('runs', 'nosuch');
    expect(unknown).toMatchObject({ code: 3, stderr: expect.stringContaining('unknown tenant "nosuch"') });
    expect((await soBackup('run', 'show', 'acme-1999-01-01-support')).code).toBe(3);

    // A bandwidth limit set centrally reaches the running connector at once (no restart), which keeps it in its state folder.
    const schedule = { default: '50 Mbit/s', schedule: [{ days: 'daily', from: '00:00', to: '24:00', limit: '20 Mbit/s' }] };
    const limited = await soBackup<{ bandwidth: unknown }>('--json', 'tenants', 'set', 'acme', '--bandwidth', JSON.stringify(schedule));
    expect(limited.json).toMatchObject({ bandwidth: schedule, connectorsTold: 1 });
    const kept = path.join(dataDir, 'acme', 'state', 'tenant-settings.json');
    const keptSetting = async () => {
      for (let i = 0; i < 60; i++) {
        if (existsSync(kept)) {
          const settings = JSON.parse(readFileSync(kept, 'utf8')) as { bandwidth: unknown };
          if (JSON.stringify(settings.bandwidth) === JSON.stringify(limited.json.bandwidth ?? null)) return settings.bandwidth;
        }
        await new Promise((r) => setTimeout(r, 250));
      }
      return JSON.parse(readFileSync(kept, 'utf8')).bandwidth;
    };
    expect(await keptSetting()).toEqual(schedule);
    expect((await soBackup('tenants', 'show', 'acme')).stdout).toContain('bandwidth: 50 Mbit/s; daily 00:00-24:00 20 Mbit/s');
    expect(await soBackup('tenants', 'set', 'acme', '--bandwidth', '20 Mb/s')).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('could mean bits or bytes; write Mbit/s for bits or MB/s for bytes'),
    });
    const cleared = await soBackup<{ bandwidth?: unknown; connectorsTold: number }>(
      '--json',
      'tenants',
      'set',
      'acme',
      '--bandwidth',
      'default',
    );
    expect(cleared.json).toMatchObject({ connectorsTold: 1 });
    expect(cleared.json.bandwidth).toBeUndefined();
    limited.json.bandwidth = null;
    expect(await keptSetting()).toBeNull();

    const disabled = await soBackup('--json', 'tenants', 'disable', 'acme');
    expect(disabled.json).toMatchObject({ tenantId: 'acme', enabled: false, connectionsClosed: 1 });
    const refused = await soBackup('backup', 'acme', '--reason', 'should not start');
    expect(refused).toMatchObject({ code: 1, stderr: expect.stringContaining('tenant "acme" is disabled') });
    expect((await soBackup('--json', 'tenants', 'enable', 'acme')).json).toMatchObject({ enabled: true });
    expect((await soBackup('tenants', 'remove', 'acme')).code).toBe(2); // no terminal to confirm on, no --yes
    expect((await soBackup('--json', 'tenants', 'set', 'acme', '--backup-hour', '3', '--name', 'Acme Norge AS')).json).toMatchObject({
      backupHour: 3,
      name: 'Acme Norge AS',
      online: true,
    });
    expect(
      (await soBackup<{ backupHour?: number }>('--json', 'tenants', 'set', 'acme', '--backup-hour', 'default', '--no-online')).json,
    ).toMatchObject({ online: false });
    expect((await soBackup<{ backupHour?: number }>('--json', 'tenants', 'show', 'acme')).json.backupHour).toBeUndefined();
    expect((await soBackup('tenants', 'set', 'acme', '--backup-hour', '25')).code).toBe(2);
    expect((await soBackup('tenants', 'revoke-key', 'acme', 'k-no-such-key')).code).toBe(2); // no terminal to confirm on, no --yes
    expect(await soBackup('tenants', 'revoke-key', 'acme', 'k-no-such-key', '--yes')).toMatchObject({
      code: 3,
      stderr: expect.stringContaining('tenant "acme" has no key "k-no-such-key"; its keys: k'),
    });
    expect((await soBackup('--json', 'tenants', 'set', 'acme', '--backup-time', '01:45')).json).toMatchObject({
      backupHour: 1,
      backupTime: '01:45',
    });
    const offGrid = await soBackup('tenants', 'set', 'acme', '--backup-time', '01:37');
    expect(offGrid.code).toBe(2);
    expect(offGrid.stderr).toMatch(/minutes 00, 15, 30 or 45/);
    expect(
      (await soBackup<{ backupTime?: string }>('--json', 'tenants', 'set', 'acme', '--backup-time', 'default')).json.backupTime,
    ).toBeUndefined();

    const elsewhere = await soBackup('--local', path.join(dataDir, 'nothing-here'), 'status');
    expect(elsewhere).toMatchObject({ code: 5, stderr: expect.stringContaining('local mode is not set up') });
  });
});
