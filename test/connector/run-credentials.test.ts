import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { S3ObjectStore } from '../../connector/src/store/s3-object-store';
import { RunCredentials, type CredentialLink } from '../../connector/src/store/run-credentials';
import type { BackupJob, ConnectorMessage, CredentialsMessage } from '../../protocol';

const job = (expiresInMs: number): BackupJob => ({
  type: 'backup-job',
  v: 1,
  runId: 'acme-2026-11-25-daily',
  tenantId: 'acme',
  requestedAt: new Date().toISOString(),
  target: { bucket: 'bkt', region: 'us-east-1', forcePathStyle: false },
  credentials: {
    accessKeyId: 'FIRST',
    secretAccessKey: 's',
    sessionToken: 't',
    expiration: new Date(Date.now() + expiresInMs).toISOString(),
  },
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
      const reply: CredentialsMessage = {
        type: 'credentials',
        v: 1,
        runId: message.runId,
        credentials: {
          accessKeyId: `FRESH${this.requests}`,
          secretAccessKey: 's2',
          expiration: new Date(Date.now() + 3600_000).toISOString(),
        },
      };
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

/**
 * An S3 endpoint that refuses the first credentials as expired, the way AWS (400 ExpiredToken) or
 * Ceph RGW (403 AccessDenied for an expired STS session) answers them, and takes the renewed ones:
 * a fault injected at the S3 boundary. Which access key signed is read from the Authorization header.
 */
async function expiringS3(code: 'ExpiredToken' | 'AccessDenied', status: number) {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const key = /Credential=([^/]+)\//.exec(req.headers.authorization ?? '')?.[1] ?? '';
      seen.push(`${req.method} ${key}`);
      if (key === 'FIRST') {
        res.writeHead(status, { 'content-type': 'application/xml' });
        res.end(
          `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${code === 'ExpiredToken' ? 'The provided token has expired.' : 'Access Denied'}</Message></Error>`,
        );
        return;
      }
      res.writeHead(200, { 'x-amz-version-id': 'v1', 'content-length': '4', etag: '"e"', 'last-modified': new Date().toUTCString() });
      res.end(req.method === 'HEAD' ? undefined : 'data');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { endpoint, seen, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** A store on that endpoint with RunCredentials expiring in `expiresInMs`, renewed over a link double. */
function storeOn(endpoint: string, expiresInMs: number, refreshBeforeMs?: number) {
  const link = new FakeCloudLink(true);
  const target = { bucket: 'bkt', region: 'us-east-1', forcePathStyle: true, endpoint };
  const credentials = new RunCredentials({ ...job(expiresInMs), target }, link, refreshBeforeMs);
  return { link, store: new S3ObjectStore(target, credentials.provider, { renewal: credentials, retry: { maxAttempts: 1 } }) };
}

describe('expired upload credentials: renewed when S3 says so (v14 re-check)', () => {
  for (const [code, status, expiresInMs] of [
    ['ExpiredToken', 400, 3600_000],
    ['AccessDenied', 403, 6 * 60_000],
  ] as const) {
    test(`GIVEN S3 answers ${status} ${code} to the run's credentials${code === 'AccessDenied' ? ' (RGW, for an expired session) near their end' : " (AWS; this machine's clock still thinks them valid)"} WHEN the connector uploads and reads THEN it renews them over the session and the request succeeds`, async () => {
      const s3 = await expiringS3(code, status);
      try {
        const { link, store } = storeOn(s3.endpoint, expiresInMs, 4 * 60_000);
        await expect(store.putBuffer('incoming/acme/acme-2026-11-25-daily/x', Buffer.from('data'))).resolves.toMatchObject({
          versionId: 'v1',
        });
        expect(s3.seen).toEqual(['PUT FIRST', 'PUT FRESH1']);
        expect(link.requests).toBe(1);
      } finally {
        await s3.close();
      }
    });
  }

  test('GIVEN S3 answers AccessDenied to credentials far from their end WHEN the connector uploads THEN that is a refusal, not an expiry: no renewal, S3_ACCESS_DENIED', async () => {
    const s3 = await expiringS3('AccessDenied', 403);
    try {
      const { link, store } = storeOn(s3.endpoint, 3600_000);
      await expect(store.putBuffer('incoming/acme/acme-2026-11-25-daily/x', Buffer.from('data'))).rejects.toMatchObject({
        code: 'S3_ACCESS_DENIED',
      });
      expect(s3.seen).toEqual(['PUT FIRST']);
      expect(link.requests).toBe(0);
    } finally {
      await s3.close();
    }
  });

  test('GIVEN S3 answers ExpiredToken on an SDK request (DeleteObject: a delete marker of the archive mirror) WHEN the connector sends it THEN the SDK path renews as well', async () => {
    const s3 = await expiringS3('ExpiredToken', 400);
    try {
      const { store } = storeOn(s3.endpoint, 3600_000);
      await expect(store.markDeleted('archive/acme/SO_ARC/a.docx')).resolves.toBeUndefined();
      expect(s3.seen).toEqual(['DELETE FIRST', 'DELETE FRESH1']);
    } finally {
      await s3.close();
    }
  });
});
