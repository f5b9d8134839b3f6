import { executionName } from '../../functions/src/list-tenants/execution-name';
import { describeFailure, markRunFailed } from '../../functions/src/mark-run-failed/mark-run-failed';
import { requestBackup } from '../../functions/src/request-backup/request-backup';
import { prepareRun } from '../../functions/src/prepare-run/prepare-run';
import { finalizeRun } from '../../functions/src/finalize-run/finalize-run';
import { RunError, uploadSessionPolicy } from '../../functions/src/shared';
import type { BackupJob } from '../../protocol';

const run = { runId: 'acme-2026-11-25-daily', tenantId: 'acme', trigger: 'schedule' as const, startedAt: '2026-11-25T02:00:00.000Z' };
const credentials = { mint: async () => ({ accessKeyId: 'A', secretAccessKey: 'S', expiration: '2026-11-25T03:00:00.000Z' }) };
const target = { bucket: 'backups', region: 'eu-north-1', forcePathStyle: false };

describe('executionName', () => {
  test('names read like a backup log and never collide on the same day', () => {
    const day = new Date('2026-11-25T02:00:00Z');
    expect(executionName('acme', day, 'daily', [])).toBe('acme-2026-11-25-daily');
    expect(executionName('acme', day, 'daily', ['acme-2026-11-25-daily'])).toBe('acme-2026-11-25-daily-2');
    expect(executionName('acme', day, 'daily', ['acme-2026-11-25-daily', 'acme-2026-11-25-daily-2'])).toBe('acme-2026-11-25-daily-3');
  });
});

describe('prepareRun', () => {
  const tenants = { get: async () => ({ tenantId: 'acme', displayName: 'Acme', enabled: true, keys: [], createdAt: '' }) };
  const execution = { name: 'acme-2026-11-25-support', id: 'arn', startTime: '2026-11-25T10:00:00.000Z' };
  const input = { tenantId: 'acme', trigger: 'support' as const, requestedBy: 'kari@support', reason: 'customer asked' };

  test('GIVEN a backup of the tenant already running WHEN another starts THEN it ends with a clear RunConflict', async () => {
    const running = { runId: 'acme-2026-11-25-daily', tenantId: 'acme', status: 'RUNNING' as const, trigger: 'schedule' as const, requestedBy: 's', executionArn: 'a', startedAt: '2026-11-25T02:00:00.000Z' };
    await expect(prepareRun({ tenants, runs: { create: async (r) => r, forTenant: async () => [running] } }, input, execution))
      .rejects.toMatchObject({ name: 'RunConflict', message: expect.stringMatching(/already running \(acme-2026-11-25-daily/) });
  });

  test('GIVEN a RUNNING record older than the run timeout WHEN a backup starts THEN the stale record does not block it', async () => {
    const stale = { runId: 'acme-2026-11-23-daily', tenantId: 'acme', status: 'RUNNING' as const, trigger: 'schedule' as const, requestedBy: 's', executionArn: 'a', startedAt: '2026-11-23T02:00:00.000Z' };
    const created: unknown[] = [];
    const ref = await prepareRun({ tenants, runs: { create: async (r) => (created.push(r), r), forTenant: async () => [stale] } }, input, execution);
    expect(ref).toEqual({ runId: execution.name, tenantId: 'acme', trigger: 'support', startedAt: execution.startTime });
    expect(created).toEqual([expect.objectContaining({ requestedBy: 'kari@support', reason: 'customer asked', status: 'RUNNING' })]);
  });
});

describe('requestBackup', () => {
  test('GIVEN no live connection WHEN requested THEN it fails at once with ConnectorOffline', async () => {
    const updates: unknown[] = [];
    const promise = requestBackup({ runs: { update: async (_id, f) => void updates.push(f) }, connections: { forTenant: async () => [], remove: async () => undefined }, credentials, target, send: async () => true }, run, 'token');
    await expect(promise).rejects.toMatchObject({ name: 'ConnectorOffline', message: expect.stringMatching(/no connector of tenant "acme" is connected/) });
    expect(updates).toEqual([{ taskToken: 'token' }]);
  });

  test('GIVEN a stale connection and a live one WHEN requested THEN the stale one is removed and the live one gets the job', async () => {
    const removed: string[] = [];
    const sent: Array<[string, BackupJob]> = [];
    const connection = (id: string) => ({ connectionId: id, tenantId: 'acme', connectedAt: '', expiresAt: 0 });
    const out = await requestBackup({
      runs: { update: async () => undefined },
      connections: { forTenant: async () => [connection('stale'), connection('live')], remove: async (id) => void removed.push(id) },
      credentials, target,
      send: async (id, job) => (id === 'live' ? (sent.push([id, job]), true) : false),
    }, run, 'token');
    expect(out).toEqual({ connectionId: 'live' });
    expect(removed).toEqual(['stale']);
    expect(sent[0]?.[1]).toMatchObject({ type: 'backup-job', runId: run.runId, tenantId: 'acme', target, credentials: { accessKeyId: 'A' } });
  });
});

describe('upload credentials', () => {
  test('the upload session policy names exactly the tenant\'s prefixes and never DeleteObjectVersion', () => {
    const policy = JSON.parse(uploadSessionPolicy('backups', 'acme')) as { Statement: Array<{ Action: string[]; Resource: string[] | string; Condition?: unknown }> };
    expect(policy.Statement[0]?.Resource).toEqual(['arn:aws:s3:::backups/db/daily/acme/*', 'arn:aws:s3:::backups/archive/acme/*', 'arn:aws:s3:::backups/manifests/daily/acme/*']);
    // Reading back (rename copies, index rebuild) and listing: its own archive and snapshots only.
    expect(policy.Statement[1]).toEqual({ Effect: 'Allow', Action: ['s3:GetObject', 's3:GetObjectVersion'], Resource: ['arn:aws:s3:::backups/archive/acme/*', 'arn:aws:s3:::backups/manifests/daily/acme/*'] });
    expect(policy.Statement[2]).toEqual({ Effect: 'Allow', Action: ['s3:ListBucketVersions'], Resource: 'arn:aws:s3:::backups', Condition: { StringLike: { 's3:prefix': ['archive/acme/*', 'manifests/daily/acme/*'] } } });
    expect(JSON.stringify(policy)).not.toMatch(/DeleteObjectVersion|s3:\*/);
  });
});

describe('markRunFailed', () => {
  test('the alert names the tenant, the run and a reason a person can act on', async () => {
    const updates: unknown[] = [];
    const alert = await markRunFailed({ runs: { get: async () => ({ ...run, status: 'RUNNING', requestedBy: 'x', executionArn: 'e' }), update: async (_id, f) => void updates.push(f), create: async (r) => r } }, run.runId, undefined,
      { error: 'ConnectorOffline', cause: JSON.stringify({ errorType: 'ConnectorOffline', errorMessage: 'no connector of tenant "acme" is connected' }) }, new Date('2026-11-25T02:05:00Z'));
    expect(alert.subject).toBe('so-backup: backup of acme FAILED');
    expect(alert.message).toMatch(/Reason: ConnectorOffline: no connector of tenant "acme" is connected/);
    expect(updates).toEqual([expect.objectContaining({ status: 'FAILED', failure: { error: 'ConnectorOffline', cause: expect.stringMatching(/no connector/) } })]);
    expect(describeFailure('States.HeartbeatTimeout', '')).toMatch(/stopped reporting progress/);
  });

  test('GIVEN a run that failed before it was recorded WHEN marked failed THEN it is recorded with who asked', async () => {
    const created: unknown[] = [];
    await markRunFailed({ runs: { get: async () => undefined, update: async () => undefined, create: async (r) => (created.push(r), r) } }, 'acme-2026-11-25-support', 'acme',
      { error: 'RunConflict', cause: 'already running' }, new Date('2026-11-25T10:00:00Z'), { trigger: 'support', requestedBy: 'kari@support', reason: 'customer asked' });
    expect(created).toEqual([expect.objectContaining({ runId: 'acme-2026-11-25-support', tenantId: 'acme', status: 'FAILED', trigger: 'support', requestedBy: 'kari@support', reason: 'customer asked', failure: { error: 'RunConflict', cause: 'RunConflict: already running' } })]);
  });

  test('RunError names become Step Functions error names', () => {
    expect(new RunError('ValidationFailed', 'x').name).toBe('ValidationFailed');
  });
});

describe('finalizeRun', () => {
  test('GIVEN a validated run with skipped archive files WHEN finalized THEN it SUCCEEDED_WITH_WARNINGS and the tenant\'s last success is recorded', async () => {
    const updates: unknown[] = [];
    const successes: string[] = [];
    const summary = await finalizeRun(
      { runs: { update: async (_id, f) => void updates.push(f) }, tenants: { recordSuccess: async (t, r) => void successes.push(`${t} ${r}`) } },
      run, { ok: true, checks: 9, totalBytes: 100, databases: [{ database: 'SuperOffice', size: 90 }], archive: { files: 3, bytes: 10, uploadedFiles: 1, uploadedBytes: 10, skippedFiles: 2 } },
      new Date('2026-11-25T02:10:00.000Z'),
    );
    expect(summary).toMatchObject({ status: 'SUCCEEDED_WITH_WARNINGS', skippedFiles: 2, databaseBytes: 90, durationSeconds: 600 });
    expect(updates).toEqual([expect.objectContaining({ status: 'SUCCEEDED_WITH_WARNINGS' })]);
    expect(successes).toEqual(['acme acme-2026-11-25-daily']);
  });
});
