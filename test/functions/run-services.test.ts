import { executionName } from '../../functions/src/list-tenants/execution-name';
import { describeFailure, markRunFailed } from '../../functions/src/mark-run-failed/mark-run-failed';
import { requestBackup } from '../../functions/src/request-backup/request-backup';
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
    const policy = JSON.parse(uploadSessionPolicy('backups', 'acme')) as { Statement: Array<{ Action: string[]; Resource: string[] | string }> };
    expect(policy.Statement[0]?.Resource).toEqual(['arn:aws:s3:::backups/db/daily/acme/*', 'arn:aws:s3:::backups/archive/acme/*', 'arn:aws:s3:::backups/manifests/daily/acme/*']);
    expect(JSON.stringify(policy)).not.toMatch(/DeleteObjectVersion|s3:\*/);
  });
});

describe('markRunFailed', () => {
  test('the alert names the tenant, the run and a reason a person can act on', async () => {
    const updates: unknown[] = [];
    const alert = await markRunFailed({ runs: { get: async () => ({ ...run, status: 'RUNNING', requestedBy: 'x', executionArn: 'e' }), update: async (_id, f) => void updates.push(f) } }, run.runId, undefined,
      { error: 'ConnectorOffline', cause: JSON.stringify({ errorType: 'ConnectorOffline', errorMessage: 'no connector of tenant "acme" is connected' }) }, new Date('2026-11-25T02:05:00Z'));
    expect(alert.subject).toBe('so-backup: backup of acme FAILED');
    expect(alert.message).toMatch(/Reason: ConnectorOffline: no connector of tenant "acme" is connected/);
    expect(updates).toEqual([expect.objectContaining({ status: 'FAILED', failure: { error: 'ConnectorOffline', cause: expect.stringMatching(/no connector/) } })]);
    expect(describeFailure('States.HeartbeatTimeout', '')).toMatch(/stopped reporting progress/);
  });

  test('RunError names become Step Functions error names', () => {
    expect(new RunError('ValidationFailed', 'x').name).toBe('ValidationFailed');
  });
});
