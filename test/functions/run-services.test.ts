import { backupSlot, dueInWindow, executionName, firstInstantOfHour, parseBackupTime, SLOT_MINUTES, windowStart } from '../../core';
import { startDueBackups } from '../../functions/src/list-tenants/start-due-backups';
import { describeFailure, markRunFailed } from '../../functions/src/mark-run-failed/mark-run-failed';
import { requestBackup } from '../../functions/src/request-backup/request-backup';
import { prepareRun } from '../../functions/src/prepare-run/prepare-run';
import { finalizeRun } from '../../functions/src/finalize-run/finalize-run';
import { restoreSessionPolicy, RunError, uploadCredentialVendorFromEnv, uploadSessionPolicy } from '../../core';
import type { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { tenantIdSchema } from '../../protocol';
import { type Artifact, type BackupJob, type Manifest, manifestSchema } from '../../protocol';
import type { RunRecord, TenantRecord } from '../../core';
import { periodOf, tiersDue } from '../../functions/src/finalize-run/promote-to-tiers';
import { tenantRecord } from '../helpers/tenant-record';
import { databaseBackup } from '../helpers/database-backup';

const run = { runId: 'acme-2026-11-25-daily', tenantId: 'acme', trigger: 'schedule' as const, startedAt: '2026-11-25T02:00:00.000Z' };
const credentials = { mint: async () => ({ accessKeyId: 'A', secretAccessKey: 'S', expiration: '2026-11-25T03:00:00.000Z' }) };
const target = { bucket: 'backups', region: 'eu-north-1', forcePathStyle: false };

describe('executionName', () => {
  test('names read like a backup log and never collide on the same day', () => {
    const day = new Date('2026-11-25T02:00:00Z');
    expect(executionName('acme', day, 'daily', [], 'UTC')).toBe('acme-2026-11-25-daily');
    expect(executionName('acme', day, 'daily', ['acme-2026-11-25-daily'], 'UTC')).toBe('acme-2026-11-25-daily-2');
    expect(executionName('acme', day, 'daily', ['acme-2026-11-25-daily', 'acme-2026-11-25-daily-2'], 'UTC')).toBe(
      'acme-2026-11-25-daily-3',
    );
    // Named after the day in the schedule's time zone: 23:30 UTC is already the next day in Oslo.
    expect(executionName('acme', new Date('2026-11-24T23:30:00Z'), 'daily', [], 'Europe/Oslo')).toBe('acme-2026-11-25-daily');
  });

  test("GIVEN the longest tenant ids (63 characters) WHEN named for every trigger and repeat THEN names stay within Step Functions' 80 characters, unique per tenant, and readable", () => {
    const day = new Date('2026-11-25T02:00:00Z');
    const long = `${'a'.repeat(56)}-tenant`;
    const other = `${'a'.repeat(56)}-second`;
    expect(tenantIdSchema.safeParse(long).success).toBe(true);
    const names: string[] = [];
    for (const tenant of [long, other]) {
      for (const trigger of ['daily', 'support', 'operator']) {
        const first = executionName(tenant, day, trigger, [], 'UTC');
        const tenth = executionName(tenant, day, trigger, [first, ...Array.from({ length: 8 }, (_, i) => `${first}-${i + 2}`)], 'UTC');
        names.push(first, tenth);
        for (const name of [first, tenth]) {
          expect(name.length).toBeLessThanOrEqual(80);
          expect(name).toMatch(/^[A-Za-z0-9_-]+$/);
          expect(name).toContain(`-2026-11-25-${trigger}`);
          expect(name.startsWith('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')).toBe(true);
        }
      }
    }
    expect(new Set(names).size).toBe(names.length);
    expect(executionName(long, day, 'operator', [], 'UTC')).toMatch(/^a+_[0-9a-f]{6}-2026-11-25-operator$/);
  });
});

describe("minting a connector's credentials", () => {
  const minted = async (roleArn: string) => {
    const sent: AssumeRoleCommand[] = [];
    const sts = {
      send: async (command: AssumeRoleCommand) => {
        sent.push(command);
        return {
          Credentials: { AccessKeyId: 'ASIA', SecretAccessKey: 'S', SessionToken: 'T', Expiration: new Date('2026-11-25T03:00:00Z') },
        };
      },
    } as unknown as STSClient;
    await uploadCredentialVendorFromEnv(sts, { BACKUP_BUCKET: 'backups', UPLOAD_ROLE_ARN: roleArn }).mint('acme', 'acme-2026-11-25-daily');
    return sent[0]!.input;
  };

  test('GIVEN a stack in another partition (GovCloud, China) WHEN credentials are minted THEN the session policy names the bucket in that partition', async () => {
    const input = await minted('arn:aws-us-gov:iam::123456789012:role/Upload');
    expect(input.Policy).toContain('arn:aws-us-gov:s3:::backups/archive/acme/*');
    expect(input.Policy).not.toContain('arn:aws:s3:::');
    expect((await minted('arn:aws-cn:iam::123456789012:role/Upload')).Policy).toContain('arn:aws-cn:s3:::backups');
  });

  test("credentials last an hour at most (STS role chaining), carry the tenant's session policy and tag, and need a role ARN", async () => {
    const input = await minted('arn:aws:iam::123456789012:role/Upload');
    expect(input).toMatchObject({
      RoleArn: 'arn:aws:iam::123456789012:role/Upload',
      DurationSeconds: 3600,
      Tags: [{ Key: 'tenant', Value: 'acme' }],
    });
    expect(JSON.parse(input.Policy!)).toEqual(JSON.parse(uploadSessionPolicy('arn:aws:s3:::backups', 'acme', 'acme-2026-11-25-daily')));
    const sts = {} as STSClient;
    expect(() => uploadCredentialVendorFromEnv(sts, { BACKUP_BUCKET: 'backups' })).toThrow(/UPLOAD_ROLE_ARN/);
    expect(() =>
      uploadCredentialVendorFromEnv(sts, {
        BACKUP_BUCKET: 'backups',
        UPLOAD_ROLE_ARN: 'arn:aws:iam::123456789012:role/U',
        UPLOAD_CREDENTIAL_SECONDS: '7200',
      }),
    ).toThrow(/UPLOAD_CREDENTIAL_SECONDS/);
  });
});

describe('which tenants DailyBackups starts, and when', () => {
  const oslo = { timeZone: 'Europe/Oslo', windowStartHour: 2, windowHours: 4 };
  /** Every quarter hour DailyBackups runs (UTC) from `from` for `hours`: when each tenant is started, and for which day. */
  const starts = (tenant: { tenantId: string; backupHour?: number; backupMinute?: number }, from: string, hours: number) => {
    const found: Array<{ day: string; at: string }> = [];
    for (let t = Date.parse(from); t < Date.parse(from) + hours * 3_600_000; t += SLOT_MINUTES * 60_000) {
      const due = dueInWindow(tenant, new Date(t), oslo);
      if (due) found.push({ day: due.day, at: due.at.toISOString() });
    }
    return found;
  };

  test('GIVEN an ordinary day WHEN DailyBackups runs every quarter hour THEN each tenant starts once, at its slot in Oslo time (summer and winter)', () => {
    expect(starts({ tenantId: 'acme', backupHour: 2, backupMinute: 30 }, '2026-11-24T12:00:00Z', 24)).toEqual([
      { day: '2026-11-25', at: '2026-11-25T01:30:00.000Z' },
    ]);
    expect(starts({ tenantId: 'acme', backupHour: 2, backupMinute: 30 }, '2026-07-01T12:00:00Z', 24)).toEqual([
      { day: '2026-07-02', at: '2026-07-02T00:30:00.000Z' },
    ]);
    // 00:15 in Oslo is the previous evening in UTC, and named after the Oslo day.
    expect(starts({ tenantId: 'acme', backupHour: 0, backupMinute: 15 }, '2026-11-24T12:00:00Z', 24)).toEqual([
      { day: '2026-11-25', at: '2026-11-24T23:15:00.000Z' },
    ]);
  });

  test('GIVEN the spring-forward day (2026-03-29, 02:00 → 03:00 in Oslo) WHEN the schedule runs THEN every tenant of the skipped hour starts once, at the first valid instant of its hour plus its minutes', () => {
    expect(firstInstantOfHour('2026-03-29', 2, 'Europe/Oslo').toISOString()).toBe('2026-03-29T01:00:00.000Z'); // 03:00 CEST
    for (const minute of [0, 15, 30, 45]) {
      expect(starts({ tenantId: 'acme', backupHour: 2, backupMinute: minute }, '2026-03-28T12:00:00Z', 24)).toEqual([
        { day: '2026-03-29', at: `2026-03-29T01:${String(minute).padStart(2, '0')}:00.000Z` },
      ]);
    }
    // The hours around it are untouched, and the default (02:00-06:00 window) tenants are all started too.
    expect(starts({ tenantId: 'acme', backupHour: 1, backupMinute: 45 }, '2026-03-28T12:00:00Z', 24)).toEqual([
      { day: '2026-03-29', at: '2026-03-29T00:45:00.000Z' },
    ]);
    expect(starts({ tenantId: 'acme', backupHour: 3, backupMinute: 0 }, '2026-03-28T12:00:00Z', 24)).toEqual([
      { day: '2026-03-29', at: '2026-03-29T01:00:00.000Z' },
    ]);
    for (let i = 0; i < 200; i++) expect(starts({ tenantId: `tenant-${i}` }, '2026-03-28T12:00:00Z', 24)).toHaveLength(1);
  });

  test('GIVEN the fall-back day (2026-10-25, 02:00 happens twice in Oslo) WHEN the schedule runs through both THEN each tenant starts exactly once, in the first 02:xx', () => {
    expect(firstInstantOfHour('2026-10-25', 2, 'Europe/Oslo').toISOString()).toBe('2026-10-25T00:00:00.000Z'); // 02:00 CEST
    for (const minute of [0, 15, 30, 45]) {
      expect(starts({ tenantId: 'acme', backupHour: 2, backupMinute: minute }, '2026-10-24T12:00:00Z', 24)).toEqual([
        { day: '2026-10-25', at: `2026-10-25T00:${String(minute).padStart(2, '0')}:00.000Z` },
      ]);
    }
    expect(starts({ tenantId: 'acme', backupHour: 3, backupMinute: 0 }, '2026-10-24T12:00:00Z', 24)).toEqual([
      { day: '2026-10-25', at: '2026-10-25T02:00:00.000Z' },
    ]);
    for (let i = 0; i < 200; i++) expect(starts({ tenantId: `tenant-${i}` }, '2026-10-24T12:00:00Z', 24)).toHaveLength(1);
  });

  test('GIVEN 2,000 tenants without a backup time WHEN slotted THEN they spread over the 16 quarter hours of the 02:00-06:00 window, none outside', () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 2000; i++) {
      const slot = backupSlot({ tenantId: `customer-${i}` }, oslo);
      expect(slot.own).toBe(false);
      expect(slot.hour).toBeGreaterThanOrEqual(2);
      expect(slot.hour).toBeLessThan(6);
      counts.set(`${slot.hour}:${slot.minute}`, (counts.get(`${slot.hour}:${slot.minute}`) ?? 0) + 1);
    }
    expect(counts.size).toBe(16);
    for (const count of counts.values()) expect(count).toBeGreaterThan(2000 / 16 / 2);
    expect(backupSlot({ tenantId: 'acme', backupHour: 22 }, oslo)).toEqual({ hour: 22, minute: 0, own: true });
    expect(backupSlot({ tenantId: 'acme', backupHour: 22, backupMinute: 45 }, oslo)).toEqual({ hour: 22, minute: 45, own: true });
  });

  test('backup times are HH:MM on the quarter hour; anything else is refused with what is allowed', () => {
    expect(parseBackupTime('02:45')).toEqual({ hour: 2, minute: 45 });
    expect(parseBackupTime('23:00')).toEqual({ hour: 23, minute: 0 });
    for (const bad of ['02:37', '24:00', '2', 'noon', '02:60']) expect(() => parseBackupTime(bad)).toThrow(/minutes 00, 15, 30 or 45/);
    expect(windowStart(new Date('2026-11-25T01:29:59.999Z')).toISOString()).toBe('2026-11-25T01:15:00.000Z');
  });
});

describe('startDueBackups', () => {
  const settings = { timeZone: 'Europe/Oslo', windowStartHour: 2, windowHours: 4 };
  const tenant = tenantRecord;

  test('GIVEN due, not-due, disabled and already-started tenants over two pages WHEN the quarter hour runs THEN only the due ones are started, named after the day, the repeat is counted, not failed', async () => {
    const pages: Record<string, { tenants: TenantRecord[]; next?: string }> = {
      first: { tenants: [tenant('acme'), tenant('beta', { backupHour: 3 }), tenant('gamma', { enabled: false })], next: 'gamma' },
      gamma: { tenants: [tenant('delta'), tenant('epsilon')] },
    };
    const started: Array<[string, unknown]> = [];
    const result = await startDueBackups(
      {
        listPage: async (cursor) => pages[cursor ?? 'first']!,
        recentRunIds: async () => [],
        start: async (name, input) => (name.startsWith('delta') ? 'exists' : (started.push([name, input]), 'started')),
      },
      { windowStart: new Date('2026-11-25T01:00:00Z'), everyTenant: false, requestedBy: 'daily-1', settings, maxStartsPerSecond: 1000 },
    );
    expect(started).toEqual([
      ['acme-2026-11-25-daily', { tenantId: 'acme', trigger: 'schedule', requestedBy: 'schedule (daily-1)' }],
      ['epsilon-2026-11-25-daily', { tenantId: 'epsilon', trigger: 'schedule', requestedBy: 'schedule (daily-1)' }],
    ]);
    expect(result).toEqual({
      scanned: 5,
      due: 3,
      started: 2,
      alreadyStarted: 1,
      startedRuns: ['acme-2026-11-25-daily', 'epsilon-2026-11-25-daily'],
    });
  });

  test('GIVEN 60 due tenants and a pace of 100 starts/s (burst 100) then 20/s WHEN started THEN the pace holds and a time budget hands back the cursor', async () => {
    const many = Array.from({ length: 60 }, (_, i) => tenant(`t${i}`));
    const at: number[] = [];
    const began = Date.now();
    await startDueBackups(
      {
        listPage: async () => ({ tenants: many }),
        recentRunIds: async () => [],
        start: async () => (at.push(Date.now() - began), 'started'),
      },
      { windowStart: new Date('2026-11-25T01:00:00Z'), everyTenant: false, requestedBy: 'd', settings, maxStartsPerSecond: 20 },
    );
    expect(at).toHaveLength(60);
    expect(at[59]!).toBeGreaterThanOrEqual(((60 - 20) / 20) * 1000 - 100); // 20 at once, then 20 a second
    const partial = await startDueBackups(
      {
        listPage: async (cursor) => ({ tenants: [tenant(`p${cursor ?? 0}`)], next: String(Number(cursor ?? 0) + 1) }),
        recentRunIds: async () => [],
        start: async () => 'started',
      },
      { windowStart: new Date('2026-11-25T01:00:00Z'), everyTenant: false, requestedBy: 'd', settings, budgetMs: 0 },
    );
    expect(partial).toMatchObject({ next: '1', scanned: 1, started: 1 });
  });

  test('GIVEN a catch-up run WHEN every tenant is started THEN runs get the next free name of the day', async () => {
    const names: string[] = [];
    await startDueBackups(
      {
        listPage: async () => ({ tenants: [tenant('acme', { backupHour: 14 })] }),
        recentRunIds: async () => ['acme-2026-11-25-daily'],
        start: async (name) => (names.push(name), 'started'),
        now: () => Date.parse('2026-11-25T12:00:00Z'),
      },
      { windowStart: new Date('2026-11-25T12:00:00Z'), everyTenant: true, requestedBy: 'd', settings },
    );
    expect(names).toEqual(['acme-2026-11-25-daily-2']);
  });
});

describe('prepareRun', () => {
  const tenants = { get: async () => ({ tenantId: 'acme', displayName: 'Acme', enabled: true, keys: [], createdAt: '' }) };
  const execution = { name: 'acme-2026-11-25-support', id: 'arn', startTime: '2026-11-25T10:00:00.000Z' };
  const input = { tenantId: 'acme', trigger: 'support' as const, requestedBy: 'kari@support', reason: 'customer asked' };

  test('GIVEN a backup of the tenant already running WHEN another starts THEN it ends with a clear RunConflict', async () => {
    const running = {
      runId: 'acme-2026-11-25-daily',
      tenantId: 'acme',
      status: 'RUNNING' as const,
      trigger: 'schedule' as const,
      requestedBy: 's',
      executionArn: 'a',
      startedAt: '2026-11-25T02:00:00.000Z',
    };
    await expect(
      prepareRun({ tenants, runs: { create: async (r) => r, forTenant: async () => [running] } }, input, execution),
    ).rejects.toMatchObject({ name: 'RunConflict', message: expect.stringMatching(/already running \(acme-2026-11-25-daily/) });
  });

  test('GIVEN a RUNNING record older than the run timeout WHEN a backup starts THEN the stale record does not block it', async () => {
    const stale = {
      runId: 'acme-2026-11-23-daily',
      tenantId: 'acme',
      status: 'RUNNING' as const,
      trigger: 'schedule' as const,
      requestedBy: 's',
      executionArn: 'a',
      startedAt: '2026-11-23T02:00:00.000Z',
    };
    const created: unknown[] = [];
    const ref = await prepareRun(
      { tenants, runs: { create: async (r) => (created.push(r), r), forTenant: async () => [stale] } },
      input,
      execution,
    );
    expect(ref).toEqual({
      runId: execution.name,
      tenantId: 'acme',
      trigger: 'support',
      startedAt: execution.startTime,
      windowEndsAt: '2026-11-25T18:00:00.000Z', // the stack's default window: 8 hours
    });
    expect(created).toEqual([expect.objectContaining({ requestedBy: 'kari@support', reason: 'customer asked', status: 'RUNNING' })]);
  });

  describe("the run's backup window (issue 20)", () => {
    const prepared = async (
      tenant: Partial<TenantRecord>,
      runInput: Partial<typeof input> & { windowSeconds?: number },
      stack?: number,
    ) => {
      const created: RunRecord[] = [];
      const ref = await prepareRun(
        {
          tenants: { get: async () => ({ ...(await tenants.get()), ...tenant }) },
          runs: { create: async (r) => (created.push(r), r), forTenant: async () => [] },
        },
        { ...input, ...runInput },
        execution,
        12 * 3600,
        stack,
      );
      return { ref, record: created[0] };
    };

    test.each([
      ['the stack default (8 h)', {}, {}, undefined, '2026-11-25T18:00:00.000Z'],
      ["the stack's own (-c runWindowHours=6)", {}, {}, 6 * 3600, '2026-11-25T16:00:00.000Z'],
      ["the tenant's (--backup-window 5h) over the stack's", { backupWindowSeconds: 5 * 3600 }, {}, 6 * 3600, '2026-11-25T15:00:00.000Z'],
      [
        "the run's (backup --window 45s) over the tenant's",
        { backupWindowSeconds: 5 * 3600 },
        { windowSeconds: 45 },
        undefined,
        '2026-11-25T10:00:45.000Z',
      ],
      ["the tenant's none: no window", { backupWindowSeconds: 0 }, {}, undefined, undefined],
      ["the run's none over the tenant's 5h", { backupWindowSeconds: 5 * 3600 }, { windowSeconds: 0 }, undefined, undefined],
      ["the stack's none", {}, {}, 0, undefined],
    ] as const)(
      'GIVEN %s WHEN the run is prepared THEN its window ends at the execution start plus the window',
      async (_what, tenant, runInput, stack, endsAt) => {
        const { ref, record } = await prepared(tenant, runInput, stack);
        expect(ref.windowEndsAt).toBe(endsAt);
        expect(record?.windowEndsAt).toBe(endsAt);
      },
    );

    test("GIVEN a tenant's window longer than the stack's backup timeout now allows WHEN prepared THEN the window ends a quarter hour before the run would be timed out", async () => {
      const created: RunRecord[] = [];
      const ref = await prepareRun(
        {
          tenants: { get: async () => ({ ...(await tenants.get()), backupWindowSeconds: 10 * 3600 }) },
          runs: { create: async (r) => (created.push(r), r), forTenant: async () => [] },
        },
        input,
        execution,
        6 * 3600 + 3600, // backupTimeout 6 h
      );
      expect(ref.windowEndsAt).toBe('2026-11-25T15:45:00.000Z');
    });

    test('GIVEN a retried Prepare (the record exists) WHEN prepared again later THEN the window is the one first recorded', async () => {
      const first = { ...(await prepared({ backupWindowSeconds: 3600 }, {})).record! };
      const ref = await prepareRun(
        {
          tenants: { get: async () => ({ ...(await tenants.get()), backupWindowSeconds: 7200 }) },
          runs: { create: async () => first, forTenant: async () => [] },
        },
        input,
        execution,
      );
      expect(ref.windowEndsAt).toBe('2026-11-25T11:00:00.000Z');
    });
  });
});

describe('requestBackup', () => {
  const tenants = {
    get: async () => ({
      tenantId: 'acme',
      displayName: 'Acme',
      enabled: true,
      keys: [{ keyId: 'k1', publicKey: 'p', status: 'active' as const, createdAt: '' }],
      createdAt: '',
    }),
  };
  test('GIVEN no live connection WHEN requested THEN it fails at once with ConnectorOffline', async () => {
    const updates: unknown[] = [];
    const promise = requestBackup(
      {
        runs: { update: async (_id, f) => void updates.push(f) },
        tenants,
        connections: { forTenant: async () => [], remove: async () => undefined },
        credentials,
        target,
        send: async () => true,
      },
      run,
      'token',
    );
    await expect(promise).rejects.toMatchObject({
      name: 'ConnectorOffline',
      message: expect.stringMatching(/no connector of tenant "acme" is connected/),
    });
    expect(updates).toEqual([{ taskToken: 'token' }]);
  });

  test('GIVEN a stale connection and a live one WHEN requested THEN the stale one is skipped (postToConnection forgets it) and the live one gets the job', async () => {
    const removed: string[] = [];
    const sent: Array<[string, BackupJob]> = [];
    const connection = (id: string) => ({ connectionId: id, tenantId: 'acme', keyId: 'k1', connectedAt: '', expiresAt: 0 });
    const out = await requestBackup(
      {
        runs: { update: async () => undefined },
        tenants,
        connections: { forTenant: async () => [connection('stale'), connection('live')], remove: async (id) => void removed.push(id) },
        credentials,
        target,
        send: async (id, job) => (id === 'live' ? (sent.push([id, job]), true) : false),
      },
      run,
      'token',
    );
    expect(out).toEqual({ connectionId: 'live' });
    expect(removed).toEqual([]);
    expect(sent[0]?.[1]).toMatchObject({
      type: 'backup-job',
      runId: run.runId,
      tenantId: 'acme',
      target,
      credentials: { accessKeyId: 'A' },
      bandwidth: null,
    });
  });

  test("GIVEN a run whose connector was offline for three hours (Request backup retried) WHEN the job is finally sent THEN its windowEndsAt is still the run's start plus the window, not the send time plus the window (issue 20)", async () => {
    const sent: BackupJob[] = [];
    const windowed = { ...run, windowEndsAt: '2026-11-25T10:00:00.000Z' }; // started 02:00, 8 h window
    const connection = { connectionId: 'live', tenantId: 'acme', keyId: 'k1', connectedAt: '', expiresAt: 0 };
    let online = false;
    const d = {
      runs: { update: async () => undefined },
      tenants,
      connections: { forTenant: async () => (online ? [connection] : []), remove: async () => undefined },
      credentials,
      target,
      send: async (_id: string, job: BackupJob) => (sent.push(job), true),
    };
    await expect(requestBackup(d, windowed, 'token')).rejects.toMatchObject({ name: 'ConnectorOffline' });
    online = true; // three hours later, the state machine's retry
    await requestBackup(d, windowed, 'token');
    expect(sent).toEqual([expect.objectContaining({ windowEndsAt: '2026-11-25T10:00:00.000Z' })]);
    expect(Date.parse(sent[0]!.requestedAt)).toBeGreaterThan(Date.parse('2026-11-25T10:00:00.000Z'));
    // A run without a window sends a job without one.
    await requestBackup(d, run, 'token');
    expect(sent[1]).not.toHaveProperty('windowEndsAt');
  });

  test('GIVEN the only open session authenticated with a replaced key WHEN requested THEN no job goes to it: ConnectorOffline', async () => {
    const sent: string[] = [];
    const promise = requestBackup(
      {
        runs: { update: async () => undefined },
        tenants,
        connections: {
          forTenant: async () => [{ connectionId: 'old-key', tenantId: 'acme', keyId: 'k0', connectedAt: '', expiresAt: 0 }],
          remove: async () => undefined,
        },
        credentials,
        target,
        send: async (id) => (sent.push(id), true),
      },
      run,
      'token',
    );
    await expect(promise).rejects.toMatchObject({ name: 'ConnectorOffline' });
    expect(sent).toEqual([]);
  });
});

describe('upload credentials', () => {
  test("the upload session policy lets one run upload only to its own staging prefix and the tenant's archive: never a retention tier, never a version delete", () => {
    const policy = JSON.parse(uploadSessionPolicy('arn:aws:s3:::backups', 'acme', 'acme-2026-11-25-daily')) as {
      Statement: Array<{ Action: string[]; Resource: string[] | string; Condition?: unknown }>;
    };
    expect(policy.Statement[0]).toEqual({
      Effect: 'Allow',
      Action: ['s3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
      Resource: 'arn:aws:s3:::backups/incoming/acme/acme-2026-11-25-daily/*',
    });
    // Delete markers only where files get deleted: the archive.
    expect(policy.Statement[1]).toEqual({
      Effect: 'Allow',
      Action: ['s3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts', 's3:DeleteObject'],
      Resource: 'arn:aws:s3:::backups/archive/acme/*',
    });
    // Reading back (rename copies, index rebuild) and listing: its own archive and validated snapshots only.
    expect(policy.Statement[2]).toEqual({
      Effect: 'Allow',
      Action: ['s3:GetObject', 's3:GetObjectVersion'],
      Resource: ['arn:aws:s3:::backups/archive/acme/*', 'arn:aws:s3:::backups/manifests/daily/acme/*'],
    });
    expect(policy.Statement[3]).toEqual({
      Effect: 'Allow',
      Action: ['s3:ListBucketVersions'],
      Resource: 'arn:aws:s3:::backups',
      Condition: { StringLike: { 's3:prefix': ['archive/acme/*', 'manifests/daily/acme/*'] } },
    });
    const text = JSON.stringify(policy);
    expect(text).not.toMatch(/DeleteObjectVersion|s3:\*|backups\/db\//);
    expect(policy.Statement.filter((st) => st.Action.includes('s3:PutObject')).flatMap((st) => [st.Resource].flat())).toEqual([
      'arn:aws:s3:::backups/incoming/acme/acme-2026-11-25-daily/*',
      'arn:aws:s3:::backups/archive/acme/*',
    ]);
    // STS takes session policies of at most 2,048 characters: the longest bucket, tenant and run ids fit.
    expect(uploadSessionPolicy(`arn:aws-us-gov:s3:::${'b'.repeat(63)}`, 't'.repeat(63), 'r'.repeat(128)).length).toBeLessThan(2048);
  });

  test("GIVEN the longest tenant id and bucket name WHEN the restore session policy is written THEN it fits STS's 2,048-character limit for an inline session policy", () => {
    expect(restoreSessionPolicy(`arn:aws-us-gov:s3:::${'b'.repeat(63)}`, 'a'.repeat(63)).length).toBeLessThanOrEqual(2048);
  });

  test("the restore session policy only reads: the tenant's own backups of every tier, manifests and archive", () => {
    const policy = JSON.parse(restoreSessionPolicy('arn:aws:s3:::backups', 'acme')) as {
      Statement: Array<{ Action: string[]; Resource: string[] | string }>;
    };
    expect(policy.Statement[0]).toEqual({
      Effect: 'Allow',
      Action: ['s3:GetObject', 's3:GetObjectVersion'],
      Resource: [
        'arn:aws:s3:::backups/db/daily/acme/*',
        'arn:aws:s3:::backups/manifests/daily/acme/*',
        'arn:aws:s3:::backups/db/weekly/acme/*',
        'arn:aws:s3:::backups/manifests/weekly/acme/*',
        'arn:aws:s3:::backups/db/monthly/acme/*',
        'arn:aws:s3:::backups/manifests/monthly/acme/*',
        'arn:aws:s3:::backups/archive/acme/*',
      ],
    });
    expect(policy.Statement.flatMap((s) => s.Action)).toEqual(['s3:GetObject', 's3:GetObjectVersion', 'kms:Decrypt']);
  });
});

describe('markRunFailed', () => {
  test('the alert names the tenant, the run and a reason a person can act on', async () => {
    const updates: unknown[] = [];
    const alert = await markRunFailed(
      {
        runs: {
          get: async () => ({ ...run, status: 'RUNNING', requestedBy: 'x', executionArn: 'e' }),
          update: async (_id, f) => void updates.push(f),
          create: async (r) => r,
        },
      },
      run.runId,
      undefined,
      {
        error: 'ConnectorOffline',
        cause: JSON.stringify({ errorType: 'ConnectorOffline', errorMessage: 'no connector of tenant "acme" is connected' }),
      },
      new Date('2026-11-25T02:05:00Z'),
    );
    expect(alert.subject).toBe('so-backup: backup of acme FAILED');
    expect(alert.message).toMatch(/Reason: ConnectorOffline: no connector of tenant "acme" is connected/);
    expect(updates).toEqual([
      expect.objectContaining({ status: 'FAILED', failure: { error: 'ConnectorOffline', cause: expect.stringMatching(/no connector/) } }),
    ]);
    expect(describeFailure('States.HeartbeatTimeout', '')).toMatch(/stopped reporting progress/);
  });

  test('GIVEN a run that failed before it was recorded WHEN marked failed THEN it is recorded with who asked', async () => {
    const created: unknown[] = [];
    await markRunFailed(
      { runs: { get: async () => undefined, update: async () => undefined, create: async (r) => (created.push(r), r) } },
      'acme-2026-11-25-support',
      'acme',
      { error: 'RunConflict', cause: 'already running' },
      new Date('2026-11-25T10:00:00Z'),
      { trigger: 'support', requestedBy: 'kari@support', reason: 'customer asked' },
    );
    expect(created).toEqual([
      expect.objectContaining({
        runId: 'acme-2026-11-25-support',
        tenantId: 'acme',
        status: 'FAILED',
        trigger: 'support',
        requestedBy: 'kari@support',
        reason: 'customer asked',
        failure: { error: 'RunConflict', cause: 'RunConflict: already running' },
      }),
    ]);
  });

  test('RunError names become Step Functions error names', () => {
    expect(new RunError('ValidationFailed', 'x').name).toBe('ValidationFailed');
  });
});

describe('finalizeRun', () => {
  const staged = { key: 'incoming/acme/acme-2026-11-25-daily/manifest.json', versionId: 'm1' };
  const artifact = (key: string, versionId: string) => ({
    key,
    versionId,
    size: 90,
    sha256: 'a'.repeat(64),
    s3Checksum: { algorithm: 'SHA256' as const, type: 'FULL_OBJECT' as const, value: `${'A'.repeat(43)}=` },
  });
  const database = (name: string) =>
    databaseBackup(name, artifact(`incoming/acme/acme-2026-11-25-daily/db/${name}.bak`, `d-${name}`), run.startedAt, { compressed: true });
  const manifest: Manifest = {
    kind: 'so-backup-manifest',
    v: 1,
    runId: run.runId,
    tenantId: 'acme',
    connectorVersion: '1',
    startedAt: run.startedAt,
    finishedAt: run.startedAt,
    databases: [database('SuperOffice')],
    archive: {
      roots: [{ name: 'SO_ARC', path: '/arc' }],
      files: 3,
      bytes: 10,
      uploadedFiles: 1,
      uploadedBytes: 10,
      deletedFiles: 0,
      copiedFiles: 0,
      skippedFiles: 0,
      skipped: [],
      snapshot: artifact('incoming/acme/acme-2026-11-25-daily/snapshot.json.gz', 's1'),
    },
  };
  const verdicts = (...bad: string[]) =>
    [...manifest.databases.map((db) => db.database), "O'Brien CRM", 'SO_ARC'].map((name) => ({
      kind: name === 'SO_ARC' ? ('archive' as const) : ('database' as const),
      name,
      ok: !bad.includes(name),
      problems: bad.includes(name) ? [`${name} is a differential backup, not a full one`] : [],
    }));
  const validation = {
    ok: true,
    promotable: true as const,
    checks: 9,
    totalBytes: 100,
    artifacts: verdicts(),
    databases: [{ database: 'SuperOffice', size: 90 }],
    archive: { files: 3, bytes: 10, uploadedFiles: 1, uploadedBytes: 10, skippedFiles: 0 },
  };

  /** The stores and S3 copies finalize talks to, recorded; `failCopyOf` makes one copy fail. */
  function deps(
    tierMarks: TenantRecord['tierMarks'],
    options: {
      failCopyOf?: string;
      contents?: Manifest;
      record?: Partial<RunRecord>;
      previousDaily?: Manifest;
      seeding?: TenantRecord['seeding'];
    } = {},
  ) {
    const recorded = {
      updates: [] as Array<Record<string, unknown>>,
      successes: [] as unknown[],
      promotions: [] as unknown[],
      seedings: [] as Array<TenantRecord['seeding']>,
      copies: [] as string[],
      manifests: [] as Array<{ key: string; body: Manifest }>,
      retired: [] as string[],
    };
    const written = new Map<string, Manifest>();
    if (options.previousDaily) written.set('manifests/daily/acme/manifest.json@previous-daily', options.previousDaily);
    return {
      recorded,
      deps: {
        runs: {
          get: async () => ({
            runId: run.runId,
            tenantId: 'acme',
            status: 'RUNNING' as const,
            trigger: 'schedule' as const,
            requestedBy: 's',
            executionArn: 'a',
            startedAt: run.startedAt,
            ...options.record,
          }),
          update: async (_id: string, fields: Record<string, unknown>) => void recorded.updates.push(fields),
        },
        tenants: {
          get: async () => ({
            tenantId: 'acme',
            displayName: 'Acme',
            enabled: true,
            keys: [],
            createdAt: run.startedAt,
            tierMarks,
            ...(options.previousDaily ? { dailyManifest: { key: 'manifests/daily/acme/manifest.json', versionId: 'previous-daily' } } : {}),
            ...(options.seeding ? { seeding: options.seeding } : {}),
          }),
          recordSuccess: async (...args: unknown[]) => void recorded.successes.push(args),
          recordSeeding: async (_id: string, seeding: TenantRecord['seeding']) => void recorded.seedings.push(seeding),
          recordPromotion: async (...args: unknown[]) => void recorded.promotions.push(args),
        },
        copier: {
          copy: async (source: Artifact, key: string) => {
            if (key === options.failCopyOf) throw new Error(`copy of ${source.key} failed`);
            recorded.copies.push(`${source.key}@${source.versionId} -> ${key}`);
            return { ...source, key, versionId: `${key}#copy` };
          },
          putJson: async (key: string, body: unknown) => {
            recorded.manifests.push({ key, body: body as Manifest });
            written.set(`${key}@${key.split('/')[1]}-manifest`, body as Manifest);
            return { key, versionId: `${key.split('/')[1]}-manifest` };
          },
          retire: async (keys: readonly string[]) => void recorded.retired.push(...keys),
        },
        readManifest: async (pointer: { key: string; versionId: string }) =>
          written.get(`${pointer.key}@${pointer.versionId}`) ?? options.contents ?? manifest,
        kept: { weekly: 5, monthly: 12 },
      },
    };
  }
  const at = new Date('2026-11-25T02:10:00.000Z');
  const dailyPointer = { key: 'manifests/daily/acme/manifest.json', versionId: 'daily-manifest' };

  test("GIVEN a validated run with skipped archive files WHEN finalized THEN its staged uploads are promoted into the daily tier, it SUCCEEDED_WITH_WARNINGS, and the tenant's last success is recorded", async () => {
    const { deps: d, recorded } = deps(
      { weekly: '2026-W48', monthly: '2026-11' },
      { contents: { ...manifest, archive: { ...manifest.archive!, skippedFiles: 2 } } },
    );
    const summary = await finalizeRun(d, run, staged, { ...validation, archive: { ...validation.archive, skippedFiles: 2 } }, at);
    expect(summary).toMatchObject({
      status: 'SUCCEEDED_WITH_WARNINGS',
      failed: false,
      skippedFiles: 2,
      databaseBytes: 90,
      durationSeconds: 600,
      copiedTo: '',
    });
    expect(recorded.copies).toEqual([
      'incoming/acme/acme-2026-11-25-daily/db/SuperOffice.bak@d-SuperOffice -> db/daily/acme/SuperOffice.bak',
      'incoming/acme/acme-2026-11-25-daily/snapshot.json.gz@s1 -> manifests/daily/acme/snapshot.json.gz',
    ]); // this week and month already have their copies
    expect(recorded.manifests[0]!.body).toMatchObject({
      tier: 'daily',
      promotedFrom: staged,
      databases: [{ artifact: { key: 'db/daily/acme/SuperOffice.bak' } }],
      archive: { snapshot: { key: 'manifests/daily/acme/snapshot.json.gz' } },
    });
    expect(recorded.updates).toEqual([
      { validatedManifest: dailyPointer, kept: { databases: ['SuperOffice'], archive: true }, failures: [] },
      expect.objectContaining({ status: 'SUCCEEDED_WITH_WARNINGS' }),
    ]);
    expect(recorded.successes).toEqual([
      ['acme', 'acme-2026-11-25-daily', '2026-11-25T02:10:00.000Z', { weekly: '2026-W48', monthly: '2026-11' }],
    ]);
    expect(recorded.retired).toEqual([
      'incoming/acme/acme-2026-11-25-daily/db/SuperOffice.bak',
      'incoming/acme/acme-2026-11-25-daily/snapshot.json.gz',
    ]);
  });

  test('GIVEN a kept database with a warning (a TDE certificate never backed up) WHEN finalized THEN the run SUCCEEDED_WITH_WARNINGS', async () => {
    const contents: Manifest = {
      ...manifest,
      databases: [{ ...database('SuperOffice'), warnings: ['the private key of TDE certificate "TDECert" has never been backed up'] }],
    };
    const { deps: d, recorded } = deps({ weekly: '2026-W48', monthly: '2026-11' }, { contents });
    const summary = await finalizeRun(d, run, staged, validation, at);
    expect(summary).toMatchObject({
      status: 'SUCCEEDED_WITH_WARNINGS',
      warnings: 1,
      failed: false,
      alert: { subject: 'so-backup: backup of acme needs action' },
    });
    expect(summary.alert!.message).toContain(
      '- database SuperOffice: the private key of TDE certificate "TDECert" has never been backed up',
    );
    expect(recorded.updates[1]).toMatchObject({
      actions: ['database SuperOffice: the private key of TDE certificate "TDECert" has never been backed up'],
    });
  });

  test("GIVEN a TDE database whose manifest says its certificate's private key was never backed up, and no warning from the connector WHEN finalized THEN the cloud concludes the action itself and alerts", async () => {
    const contents: Manifest = {
      ...manifest,
      databases: [{ ...database('SuperOffice'), tde: { certificate: 'TDECert', encryptorType: 'CERTIFICATE' } }],
    };
    const { deps: d } = deps({ weekly: '2026-W48', monthly: '2026-11' }, { contents });
    const summary = await finalizeRun(d, run, staged, validation, at);
    expect(summary).toMatchObject({ status: 'SUCCEEDED_WITH_WARNINGS', warnings: 1 });
    expect(summary.alert!.message).toMatch(
      /database SuperOffice: is encrypted with TDE certificate "TDECert", whose private key has never been backed up.*BACKUP CERTIFICATE/,
    );
    const backedUp: Manifest = {
      ...manifest,
      databases: [
        {
          ...database('SuperOffice'),
          tde: { certificate: 'TDECert', encryptorType: 'CERTIFICATE', privateKeyBackedUpAt: '2026-11-01T00:00:00.000Z' },
        },
      ],
    };
    const fine = await finalizeRun(
      deps({ weekly: '2026-W48', monthly: '2026-11' }, { contents: backedUp }).deps,
      run,
      staged,
      validation,
      at,
    );
    expect(fine).toMatchObject({ status: 'SUCCEEDED', warnings: 0 });
    expect(fine.alert).toBeUndefined();
  });

  test('GIVEN the first validated run of a week and month WHEN finalized THEN the daily copies are copied on to both tiers, with tier manifests naming the copies and the daily manifest', async () => {
    const { deps: d, recorded } = deps({ weekly: '2026-W47', monthly: '2026-10' });
    const summary = await finalizeRun(d, run, staged, validation, at);
    expect(summary).toMatchObject({ status: 'SUCCEEDED', copiedTo: 'weekly,monthly' });
    expect(recorded.copies.slice(2)).toEqual([
      'db/daily/acme/SuperOffice.bak@db/daily/acme/SuperOffice.bak#copy -> db/weekly/acme/SuperOffice.bak',
      'manifests/daily/acme/snapshot.json.gz@manifests/daily/acme/snapshot.json.gz#copy -> manifests/weekly/acme/snapshot.json.gz',
      'db/daily/acme/SuperOffice.bak@db/daily/acme/SuperOffice.bak#copy -> db/monthly/acme/SuperOffice.bak',
      'manifests/daily/acme/snapshot.json.gz@manifests/daily/acme/snapshot.json.gz#copy -> manifests/monthly/acme/snapshot.json.gz',
    ]);
    const weekly = recorded.manifests[1]!;
    expect(weekly.key).toBe('manifests/weekly/acme/manifest.json');
    expect(weekly.body).toMatchObject({ tier: 'weekly', promotedFrom: dailyPointer, runId: run.runId });
    expect(weekly.body.databases[0]!.artifact).toMatchObject({
      key: 'db/weekly/acme/SuperOffice.bak',
      versionId: 'db/weekly/acme/SuperOffice.bak#copy',
      sha256: 'a'.repeat(64),
    });
    expect(manifestSchema.parse(weekly.body)).toEqual(weekly.body);
    expect(recorded.updates[1]).toEqual(
      expect.objectContaining({
        tierCopies: [
          { tier: 'weekly', manifest: { key: 'manifests/weekly/acme/manifest.json', versionId: 'weekly-manifest' } },
          { tier: 'monthly', manifest: { key: 'manifests/monthly/acme/manifest.json', versionId: 'monthly-manifest' } },
        ],
      }),
    );
    expect(recorded.successes[0]).toEqual(['acme', run.runId, '2026-11-25T02:10:00.000Z', { weekly: '2026-W48', monthly: '2026-11' }]);
  });

  test('GIVEN a tier copy that fails WHEN finalized THEN finalize fails: the daily promotion stays recorded, the run is not marked succeeded, and the next run makes the copy', async () => {
    const { deps: d, recorded } = deps({ weekly: '2026-W48' }, { failCopyOf: 'db/monthly/acme/SuperOffice.bak' });
    await expect(finalizeRun(d, run, staged, validation, at)).rejects.toThrow('copy of db/daily/acme/SuperOffice.bak failed');
    expect(recorded.updates).toEqual([expect.objectContaining({ validatedManifest: dailyPointer })]);
    expect(recorded.successes).toEqual([]);
  });

  test('GIVEN one database that failed at the connector and one that failed validation WHEN finalized THEN the rest is promoted and counted, and the run is FAILED naming each failure and what was kept', async () => {
    const contents: Manifest = {
      ...manifest,
      databases: [database('SuperOffice'), database("O'Brien CRM")],
      failures: [{ kind: 'database', name: '2two', error: { code: 'SQL_DATABASE_OFFLINE', message: 'database "2two" is OFFLINE' } }],
    };
    const { deps: d, recorded } = deps({ weekly: '2026-W48', monthly: '2026-11' }, { contents });
    const summary = await finalizeRun(d, run, staged, { ...validation, ok: false, artifacts: verdicts("O'Brien CRM") }, at);
    expect(summary).toMatchObject({ status: 'FAILED', failed: true, databases: 1, failedParts: 2, copiedTo: '' });
    expect(summary.failureCause).toBe(
      'database 2two: SQL_DATABASE_OFFLINE: database "2two" is OFFLINE | database O\'Brien CRM: VALIDATION_FAILED: O\'Brien CRM is a differential backup, not a full one — kept and validated: database SuperOffice, the archive',
    );
    expect(recorded.copies).toEqual([
      'incoming/acme/acme-2026-11-25-daily/db/SuperOffice.bak@d-SuperOffice -> db/daily/acme/SuperOffice.bak',
      'incoming/acme/acme-2026-11-25-daily/snapshot.json.gz@s1 -> manifests/daily/acme/snapshot.json.gz',
    ]);
    expect(recorded.manifests.map((m) => m.key)).toEqual(['manifests/daily/acme/manifest.json']);
    expect(recorded.manifests[0]!.body.databases.map((db) => db.database)).toEqual(['SuperOffice']);
    expect(recorded.manifests[0]!.body.failures?.map((f) => f.name)).toEqual(['2two', "O'Brien CRM"]);
    expect(recorded.updates[0]).toMatchObject({ kept: { databases: ['SuperOffice'], archive: true } });
    expect(recorded.updates[1]).toMatchObject({ status: 'FAILED' });
    expect(recorded.successes).toEqual([]);
  });

  describe('retention per part (issue 16 review: one database failing for more days than are kept)', () => {
    const previousRun = 'acme-2026-11-24-daily';
    const dailyOf = (name: string, runId: string, carriedFrom?: string) => ({
      ...database(name),
      artifact: artifact(`db/daily/acme/${name}.bak`, `${name}-of-${runId}`),
      ...(carriedFrom ? { carriedFrom } : {}),
    });
    const previousDaily: Manifest = {
      ...manifest,
      runId: previousRun,
      tier: 'daily',
      promotedFrom: { key: `incoming/acme/${previousRun}/manifest.json`, versionId: 'm0' },
      databases: [
        dailyOf('SuperOffice', previousRun),
        dailyOf('2two', previousRun, 'acme-2026-11-10-daily'),
        dailyOf('Retired', previousRun),
      ],
      archive: { ...manifest.archive!, snapshot: artifact('manifests/daily/acme/snapshot.json.gz', `snapshot-of-${previousRun}`) },
    };
    const today: Manifest = {
      ...manifest,
      databases: [database('SuperOffice')],
      failures: [{ kind: 'database', name: '2two', error: { code: 'SQL_DATABASE_OFFLINE', message: 'database "2two" is OFFLINE' } }],
    };
    const archiveInvalid = {
      ...validation,
      ok: false,
      artifacts: [
        { kind: 'database' as const, name: 'SuperOffice', ok: true, problems: [] },
        { kind: 'archive' as const, name: 'SO_ARC', ok: false, problems: ['snapshot.json.gz: SHA-256 differs'] },
      ],
    };

    test('GIVEN a database and the archive that failed today WHEN finalized THEN the daily manifest carries forward their latest validated backups (named with the run they came from) without copying them again; a database no longer backed up is not carried', async () => {
      const { deps: d, recorded } = deps({ weekly: '2026-W48', monthly: '2026-11' }, { contents: today, previousDaily });
      const summary = await finalizeRun(d, run, staged, archiveInvalid, at);
      expect(recorded.copies).toEqual([
        'incoming/acme/acme-2026-11-25-daily/db/SuperOffice.bak@d-SuperOffice -> db/daily/acme/SuperOffice.bak',
      ]);
      const daily = recorded.manifests[0]!.body;
      expect(manifestSchema.parse(daily)).toEqual(daily);
      expect(daily.databases.map((db) => [db.database, db.artifact.versionId, db.carriedFrom])).toEqual([
        ['SuperOffice', 'db/daily/acme/SuperOffice.bak#copy', undefined],
        ['2two', `2two-of-${previousRun}`, 'acme-2026-11-10-daily'],
      ]);
      expect(daily.archive).toMatchObject({ snapshot: { versionId: `snapshot-of-${previousRun}` }, carriedFrom: previousRun });
      expect(recorded.updates[0]).toMatchObject({
        kept: {
          databases: ['SuperOffice'],
          archive: false,
          carried: [
            { kind: 'database', name: '2two', runId: 'acme-2026-11-10-daily' },
            { kind: 'archive', name: 'archive', runId: previousRun },
          ],
        },
      });
      expect(summary).toMatchObject({ status: 'FAILED', databases: 1, archiveFiles: 0, carriedParts: 2 });
      expect(summary.failureCause).toContain(
        `latest validated backup still kept: database 2two from run acme-2026-11-10-daily, the archive from run ${previousRun}`,
      );
      expect(recorded.promotions).toEqual([['acme', dailyPointer, { weekly: '2026-W48', monthly: '2026-11' }]]);
      expect(recorded.successes).toEqual([]);
    });

    test("GIVEN the first run of a week and month with a database failing WHEN finalized THEN the tiers still get their copy, with every part's latest validated backup; the run stays FAILED", async () => {
      const { deps: d, recorded } = deps({ weekly: '2026-W47', monthly: '2026-10' }, { contents: today, previousDaily });
      const summary = await finalizeRun(d, run, staged, validation, at);
      expect(summary).toMatchObject({ status: 'FAILED', copiedTo: 'weekly,monthly' });
      expect(recorded.copies).toContain(`db/daily/acme/2two.bak@2two-of-${previousRun} -> db/weekly/acme/2two.bak`);
      const weekly = recorded.manifests.find((m) => m.key === 'manifests/weekly/acme/manifest.json')!.body;
      expect(weekly.databases.map((db) => [db.database, db.carriedFrom])).toEqual([
        ['SuperOffice', undefined],
        ['2two', 'acme-2026-11-10-daily'],
      ]);
      expect(recorded.promotions).toEqual([['acme', dailyPointer, { weekly: '2026-W48', monthly: '2026-11' }]]);
      expect(recorded.successes).toEqual([]);
    });

    test('GIVEN a connector manifest that claims a part is carried forward WHEN finalized THEN the claim is dropped: only finalize carries parts', async () => {
      const { deps: d, recorded } = deps(
        { weekly: '2026-W48', monthly: '2026-11' },
        { contents: { ...manifest, databases: [{ ...database('SuperOffice'), carriedFrom: 'acme-2026-01-01-daily' }] } },
      );
      await finalizeRun(d, run, staged, validation, at);
      expect(recorded.manifests[0]!.body.databases[0]!.carriedFrom).toBeUndefined();
      expect(recorded.updates[0]).toMatchObject({ kept: { databases: ['SuperOffice'], archive: true } });
    });
  });

  test('GIVEN a finalize that is run again (a Lambda retry) WHEN the daily promotion is recorded already THEN nothing is promoted twice', async () => {
    const { deps: d, recorded } = deps(
      { weekly: '2026-W48', monthly: '2026-11' },
      { record: { validatedManifest: { key: 'manifests/daily/acme/manifest.json', versionId: 'v0' } } },
    );
    await finalizeRun(d, run, staged, validation, at);
    expect(recorded.copies).toEqual([]);
    expect(recorded.updates).toEqual([expect.objectContaining({ status: 'SUCCEEDED' })]);
  });

  test('ISO weeks and months decide which tiers are due; a tier kept 0 times is off', () => {
    expect(periodOf('weekly', new Date('2026-11-25T12:00:00Z'))).toBe('2026-W48');
    expect(periodOf('weekly', new Date('2027-01-01T12:00:00Z'))).toBe('2026-W53');
    expect(periodOf('weekly', new Date('2025-12-29T12:00:00Z'))).toBe('2026-W01');
    expect(periodOf('weekly', new Date('2021-01-03T12:00:00Z'))).toBe('2020-W53');
    expect(periodOf('monthly', new Date('2026-12-31T23:59:59Z'))).toBe('2026-12');
    expect(tiersDue(new Date('2026-11-30T01:00:00Z'), { weekly: '2026-W48', monthly: '2026-11' }, { weekly: 5, monthly: 12 })).toEqual([
      'weekly',
    ]);
    expect(tiersDue(new Date('2026-12-01T01:00:00Z'), {}, { weekly: 0, monthly: 12 })).toEqual(['monthly']);
  });

  describe('seeding: an archive sent over several nights (issue 20)', () => {
    /** Night n's manifest: `sent` files / bytes in S3 so far (this run sent `uploaded` bytes), `pending` left by the window's end. */
    const night = (
      runId: string,
      files: number,
      bytes: number,
      uploadedBytes: number,
      pending?: { files: number; bytes: number },
    ): Manifest => ({
      ...manifest,
      runId,
      archive: {
        ...manifest.archive!,
        files,
        bytes,
        uploadedFiles: uploadedBytes > 0 ? 1 : 0,
        uploadedBytes,
        ...(pending ? { pending: { ...pending, reason: 'window' as const } } : {}),
      },
    });
    const GB = 1_000_000_000;

    test("GIVEN three nights of a 300 GB first archive (100 GB a night) WHEN each run is finalized THEN each SUCCEEDED with the database kept and its archive progress recorded, the tenant's seeding state follows (started, progress, done / total), and the complete third run clears it", async () => {
      const nights = [
        {
          runId: 'acme-2026-11-25-daily',
          at: '2026-11-25T10:00:00.000Z',
          m: night('acme-2026-11-25-daily', 1000, 100 * GB, 100 * GB, { files: 2000, bytes: 200 * GB }),
        },
        {
          runId: 'acme-2026-11-26-daily',
          at: '2026-11-26T10:00:00.000Z',
          m: night('acme-2026-11-26-daily', 2000, 200 * GB, 100 * GB, { files: 1000, bytes: 100 * GB }),
        },
        { runId: 'acme-2026-11-27-daily', at: '2026-11-27T10:00:00.000Z', m: night('acme-2026-11-27-daily', 3000, 300 * GB, 100 * GB) },
      ];
      let seeding: TenantRecord['seeding'];
      const states: Array<TenantRecord['seeding']> = [];
      for (const n of nights) {
        const { deps: d, recorded } = deps({ weekly: '2026-W48', monthly: '2026-11' }, { contents: n.m, seeding });
        const summary = await finalizeRun(d, { ...run, runId: n.runId }, staged, validation, new Date(n.at));
        expect(summary).toMatchObject({ status: 'SUCCEEDED', failed: false, databases: 1 });
        expect(recorded.successes).toHaveLength(1); // the database validated: the tenant is not stale
        expect(recorded.updates.at(-1)).toMatchObject({
          status: 'SUCCEEDED',
          archiveProgress: {
            filesDone: n.m.archive!.files,
            filesTotal: 3000,
            bytesDone: n.m.archive!.bytes,
            bytesTotal: 300 * GB,
            pendingFiles: n.m.archive!.pending?.files ?? 0,
          },
        });
        expect(summary).toMatchObject({
          archivePendingFiles: n.m.archive!.pending?.files ?? 0,
          archivePendingBytes: n.m.archive!.pending?.bytes ?? 0,
        });
        expect(recorded.seedings).toHaveLength(1);
        seeding = recorded.seedings[0];
        states.push(seeding);
      }
      expect(states[0]).toEqual({
        startedRunId: 'acme-2026-11-25-daily',
        startedAt: '2026-11-25T10:00:00.000Z',
        lastProgressAt: '2026-11-25T10:00:00.000Z',
        lastRunId: 'acme-2026-11-25-daily',
        filesDone: 1000,
        filesTotal: 3000,
        bytesDone: 100 * GB,
        bytesTotal: 300 * GB,
        runs: 1,
        bytesSent: 100 * GB,
        leastPendingBytes: 200 * GB,
        backlogBytesSent: 100 * GB,
      });
      expect(states[1]).toMatchObject({
        startedRunId: 'acme-2026-11-25-daily',
        startedAt: '2026-11-25T10:00:00.000Z',
        lastProgressAt: '2026-11-26T10:00:00.000Z',
        lastRunId: 'acme-2026-11-26-daily',
        filesDone: 2000,
        bytesDone: 200 * GB,
        runs: 2,
        bytesSent: 200 * GB,
        leastPendingBytes: 100 * GB,
        backlogBytesSent: 200 * GB,
      });
      expect(states[2]).toBeUndefined(); // complete: the seeding state is removed
    });

    test('GIVEN a tenant with no seeding WHEN a complete archive run is finalized THEN the seeding state is not written at all', async () => {
      const { deps: d, recorded } = deps({ weekly: '2026-W48', monthly: '2026-11' });
      await finalizeRun(d, run, staged, validation, at);
      expect(recorded.seedings).toEqual([]);
    });

    test("GIVEN a seeding tenant WHEN a night's archive fails validation (the database is kept) THEN the seeding state is left as it was: no progress is recorded", async () => {
      const seeding = {
        startedRunId: 'acme-2026-11-24-daily',
        startedAt: '2026-11-24T10:00:00.000Z',
        lastProgressAt: '2026-11-24T10:00:00.000Z',
        lastRunId: 'acme-2026-11-24-daily',
        filesDone: 1,
        filesTotal: 3,
        bytesDone: 1,
        bytesTotal: 3,
        runs: 1,
        bytesSent: 1,
      };
      const { deps: d, recorded } = deps({ weekly: '2026-W48', monthly: '2026-11' }, { seeding });
      await finalizeRun(d, run, staged, { ...validation, ok: false, artifacts: verdicts('SO_ARC') }, at);
      expect(recorded.seedings).toEqual([]);
      expect(recorded.updates.at(-1)).not.toHaveProperty('archiveProgress');
    });

    test('GIVEN a retried finalize of a seeding night WHEN it runs again THEN the night is not counted twice', async () => {
      const m = night(run.runId, 1, 10, 10, { files: 2, bytes: 20 });
      const first = deps({ weekly: '2026-W48', monthly: '2026-11' }, { contents: m });
      await finalizeRun(first.deps, run, staged, validation, at);
      const again = deps({ weekly: '2026-W48', monthly: '2026-11' }, { contents: m, seeding: first.recorded.seedings[0] });
      await finalizeRun(again.deps, run, staged, validation, at);
      expect(again.recorded.seedings[0]).toEqual(first.recorded.seedings[0]);
      expect(again.recorded.seedings[0]).toMatchObject({ runs: 1, bytesSent: 10 });
    });
  });
});
