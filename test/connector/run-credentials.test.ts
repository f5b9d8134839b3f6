import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { S3ObjectStore } from '../../connector/src/store/s3-object-store';
import { WebSocketServer } from 'ws';
import { restoreCredentialSource } from '../../connector/src/restore/request-restore';
import { credentialsOverLink, RunCredentials, storeOnRunCredentials, type CredentialLink } from '../../connector/src/store/run-credentials';
import { type BackupJob, type ConnectorMessage, type CredentialsMessage, parseMessage } from '../../protocol';

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

/** A link double whose cloud answers credential requests (or not), naming the run, drill and restore grant as asked. */
class FakeCloudLink extends EventEmitter implements CredentialLink {
  requests = 0;
  readonly asked: ConnectorMessage[] = [];
  constructor(private readonly answers: boolean) {
    super();
  }
  sendIfConnected(message: ConnectorMessage): boolean {
    if (message.type !== 'credentials-request') return false;
    this.requests++;
    this.asked.push(message);
    if (this.answers) {
      const { type: _type, v: _v, ...named } = message;
      const reply: CredentialsMessage = {
        type: 'credentials',
        v: 1,
        ...named,
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

/** A backup run's credentials as run-connector makes them: renewed over the session link. */
const backupCredentials = (
  j: BackupJob,
  link: CredentialLink,
  refreshBeforeMs?: number,
  options?: { timeoutMs: number; resendMs: number },
) => new RunCredentials(j.credentials, credentialsOverLink(link, { runId: j.runId }, options), refreshBeforeMs);

describe('RunCredentials', () => {
  test('GIVEN credentials valid for long WHEN asked THEN they are used as they are', async () => {
    const link = new FakeCloudLink(true);
    const credentials = await backupCredentials(job(3600_000), link).provider();
    expect(credentials).toMatchObject({ accessKeyId: 'FIRST', sessionToken: 't' });
    expect(link.requests).toBe(0);
  });

  test('GIVEN credentials about to expire WHEN asked (concurrently) THEN one refresh is requested over the session and the fresh ones are used', async () => {
    const link = new FakeCloudLink(true);
    const run = backupCredentials(job(60_000), link);
    const [a, b] = await Promise.all([run.provider(), run.provider()]);
    expect([a.accessKeyId, b.accessKeyId]).toEqual(['FRESH1', 'FRESH1']);
    expect(link.requests).toBe(1);
    expect((await run.provider()).accessKeyId).toBe('FRESH1');
  });

  test("GIVEN the cloud refuses a drill's renewal (the drill answered or expired) WHEN refreshing THEN it fails at once with the cloud's code; a refusal naming another drill or run is not this one's", async () => {
    const link = new FakeCloudLink(false);
    const request = { runId: 'acme-2026-11-25-daily', drillId: 'acme-drill-0001' };
    const credentials = new RunCredentials(
      job(60_000).credentials,
      credentialsOverLink(link, request, { timeoutMs: 5_000, resendMs: 1_000 }),
    );
    const started = Date.now();
    const renewing = credentials.provider();
    const refusal = (fields: Record<string, string>) => ({
      type: 'error' as const,
      v: 1 as const,
      inReplyTo: 'credentials-request',
      error: { code: 'DRILL_UNKNOWN', message: 'drill acme-drill-0001 for run acme-2026-11-25-daily was not asked of this tenant' },
      ...fields,
    });
    setTimeout(() => {
      link.emit('cloud-error', refusal({ runId: 'acme-2026-11-25-daily', drillId: 'acme-drill-0002' }));
      link.emit('cloud-error', refusal({ runId: 'acme-2026-11-24-daily', drillId: 'acme-drill-0001' }));
      link.emit('cloud-error', refusal(request));
    }, 10);
    await expect(renewing).rejects.toMatchObject({ code: 'DRILL_UNKNOWN', permanent: true });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(link.listenerCount('cloud-error') + link.listenerCount('credentials')).toBe(0);
  });

  test('GIVEN no answer WHEN refreshing THEN the request goes again on a timer, and the upload fails with a clear CREDENTIALS_EXPIRED at the timeout', async () => {
    const link = new FakeCloudLink(false);
    const run = backupCredentials(job(60_000), link, 5 * 60_000, { timeoutMs: 250, resendMs: 40 });
    await expect(run.provider()).rejects.toMatchObject({ code: 'CREDENTIALS_EXPIRED' });
    expect(link.requests).toBeGreaterThanOrEqual(4);
  });
});

/**
 * An S3 endpoint that refuses the first credentials as expired, the way AWS (400 ExpiredToken) or
 * Ceph RGW (403 AccessDenied for an expired STS session) answers them, and takes the renewed ones:
 * a fault injected at the S3 boundary. Which access key signed is read from the Authorization header.
 * The body is AWS's (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html: Code,
 * Message, the token, RequestId, HostId); a HEAD gets the status and no body, as S3 answers HEAD.
 */
async function expiringS3(code: 'ExpiredToken' | 'AccessDenied', status: number) {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const key = /Credential=([^/]+)\//.exec(req.headers.authorization ?? '')?.[1] ?? '';
      seen.push(`${req.method} ${key}`);
      if (key === 'FIRST') {
        const ids = { 'x-amz-request-id': 'TX0000000000000000001', 'x-amz-id-2': 'aG9zdA==' };
        if (req.method === 'HEAD') {
          res.writeHead(status, ids);
          res.end();
          return;
        }
        res.writeHead(status, { ...ids, 'content-type': 'application/xml' });
        res.end(
          code === 'ExpiredToken'
            ? `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>ExpiredToken</Code><Message>The provided token has expired.</Message><Token-0>${req.headers['x-amz-security-token'] ?? ''}</Token-0><RequestId>TX0000000000000000001</RequestId><HostId>aG9zdA==</HostId></Error>`
            : `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>TX0000000000000000001</RequestId><HostId>aG9zdA==</HostId></Error>`,
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
  const credentials = backupCredentials({ ...job(expiresInMs), target }, link, refreshBeforeMs);
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

test('GIVEN six requests in flight on credentials S3 then calls expired, refused one after another WHEN each is sent again THEN the credentials are renewed once, not once per refusal', async () => {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const key = /Credential=([^/]+)\//.exec(req.headers.authorization ?? '')?.[1] ?? '';
      seen.push(key);
      // The refusals come back spread over 150 ms: some after the first renewal is done.
      setTimeout(
        () => {
          if (key === 'FIRST') {
            res.writeHead(400, { 'content-type': 'application/xml' });
            res.end(
              '<?xml version="1.0" encoding="UTF-8"?><Error><Code>ExpiredToken</Code><Message>The provided token has expired.</Message></Error>',
            );
            return;
          }
          res.writeHead(200, { 'content-length': '4' });
          res.end('data');
        },
        key === 'FIRST' ? seen.length * 30 : 0,
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    let renewals = 0;
    const store = storeOnRunCredentials(
      { bucket: 'bkt', region: 'us-east-1', forcePathStyle: true, endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}` },
      readCredentials(3600_000),
      async () => {
        renewals++;
        return { accessKeyId: `FRESH${renewals}`, secretAccessKey: 's2', expiration: new Date(Date.now() + 3600_000).toISOString() };
      },
      { retry: { maxAttempts: 1 } },
    );
    await Promise.all(Array.from({ length: 6 }, (_, i) => store.getVersion(`db/daily/acme/part${i}`, 'v1').then((body) => body.resume())));
    expect(renewals).toBe(1);
    expect(seen.filter((key) => key === 'FRESH1')).toHaveLength(6);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

describe('HEAD on expired credentials: a bare 400 (AWS) or 403 (RGW) without a code (issue 14)', () => {
  for (const [who, status] of [
    ['AWS', 400],
    ['Ceph RGW', 403],
  ] as const) {
    test(`GIVEN ${who} answers a HEAD ${status} without a body near the credentials' end WHEN the connector reads an object's facts THEN it renews them and the HEAD succeeds`, async () => {
      const s3 = await expiringS3('ExpiredToken', status);
      try {
        const { link, store } = storeOn(s3.endpoint, 6 * 60_000, 4 * 60_000);
        await expect(store.head('archive/acme/SO_ARC/a.docx', 'v1')).resolves.toMatchObject({ versionId: 'v1', size: 4 });
        expect(s3.seen).toEqual(['HEAD FIRST', 'HEAD FRESH1']);
        expect(link.requests).toBe(1);
      } finally {
        await s3.close();
      }
    });
  }

  test('GIVEN a bare HEAD 403 or 400 on credentials far from their end WHEN the connector reads facts THEN that is a refusal, not an expiry: no renewal', async () => {
    for (const status of [403, 400]) {
      const s3 = await expiringS3('ExpiredToken', status);
      try {
        const { link, store } = storeOn(s3.endpoint, 3600_000);
        await expect(store.head('archive/acme/SO_ARC/a.docx', 'v1')).rejects.toMatchObject({
          code: status === 403 ? 'S3_ACCESS_DENIED' : 'S3_ERROR',
        });
        expect(s3.seen).toEqual(['HEAD FIRST']);
        expect(link.requests).toBe(0);
      } finally {
        await s3.close();
      }
    }
  });

  test('GIVEN a bare 403 on a GET (not a HEAD: S3 always sends a code there) near the end WHEN read THEN it is not taken for an expiry', async () => {
    const { isExpiredCredentials } = await import('../../connector/src/store/s3-object-store');
    const near = { expiresWithin: () => true };
    expect(isExpiredCredentials({ status: 403, method: 'GET' }, near)).toBe(false);
    expect(isExpiredCredentials({ code: 'Unknown', status: 403, method: 'HEAD' }, near)).toBe(true);
    expect(isExpiredCredentials({ code: 'NotFound', status: 404, method: 'HEAD' }, near)).toBe(false);
    expect(isExpiredCredentials({ code: 'ExpiredToken', status: 400 }, { expiresWithin: () => false })).toBe(true);
  });
});

const READ_RUN = 'acme-2026-11-25-daily';
const readCredentials = (expiresInMs: number) => ({
  accessKeyId: 'FIRST',
  secretAccessKey: 's',
  sessionToken: 't',
  expiration: new Date(Date.now() + expiresInMs).toISOString(),
});

describe('restore drills and restores renew their read credentials as backups do (issue 14)', () => {
  test("GIVEN a drill's read credentials S3 calls expired WHEN the drill downloads THEN fresh ones are asked over the session for that drill (not the run's backup) and the download goes on", async () => {
    const s3 = await expiringS3('ExpiredToken', 400);
    try {
      const link = new FakeCloudLink(true);
      const target = { bucket: 'bkt', region: 'us-east-1', forcePathStyle: true, endpoint: s3.endpoint };
      const request = { runId: READ_RUN, drillId: 'acme-drill-0001' };
      const credentials = new RunCredentials(readCredentials(3600_000), credentialsOverLink(link, request));
      // The answer to a backup's request for the same run id is not this drill's.
      link.on('credentials', () => undefined);
      setTimeout(
        () =>
          link.emit('credentials', {
            type: 'credentials',
            v: 1,
            runId: READ_RUN,
            credentials: { accessKeyId: 'BACKUP', secretAccessKey: 'x', expiration: new Date(Date.now() + 3600_000).toISOString() },
          }),
        1,
      );
      const store = new S3ObjectStore(target, credentials.provider, { renewal: credentials, retry: { maxAttempts: 1 } });
      const body = await store.getVersion('db/daily/acme/SuperOffice.bak', 'v1');
      let text = '';
      for await (const chunk of body) text += String(chunk);
      expect(text).toBe('data');
      expect(s3.seen).toEqual(['GET FIRST', 'GET FRESH1']);
      expect(link.asked).toEqual([{ type: 'credentials-request', v: 1, runId: READ_RUN, drillId: 'acme-drill-0001' }]);
    } finally {
      await s3.close();
    }
  });

  /** A cloud double on a WebSocket: answers each credentials-request as told, and records what it was asked. */
  async function restoreCloud(answer: (message: ConnectorMessage) => object) {
    const asked: ConnectorMessage[] = [];
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    server.on('connection', (socket) =>
      socket.on('message', (data: Buffer) => {
        const message = parseMessage('connector', data);
        asked.push(message);
        socket.send(JSON.stringify(answer(message)));
      }),
    );
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    const connection = () => ({
      endpoint: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`,
      authorization: 'SO-BACKUP-TEST',
      connectorVersion: '1.0.0',
    });
    return { asked, connection, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
  }

  test("GIVEN a restore's read credentials S3 calls expired WHEN the restore downloads THEN fresh ones are asked over a connection of its own, naming the run and the grant, and the download goes on", async () => {
    const s3 = await expiringS3('ExpiredToken', 400);
    const cloud = await restoreCloud((message) => ({
      type: 'credentials',
      v: 1,
      runId: READ_RUN,
      restoreRequestId: (message as { restoreRequestId?: string }).restoreRequestId,
      credentials: { accessKeyId: 'RENEWED', secretAccessKey: 's2', expiration: new Date(Date.now() + 3600_000).toISOString() },
    }));
    try {
      const target = { bucket: 'bkt', region: 'us-east-1', forcePathStyle: true, endpoint: s3.endpoint };
      const credentials = new RunCredentials(
        readCredentials(3600_000),
        restoreCredentialSource(cloud.connection, { runId: READ_RUN, requestId: 'req-0001' }),
      );
      const store = new S3ObjectStore(target, credentials.provider, { renewal: credentials, retry: { maxAttempts: 1 } });
      const body = await store.getVersion('db/daily/acme/SuperOffice.bak', 'v1');
      body.resume();
      expect(s3.seen).toEqual(['GET FIRST', 'GET RENEWED']);
      expect(cloud.asked).toEqual([{ type: 'credentials-request', v: 1, runId: READ_RUN, restoreRequestId: 'req-0001' }]);
    } finally {
      await Promise.all([s3.close(), cloud.close()]);
    }
  });

  test("GIVEN the cloud refuses a restore's renewal (the run no longer restorable) WHEN asked THEN the restore fails with the cloud's code and message, not a timeout", async () => {
    const cloud = await restoreCloud(() => ({
      type: 'error',
      v: 1,
      inReplyTo: 'credentials-request',
      error: { code: 'RUN_NOT_RESTORABLE', message: 'run acme-2026-11-25-daily is FAILED and kept nothing validated: no new credentials' },
    }));
    try {
      const credentials = new RunCredentials(
        readCredentials(60_000),
        restoreCredentialSource(cloud.connection, { runId: READ_RUN, requestId: 'req-0001' }),
      );
      await expect(credentials.provider()).rejects.toMatchObject({ code: 'RUN_NOT_RESTORABLE', permanent: true });
    } finally {
      await cloud.close();
    }
  });
});
