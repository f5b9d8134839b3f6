import type { HistoryEvent } from '@aws-sdk/client-sfn';
import { errorName, partsOf, runPhase, runView, stepsFromHistory, waitForRun } from '../../cli/src/backups';
import { getEventListeners } from 'node:events';
import { EXIT, explainAwsError } from '../../cli/src/cli-error';
import { type Fleet, openFleet } from '../../cli/src/fleet';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fleetStatus } from '../../cli/src/fleet-status';
import { ago, archiveProgressText, duration, failureText, plural, rateText, table, whenExact } from '../../cli/src/render';
import { parseBandwidthOption, parseWindowOption, windowText } from '../../cli/src/tenants';
import { attachment, parseExpiry, shareRun } from '../../cli/src/share';
import type { RunRecord, TenantRecord } from '../../core';
import { USER_NODE } from '../../local/daemons';
import { seedingState } from '../helpers/seeding';

const now = new Date('2026-11-25T12:00:00Z');
const hoursAgo = (h: number) => new Date(now.getTime() - h * 3600_000).toISOString();
const tenant = (tenantId: string, lastSuccessAt?: string, enabled = true): TenantRecord => ({
  tenantId,
  displayName: tenantId,
  enabled,
  keys: [],
  createdAt: hoursAgo(1000),
  lastSuccessAt,
});

describe('so-backup status', () => {
  test('worst first: never backed up, stale, failing, restore drill failed, connector offline, healthy; disabled tenants left out', () => {
    const drillFailed = {
      ...tenant('drill', hoursAgo(4)),
      lastDrill: { drillId: 'd', runId: 'drill-run', ok: false, at: hoursAgo(30), detail: 'database failed: SQL Server error 8939' },
    };
    const tenants = [
      tenant('ok', hoursAgo(3)),
      tenant('offline', hoursAgo(2)),
      tenant('never'),
      tenant('stale', hoursAgo(30)),
      tenant('staler', hoursAgo(50)),
      tenant('failing', hoursAgo(20)),
      tenant('off', undefined, false),
      drillFailed,
    ];
    const connectors = ['ok', 'never', 'stale', 'staler', 'failing', 'drill'].map((tenantId) => ({ tenantId, online: true }));
    const failed = {
      status: 'FAILED',
      failure: { error: 'ValidationFailed', cause: 'db/daily/failing/SuperOffice.bak: size 10, manifest says 20' },
    } as RunRecord;
    const rows = fleetStatus(tenants, connectors, new Map([['failing', failed]]), now, 26);
    expect(rows.map((r) => [r.tenantId, r.health, r.stale])).toEqual([
      ['never', 'never-backed-up', true],
      ['staler', 'stale', true],
      ['stale', 'stale', true],
      ['failing', 'failing', false],
      ['drill', 'drill-failing', false],
      ['offline', 'connector-offline', false],
      ['ok', 'ok', false],
    ]);
    expect(rows.find((r) => r.tenantId === 'failing')!.lastFailure).toBe(
      'ValidationFailed: db/daily/failing/SuperOffice.bak: size 10, manifest says 20',
    );
    expect(rows.find((r) => r.tenantId === 'stale')!.lastBackupAgeHours).toBe(30);
    expect(rows.find((r) => r.tenantId === 'drill')!.lastDrill).toMatchObject({
      ok: false,
      detail: 'database failed: SQL Server error 8939',
    });
  });

  test("GIVEN a tenant whose latest run kept a TDE database whose certificate's private key was never backed up WHEN listed THEN its health is action-needed, naming the certificate and the fix, not ok", () => {
    const action =
      'database SuperOffice: the private key of TDE certificate "TDECert" has never been backed up … Run BACKUP CERTIFICATE [TDECert] TO FILE = \'…\' WITH PRIVATE KEY';
    const warned = { status: 'SUCCEEDED_WITH_WARNINGS', actions: [action] } as RunRecord;
    const rows = fleetStatus(
      [tenant('tde', hoursAgo(3)), tenant('ok', hoursAgo(3))],
      [
        { tenantId: 'tde', online: true },
        { tenantId: 'ok', online: true },
      ],
      new Map([['tde', warned]]),
      now,
      26,
    );
    expect(rows.map((r) => [r.tenantId, r.health])).toEqual([
      ['tde', 'action-needed'],
      ['ok', 'ok'],
    ]);
    expect(rows[0]!.actions).toEqual([action]);
  });
});

describe('so-backup share', () => {
  test('expiry: minutes, hours or days, at most 7 days, named when wrong', () => {
    expect(parseExpiry('72h')).toBe(259_200);
    expect(parseExpiry('7d')).toBe(604_800);
    expect(parseExpiry('90m')).toBe(5400);
    expect(() => parseExpiry('169h')).toThrow('a presigned link lives at most 7 days');
    expect(() => parseExpiry('soon')).toThrow('--expires "soon" is not a duration');
  });

  test('GIVEN credentials that expire in 1 hour WHEN a 72 h link is asked for THEN it is refused and nothing is signed or recorded', async () => {
    const recorded: unknown[] = [];
    const fleet = {
      runs: {
        get: async () => ({
          runId: 'acme-2026-11-25-support',
          status: 'SUCCEEDED',
          validation: { ok: true },
          manifest: { key: 'k', versionId: 'v' },
        }),
        addShare: async (...args: unknown[]) => void recorded.push(args),
      },
      credentialsExpireAt: async () => new Date(now.getTime() + 3600_000),
    } as unknown as Fleet;
    const refusal = shareRun(fleet, 'acme-2026-11-25-support', { expires: '72h', now });
    await expect(refusal).rejects.toThrow(
      'it is signed with your credentials, which expire at 2026-11-25T13:00:00.000Z, and stops working then. Give --expires 1h or less',
    );
    await expect(refusal).rejects.toMatchObject({ exitCode: EXIT.usage });
    expect(recorded).toEqual([]);
  });
});

describe("so-backup share: any database name in the download's file name", () => {
  test('the name survives quotes, non-Latin letters and characters Windows forbids (RFC 6266 filename*), with an ASCII fallback', () => {
    expect(attachment('acme-2026-11-25-daily-O\'Brien "CRM".bak')).toBe(
      "attachment; filename=\"acme-2026-11-25-daily-O'Brien _CRM_.bak\"; filename*=UTF-8''acme-2026-11-25-daily-O%27Brien%20%22CRM%22.bak",
    );
    expect(attachment('r-顧客.bak')).toBe('attachment; filename="r-__.bak"; filename*=UTF-8\'\'r-%E9%A1%A7%E5%AE%A2.bak');
  });
});

describe('so-backup runs and run show: what a run kept', () => {
  const base = {
    runId: 'acme-2026-11-25-daily',
    tenantId: 'acme',
    trigger: 'schedule',
    requestedBy: 's',
    executionArn: 'a',
    startedAt: hoursAgo(2),
  } as const;
  test('GIVEN a run that kept SuperOffice and the archive while 2two failed and another database failed validation THEN each part is shown with what became of it and why', () => {
    const run: RunRecord = {
      ...base,
      status: 'FAILED',
      validatedManifest: { key: 'manifests/daily/acme/manifest.json', versionId: 'v9' },
      kept: { databases: ['SuperOffice'], archive: true },
      validation: {
        ok: false,
        checkedAt: hoursAgo(1),
        checks: 20,
        problems: ['x'],
        artifacts: [
          { kind: 'database', name: 'SuperOffice', ok: true, problems: [] },
          { kind: 'database', name: 'Old', ok: false, problems: ['a differential backup, not a full one'] },
          { kind: 'archive', name: 'SO_ARC', ok: true, problems: [] },
        ],
      },
      failures: [
        { kind: 'database', name: '2two', error: { code: 'SQL_DATABASE_OFFLINE', message: 'database "2two" is OFFLINE' } },
        { kind: 'database', name: 'Old', error: { code: 'VALIDATION_FAILED', message: 'a differential backup, not a full one' } },
      ],
    };
    expect(partsOf(run)).toEqual([
      { kind: 'database', name: 'SuperOffice', outcome: 'kept' },
      { kind: 'database', name: 'Old', outcome: 'invalid', detail: 'a differential backup, not a full one' },
      { kind: 'archive', name: 'SO_ARC', outcome: 'kept' },
      { kind: 'database', name: '2two', outcome: 'failed', detail: 'SQL_DATABASE_OFFLINE: database "2two" is OFFLINE' },
    ]);
    expect(runView(run)).toMatchObject({ status: 'FAILED', validated: false, kept: 'partly' });
    // A run from before staging: its manifest at the daily key counts when it SUCCEEDED and validated.
    expect(
      runView({
        ...base,
        status: 'SUCCEEDED',
        validation: { ok: true, checkedAt: '', checks: 1, problems: [] },
        manifest: { key: 'manifests/daily/acme/manifest.json', versionId: 'v1' },
      }),
    ).toMatchObject({ kept: 'all' });
    expect(
      runView({ ...base, status: 'FAILED', manifest: { key: 'incoming/acme/acme-2026-11-25-daily/manifest.json', versionId: 'v1' } }),
    ).toMatchObject({ kept: 'none' });
  });
});

describe('so-backup run show', () => {
  test('steps come from the execution history with durations, failures and their causes', () => {
    const at = (s: number) => new Date(now.getTime() + s * 1000);
    const events: HistoryEvent[] = [
      { type: 'ExecutionStarted', timestamp: at(0), id: 1 },
      { type: 'TaskStateEntered', timestamp: at(0), id: 2, stateEnteredEventDetails: { name: 'Prepare' } },
      { type: 'TaskStateExited', timestamp: at(1), id: 3, stateExitedEventDetails: { name: 'Prepare' } },
      { type: 'TaskStateEntered', timestamp: at(1), id: 4, stateEnteredEventDetails: { name: 'Validate' } },
      {
        type: 'TaskFailed',
        timestamp: at(9),
        id: 5,
        taskFailedEventDetails: { resource: 'x', resourceType: 'lambda', error: 'ValidationFailed', cause: 'size differs' },
      },
      { type: 'TaskStateExited', timestamp: at(9), id: 6, stateExitedEventDetails: { name: 'Validate' } },
    ];
    expect(stepsFromHistory(events)).toEqual([
      { name: 'Prepare', enteredAt: at(0).toISOString(), seconds: 1, outcome: 'succeeded' },
      { name: 'Validate', enteredAt: at(1).toISOString(), seconds: 8, outcome: 'failed', error: 'ValidationFailed: size differs' },
    ]);
  });
});

describe('so-backup output and errors', () => {
  test('tables align columns; durations read like "1d 6h"', () => {
    expect(
      table(
        [
          { a: 'x', n: 5 },
          { a: 'longer', n: 100 },
        ],
        [
          { header: 'NAME', value: (r) => r.a },
          { header: 'N', value: (r) => String(r.n), right: true },
        ],
      ),
    ).toBe('NAME      N\n------  ---\nx         5\nlonger  100');
    expect(duration(30 * 3600)).toBe('1d 6h');
    expect(duration(75)).toBe('1m 15s');
  });

  test('tables align by display width: CJK names take two columns each, so the next column still lines up', () => {
    const rendered = table(
      [
        { a: '顧客', n: 'x' },
        { a: 'Kunde [Øst]', n: 'y' },
        { a: 'SuperOffice', n: 'z' },
      ],
      [
        { header: 'PART', value: (r) => r.a },
        { header: 'OUTCOME', value: (r) => r.n },
      ],
    );
    expect(rendered.split('\n')).toEqual([
      'PART         OUTCOME',
      '-----------  -------',
      '顧客         x',
      'Kunde [Øst]  y',
      'SuperOffice  z',
    ]);
  });

  test("run show's Steps table names a step's error, not its whole cause; a carried part says which run's backup is kept", () => {
    expect(
      errorName('PartsFailed: database 2two: SQL_DATABASE_OFFLINE: database "2two" is OFFLINE — kept and validated: database SuperOffice'),
    ).toBe('PartsFailed');
    expect(errorName('States.HeartbeatTimeout')).toBe('States.HeartbeatTimeout');
    const run = {
      failures: [{ kind: 'database', name: '2two', error: { code: 'SQL_DATABASE_OFFLINE', message: 'database "2two" is OFFLINE' } }],
      kept: { databases: ['SuperOffice'], archive: true, carried: [{ kind: 'database', name: '2two', runId: 'acme-2026-11-20-daily' }] },
      validation: {
        ok: true,
        checkedAt: '',
        checks: 3,
        problems: [],
        artifacts: [{ kind: 'database', name: 'SuperOffice', ok: true, problems: [] }],
      },
    } as unknown as RunRecord;
    expect(partsOf(run)).toEqual([
      { kind: 'database', name: 'SuperOffice', outcome: 'kept' },
      {
        kind: 'database',
        name: '2two',
        outcome: 'failed',
        detail: 'SQL_DATABASE_OFFLINE: database "2two" is OFFLINE',
        carriedFrom: 'acme-2026-11-20-daily',
      },
    ]);
  });

  test('AWS errors become the action that is missing, or what is not running', () => {
    const denied = explainAwsError(
      Object.assign(new Error('User: arn:aws:iam::1:user/sam is not authorized to perform: states:StartExecution on resource: arn'), {
        name: 'AccessDeniedException',
      }),
      'starting the backup',
    );
    expect(denied).toMatchObject({
      exitCode: EXIT.denied,
      message: expect.stringContaining('your credentials lack states:StartExecution'),
    });
    const refused = explainAwsError(
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:48001'), { code: 'ECONNREFUSED' }),
      'reading tenants',
    );
    expect(refused).toMatchObject({ exitCode: EXIT.environment, message: expect.stringContaining('is local mode running?') });
  });
});

describe('so-backup against AWS: the stack outputs', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'so-backup-outputs-'));
  const outputs = {
    ConnectorEndpoint: 'wss://abc.execute-api.eu-north-1.amazonaws.com/prod',
    BackupBucketName: 'backups',
    BackupRunStateMachineArn: 'arn:aws:states:eu-north-1:1:stateMachine:BackupRun',
    TenantsTableName: 'T',
    RunsTableName: 'R',
    ConnectionsTableName: 'C',
    AlertsTopicArn: 'arn:aws:sns:eu-north-1:1:alerts',
    ScheduleTimeZone: 'Europe/Oslo',
    RunTimeoutSeconds: '46800',
  };

  test("GIVEN `cdk deploy --outputs-file` output WHEN opened THEN the stack's names are taken from it (nested under the stack name)", async () => {
    writeFileSync(path.join(dir, 'outputs.json'), JSON.stringify({ SoBackup: outputs }));
    const fleet = await openFleet({ stackName: 'SoBackup', region: 'eu-north-1', outputsFile: path.join(dir, 'outputs.json') });
    expect(fleet.mode).toBe('aws');
    expect(fleet.outputs).toMatchObject({ TenantsTableName: 'T', ConnectionsTableName: 'C' });
    // The schedule's time zone names runs; the run timeout says when a RUNNING record is a crashed run.
    expect(fleet).toMatchObject({ scheduleTimeZone: 'Europe/Oslo', runTimeoutSeconds: 46_800 });
    fleet.close();
  });

  test('GIVEN outputs of an older stack WHEN opened THEN the missing outputs are named, with what to do', async () => {
    const { ConnectionsTableName: _dropped, ...older } = outputs;
    writeFileSync(path.join(dir, 'older.json'), JSON.stringify(older));
    await expect(openFleet({ stackName: 'SoBackup', outputsFile: path.join(dir, 'older.json') })).rejects.toMatchObject({
      exitCode: EXIT.environment,
      message: expect.stringContaining('lacks outputs so-backup needs (ConnectionsTableName): deploy the current stack version'),
    });
    await expect(openFleet({ stackName: 'SoBackup', outputsFile: path.join(dir, 'nope.json') })).rejects.toMatchObject({
      exitCode: EXIT.usage,
    });
  });
});

describe('so-backup --wait and run show: the rate and the bandwidth limit', () => {
  test("the connector's reported rate with its limit; unlimited said so; nothing from a connector that reports no rate", () => {
    expect(rateText({ bytesPerSecond: 2_475_000, limitBytesPerSecond: 2_500_000 })).toBe(' at 19.8 Mbit/s (limit 20 Mbit/s)');
    expect(rateText({ bytesPerSecond: 12_500_000, limitBytesPerSecond: null })).toBe(' at 100 Mbit/s (limit unlimited)');
    expect(rateText({})).toBe('');
    expect(rateText(undefined)).toBe('');
  });

  test('--bandwidth: a rate, a schedule as JSON, or default; each mistake named', () => {
    expect(parseBandwidthOption('20 Mbit/s')).toBe('20 Mbit/s');
    expect(parseBandwidthOption('default')).toBeNull();
    expect(parseBandwidthOption('{"schedule":[{"days":"Mon-Fri","from":"07:00","to":"17:00","limit":"5 Mbit/s"}]}')).toEqual({
      default: 'unlimited',
      schedule: [{ days: 'Mon-Fri', from: '07:00', to: '17:00', limit: '5 Mbit/s' }],
    });
    expect(() => parseBandwidthOption('{"schedule":')).toThrow(/--bandwidth is not valid JSON/);
    expect(() => parseBandwidthOption('{"schedule":[{"days":"Mon-Fri","from":"7am","to":"17:00","limit":"5 Mbit/s"}]}')).toThrow(
      /--bandwidth: schedule\.0\.from: "7am" is not a time of day/,
    );
    expect(() => parseBandwidthOption('20 Mb/s')).toThrow(
      expect.objectContaining({ exitCode: EXIT.usage, message: expect.stringMatching(/could mean bits or bytes/) }),
    );
  });
});

describe('so-backup: the backup window and seeding (issue 20)', () => {
  const GB = 1_000_000_000;
  const seeding = (lastProgressHoursAgo: number) => seedingState(hoursAgo(lastProgressHoursAgo));

  test('status: a tenant seeding its archive whose database validated last night is healthy, not stale, and shows "seeding 42 %" with an estimate; one whose seeding made no progress for a day is seeding-stalled', () => {
    const tenants = [
      { ...tenant('seeding', hoursAgo(6)), seeding: seeding(6) },
      { ...tenant('stalled', hoursAgo(6)), seeding: seeding(30) },
      tenant('plain', hoursAgo(6)),
    ];
    const connectors = tenants.map((t) => ({ tenantId: t.tenantId, online: true }));
    const rows = fleetStatus(tenants, connectors, new Map(), now, 26);
    expect(rows.map((r) => [r.tenantId, r.health, r.stale, r.seeding ?? '', r.seedingStalled])).toEqual([
      ['stalled', 'seeding-stalled', false, 'seeding 42 %, about 3 more nights — NO PROGRESS for 30h', true],
      ['plain', 'ok', false, '', false],
      ['seeding', 'ok', false, 'seeding 42 %, about 3 more nights', false],
    ]);
    // --json says when the seeding last made progress (what the stalled alarm goes by; t20b N8).
    expect(rows.find((r) => r.tenantId === 'stalled')?.seedingLastProgressAt).toBe(hoursAgo(30));
    expect(rows.find((r) => r.tenantId === 'plain')).not.toHaveProperty('seedingLastProgressAt');
  });

  test('--backup-window and --window: a duration or none (default only for the tenant setting); each mistake named; a window the run timeout would cut short is refused', () => {
    expect(parseWindowOption('--backup-window', '5h', { allowDefault: true })).toBe(18_000);
    expect(parseWindowOption('--backup-window', 'default', { allowDefault: true })).toBeNull();
    expect(parseWindowOption('--window', 'none')).toBe(0);
    expect(parseWindowOption('--window', '45s', { runTimeoutSeconds: 13 * 3600 })).toBe(45);
    expect(() => parseWindowOption('--window', 'default')).toThrow(
      expect.objectContaining({ exitCode: EXIT.usage, message: expect.stringMatching(/^--window: "default" is not a duration/) }),
    );
    expect(() => parseWindowOption('--backup-window', '5 hours', { allowDefault: true })).toThrow(
      /--backup-window: "5 hours" is not a duration: give hours, minutes or seconds, e\.g\. "5h".*or "default" \(the stack's\)/,
    );
    expect(() => parseWindowOption('--backup-window', '12h', { runTimeoutSeconds: 13 * 3600 })).toThrow(
      expect.objectContaining({
        exitCode: EXIT.usage,
        message: expect.stringMatching(/the stack times a run out after 12h \(its backupTimeout\)/),
      }),
    );
  });

  test("run show and --wait: how far this run's archive has come", () => {
    expect(
      archiveProgressText({
        filesDone: 1000,
        filesTotal: 3000,
        bytesDone: 100 * GB,
        bytesTotal: 300 * GB,
        pendingFiles: 2000,
        pendingBytes: 200 * GB,
      }),
    ).toBe('1,000 of 3,000 files, 93.1 GiB of 279.4 GiB (33 %); 2,000 files, 186.3 GiB left for the next run (the backup window ended)');
    expect(archiveProgressText({ filesDone: 3, filesTotal: 3, bytesDone: 10, bytesTotal: 10, pendingFiles: 0, pendingBytes: 0 })).toBe(
      '3 of 3 files, 10 B of 10 B: complete',
    );
  });

  test('runs show the window and the progress in --json (runView)', () => {
    const view = runView({
      runId: 'acme-2026-11-25-daily',
      tenantId: 'acme',
      status: 'SUCCEEDED',
      trigger: 'schedule',
      requestedBy: 's',
      executionArn: 'a',
      startedAt: '2026-11-25T02:00:00.000Z',
      windowEndsAt: '2026-11-25T10:00:00.000Z',
      archiveProgress: { filesDone: 1, filesTotal: 3, bytesDone: 1, bytesTotal: 3, pendingFiles: 2, pendingBytes: 2, uploadedBytes: 1 },
    });
    expect(view).toMatchObject({ windowEndsAt: '2026-11-25T10:00:00.000Z', archiveProgress: { pendingFiles: 2 } });
  });
});

describe('so-backup: ids are checked before the cloud is asked', () => {
  const soBackup = (...args: string[]) =>
    spawnSync(USER_NODE, [path.join(__dirname, '..', '..', 'cli', 'bin', 'so-backup.cjs'), '--local', '/nowhere', ...args], {
      encoding: 'utf8',
    });
  test.each([
    ['backup', '', '--reason', 'a good reason'],
    ['runs', ''],
    ['run', 'show', ''],
    ['tenants', 'show', ''],
    ['tenants', 'code', ''],
    ['tenants', 'disable', ''],
    ['share', '', '--expires', '1h'],
    ['tenants', 'show', 'x'.repeat(3000)],
    ['run', 'show', 'a b/c'],
    ['tenants', 'show', 'Bad Id!'],
  ])('so-backup %s %s … → exit 2 naming the rule, not "talking to so-backup failed"', (...args) => {
    const { status, stderr } = soBackup(...args);
    expect(stderr).toMatch(/(tenant|run) id ".*" is not valid: a (tenant|run) id is/);
    expect(stderr).not.toMatch(/talking to so-backup|ValidationException/);
    expect(status).toBe(EXIT.usage);
  });

  test('a failure whose cause already starts with its name is shown with the name once', () => {
    expect(failureText({ error: 'RunConflict', cause: 'RunConflict: a backup is already running' })).toBe(
      'RunConflict: a backup is already running',
    );
    expect(failureText({ error: 'Cancelled', cause: 'cancelled by root' })).toBe('Cancelled: cancelled by root');
  });
});

describe('so-backup: a bad window is named before the cloud is asked (issue 20)', () => {
  const soBackup = (...args: string[]) =>
    spawnSync(USER_NODE, [path.join(__dirname, '..', '..', 'cli', 'bin', 'so-backup.cjs'), '--local', '/nowhere', ...args], {
      encoding: 'utf8',
    });
  test.each([
    [['tenants', 'set', 'acme', '--backup-window', '5x'], /--backup-window: "5x" is not a duration/],
    [
      ['tenants', 'set', 'acme', '--backup-window', '1h90m'],
      /--backup-window: "1h90m" is not a duration: minutes after a larger unit must be under 60/,
    ],
    [['backup', 'acme', '--reason', 'a good reason', '--window', '0m'], /--window: a window of "0m" is empty/],
    [['backup', 'acme', '--reason', 'a good reason', '--window', 'default'], /--window: "default" is not a duration/],
  ])('so-backup %j → exit 2 naming the mistake', (args, message) => {
    const { status, stderr } = soBackup(...args);
    expect(stderr).toMatch(message);
    expect(stderr).not.toMatch(/local mode is not set up/);
    expect(status).toBe(EXIT.usage);
  });
});

describe('so-backup backup --wait: the polling loop (T20 F4)', () => {
  test('GIVEN a run followed for 15 polls THEN no abort listener is left on the Ctrl-C signal (no MaxListenersExceededWarning), and Ctrl-C still detaches', async () => {
    let polls = 0;
    const run = { runId: 'acme-1', status: 'RUNNING' } as unknown as RunRecord;
    const fleet = {
      sfn: { send: async () => ({ status: ++polls > 15 ? 'SUCCEEDED' : 'RUNNING' }) },
      runs: { get: async () => run },
    } as unknown as Fleet;
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    const detach = new AbortController();
    const seen: number[] = [];
    const outcome = await waitForRun(
      fleet,
      { runId: 'acme-1', executionArn: 'arn' },
      {
        detach: detach.signal,
        pollMs: 1,
        onProgress: () => seen.push(getEventListeners(detach.signal, 'abort').length),
      },
    );
    await new Promise((r) => setImmediate(r));
    process.off('warning', onWarning);
    expect(outcome.detached).toBe(false);
    expect(Math.max(...seen)).toBe(0);
    expect(getEventListeners(detach.signal, 'abort')).toHaveLength(0);
    expect(warnings).not.toContain('MaxListenersExceededWarning');

    polls = 0;
    const following = waitForRun(fleet, { runId: 'acme-1', executionArn: 'arn' }, { detach: detach.signal, pollMs: 60_000 });
    setTimeout(() => detach.abort(), 20);
    await expect(following).resolves.toMatchObject({ detached: true });
  });
});

describe('so-backup: ages, counts and times read right (T20 F7)', () => {
  test('LAST BACKUP: minutes under an hour (was "0s ago"), then hours and minutes, then days', () => {
    expect(ago(20)).toBe('<1m ago');
    expect(ago(18 * 60 + 40)).toBe('18m ago');
    expect(ago(59 * 60 + 59)).toBe('59m ago');
    expect(ago(5 * 3600 + 12 * 60)).toBe('5h 12m ago');
    expect(ago(51 * 3600)).toBe('2d 3h ago');
    expect(ago(undefined)).toBe('never');
  });

  test('"1 file", never "1 files"; the archive progress says it too', () => {
    expect(plural(1, 'file')).toBe('1 file');
    expect(plural(0, 'file')).toBe('0 files');
    expect(plural(3000, 'file')).toBe('3,000 files');
    expect(archiveProgressText({ filesDone: 0, filesTotal: 1, bytesDone: 0, bytesTotal: 10, pendingFiles: 1, pendingBytes: 10 })).toBe(
      '0 of 1 file, 0 B of 10 B (0 %); 1 file, 10 B left for the next run (the backup window ended)',
    );
  });

  test("a window's end is shown to the second (a 45 s window ends at 14:26:40, not 14:26)", () => {
    expect(whenExact('2026-11-30T14:26:40.123Z')).toBe('2026-11-30 14:26:40');
    expect(whenExact(undefined)).toBe('-');
  });
});

describe('so-backup --wait and run show: a run the connector has not reported on yet (T20 F3)', () => {
  test('says what is known: job not sent yet, or sent with no report yet (and when one comes), not "waiting for the connector"', () => {
    expect(runPhase(undefined)).toMatch(/^the job is not sent to the connector yet/);
    expect(runPhase({ connectionId: 'c1' })).toBe(
      'job sent to the connector, no progress report yet (the first within 1m 30s, then every 4m)',
    );
    expect(runPhase({ connectionId: 'c1', progress: { phase: 'archive', at: '2026-11-30T14:00:00.000Z' } })).toBe('archive');
    expect(runPhase({ connectionId: 'c1', result: { outcome: 'succeeded', at: '2026-11-30T14:00:00.000Z' } })).toBe(
      'the connector reported the backup succeeded; validating and recording it',
    );
    const running = {
      runId: 'r',
      tenantId: 't',
      status: 'RUNNING',
      trigger: 'operator',
      requestedBy: 's',
      executionArn: 'a',
      startedAt: '2026-11-30T14:00:00.000Z',
      connectionId: 'c1',
    } as RunRecord;
    expect(runView(running).phase).toMatch(/^job sent to the connector/);
    expect(runView({ ...running, status: 'SUCCEEDED' }).phase).toBeUndefined();
  });
});

describe('so-backup: one limit for a backup window, the one Prepare holds a run to (T20 F6)', () => {
  const stack = { runTimeoutSeconds: 13 * 3600 }; // backupTimeout 12h
  const limitMessage =
    /^--backup-window: a window of "(24h|23h|12h|11h46m)" is longer than 11h 45m: the stack times a run out after 12h \(its backupTimeout\) and a window must end 15m before that; give at most 11h 45m, or "default" \(the stack's\)$/;

  test.each(['24h', '23h', '12h', '11h46m'])(
    '"%s" is refused with the one message naming the longest the stack allows (11h 45m)',
    (text) => {
      expect(() => parseWindowOption('--backup-window', text, { allowDefault: true, ...stack })).toThrow(
        expect.objectContaining({ exitCode: EXIT.usage, message: expect.stringMatching(limitMessage) }),
      );
    },
  );

  test('11h45m, the longest, is taken; without the stack outputs 23 h is still the limit', () => {
    expect(parseWindowOption('--backup-window', '11h45m', stack)).toBe(11 * 3600 + 45 * 60);
    expect(() => parseWindowOption('--window', '24h')).toThrow(
      /longer than 23h: the next night's run would find this one still running; give at most 23h/,
    );
  });

  test('"1h90m" and "5m70s" are refused, naming what was likely meant; "90m" and "90s" alone are fine', () => {
    expect(() => parseWindowOption('--window', '1h90m')).toThrow(
      /"1h90m" is not a duration: minutes after a larger unit must be under 60; did you mean "2h30m"\?/,
    );
    expect(() => parseWindowOption('--window', '5m70s')).toThrow(
      /"5m70s" is not a duration: seconds after a larger unit must be under 60; did you mean "6m10s"\?/,
    );
    expect(() => parseWindowOption('--window', '1h0m60s')).toThrow(/seconds after a larger unit/);
    expect(parseWindowOption('--window', '90m')).toBe(5400);
    expect(parseWindowOption('--window', '90s')).toBe(90);
    expect(parseWindowOption('--window', '1h59m59s')).toBe(7199);
  });

  test('decimals ("1.5h", ".5h", "2.25m") name the whole-unit form; a question gets no "default" tail (t20b N7)', () => {
    expect(() => parseWindowOption('--window', '1.5h')).toThrow(
      /^--window: "1.5h" is not a duration: write whole units; did you mean "1h30m"\?$/,
    );
    expect(() => parseWindowOption('--backup-window', '.5h', { allowDefault: true })).toThrow(
      /^--backup-window: ".5h" is not a duration: write whole units; did you mean "30m"\?$/,
    );
    expect(() => parseWindowOption('--window', '2.25m')).toThrow(/did you mean "2m15s"\?$/);
    expect(() => parseWindowOption('--backup-window', '1h90m', { allowDefault: true })).toThrow(/did you mean "2h30m"\?$/);
    // --window has no "default" (it is the tenant's when left out): never offered there.
    expect(() => parseWindowOption('--window', 'soon')).toThrow(/or "none" \(no window\)$/);
  });

  test('tenants show: a window the stack cuts (a tenant setting from before the timeout was shortened) says so, and to what', () => {
    expect(windowText(11 * 3600 + 50 * 60, undefined, 13 * 3600)).toBe(
      "11h 50m after the start (the tenant's; each run's is cut to 11h 45m, 15m before the stack's 12h backup timeout)",
    );
    expect(windowText(5 * 3600, undefined, 13 * 3600)).toBe("5h after the start (the tenant's)");
    expect(windowText(undefined, 8 * 3600, 13 * 3600)).toBe("8h after the start (the stack's)");
    expect(windowText(0, 8 * 3600, 13 * 3600)).toBe("none (the tenant's: the archive goes on until it is done)");
  });
});
