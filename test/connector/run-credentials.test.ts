import { EventEmitter } from 'node:events';
import { RunCredentials, type CredentialLink } from '../../connector/src/store/run-credentials';
import type { BackupJob, ConnectorMessage, CredentialsMessage } from '../../protocol';

const job = (expiresInMs: number): BackupJob => ({
  type: 'backup-job', v: 1, runId: 'acme-2026-11-25-daily', tenantId: 'acme', requestedAt: new Date().toISOString(),
  target: { bucket: 'bkt', region: 'us-east-1', forcePathStyle: false },
  credentials: { accessKeyId: 'FIRST', secretAccessKey: 's', sessionToken: 't', expiration: new Date(Date.now() + expiresInMs).toISOString() },
});

/** A link double whose cloud answers credential requests (or not). */
class FakeCloudLink extends EventEmitter implements CredentialLink {
  requests = 0;
  constructor(private readonly answers: boolean) {
    super();
  }
  sendIfConnected(message: ConnectorMessage): boolean {
    if (message.type !== 'credentials-request') return false;
    this.requests++;
    if (this.answers) {
      const reply: CredentialsMessage = { type: 'credentials', v: 1, runId: message.runId, credentials: { accessKeyId: `FRESH${this.requests}`, secretAccessKey: 's2', expiration: new Date(Date.now() + 3600_000).toISOString() } };
      setTimeout(() => this.emit('credentials', reply), 5);
    }
    return true;
  }
}

describe('RunCredentials', () => {
  test('GIVEN credentials valid for long WHEN asked THEN they are used as they are', async () => {
    const link = new FakeCloudLink(true);
    const credentials = await new RunCredentials(job(3600_000), link).provider();
    expect(credentials).toMatchObject({ accessKeyId: 'FIRST', sessionToken: 't' });
    expect(link.requests).toBe(0);
  });

  test('GIVEN credentials about to expire WHEN asked (concurrently) THEN one refresh is requested over the session and the fresh ones are used', async () => {
    const link = new FakeCloudLink(true);
    const run = new RunCredentials(job(60_000), link);
    const [a, b] = await Promise.all([run.provider(), run.provider()]);
    expect([a.accessKeyId, b.accessKeyId]).toEqual(['FRESH1', 'FRESH1']);
    expect(link.requests).toBe(1);
    expect((await run.provider()).accessKeyId).toBe('FRESH1');
  });

  test('GIVEN no answer WHEN refreshing THEN the request goes again on a timer, and the upload fails with a clear CREDENTIALS_EXPIRED at the timeout', async () => {
    const link = new FakeCloudLink(false);
    const run = new RunCredentials(job(60_000), link, 5 * 60_000, 250, 40);
    await expect(run.provider()).rejects.toMatchObject({ code: 'CREDENTIALS_EXPIRED' });
    expect(link.requests).toBeGreaterThanOrEqual(4);
  });
});
