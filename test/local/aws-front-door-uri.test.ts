import { mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AwsFrontDoor } from '../../local/cloud/aws-front-door';
import { ensureLocalTls, type LocalTls } from '../../local/cloud/local-tls';
import type { LocalSns } from '../../local/cloud/local-sns';
import type { IamAuthorizer } from '../../local/iam/iam-authorizer';
import { LocalCredentials } from '../../local/iam/local-credentials';
import { decodeUriPart, MalformedUriError, parseQuery, unpresign } from '../../local/iam/sigv4-verifier';
import { s3Request } from '../../local/iam/aws-requests';
import { freePort } from '../helpers/test-ports';

/** Answers of the real front door to a raw request (curl -k): status, content type and body. */
function ask(
  port: number,
  ca: string,
  target: string,
  headers: Record<string, string> = {},
  method = 'GET',
): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path: target, method, headers, ca }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body: Buffer.concat(chunks).toString('utf8') }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

describe("local mode's AWS endpoint: a URI that does not percent-decode (issue 14, re-check N5)", () => {
  let dir: string;
  let tls: LocalTls;
  let door: AwsFrontDoor;
  let port: number;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'front-door-uri-'));
    tls = ensureLocalTls(path.join(dir, 'tls'));
    port = await freePort();
    // A malformed URI is refused before any request is verified, authorized or forwarded: the
    // services behind the door are never reached, so none is started here (a call would throw).
    const unreachable = new Proxy(
      {},
      {
        get: () => () => {
          throw new Error('a malformed request reached a service');
        },
      },
    );
    door = new AwsFrontDoor({
      port,
      tls: { cert: tls.cert, key: tls.key },
      authorizer: unreachable as IamAuthorizer,
      credentials: new LocalCredentials(),
      dynamodbSocket: path.join(dir, 'no-dynalite.sock'),
      sns: unreachable as LocalSns,
      stepFunctions: unreachable as never,
    });
    await door.start();
  });
  afterAll(async () => {
    await door.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test.each([
    ['the query value', '/so-backup-local/x?a=%zz'],
    ['a query name', '/so-backup-local/x?%zz=1'],
    ['a lone % in the query', '/so-backup-local/x?prefix=50%'],
    ['escapes that are not UTF-8', '/so-backup-local/x?a=%ff'],
    ['a presigned credential', '/so-backup-local/x?X-Amz-Credential=%zz&X-Amz-Signature=00'],
    ['the key', '/so-backup-local/%zz'],
    ['the bucket', '/%zz/x'],
  ])('GIVEN %s that does not decode WHEN sent to S3 THEN 400 InvalidURI in S3 XML, not a 500', async (_what, target) => {
    const answer = await ask(port, tls.ca, target);
    expect(answer.status).toBe(400);
    expect(answer.type).toBe('application/xml');
    expect(answer.body).toContain('<Code>InvalidURI</Code>');
    expect(answer.body).toMatch(/<Message>Couldn(&apos;|')t parse the specified URI: not valid percent-encoding/);
  });

  test('GIVEN a DynamoDB call with a query that does not decode WHEN sent THEN MalformedQueryString in its JSON shape, not a 500', async () => {
    const answer = await ask(
      port,
      tls.ca,
      '/?a=%zz',
      {
        'x-amz-target': 'DynamoDB_20120810.GetItem',
        authorization: 'AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20261130/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=00',
      },
      'POST',
    );
    expect(answer.status).toBe(404);
    expect(answer.type).toBe('application/x-amz-json-1.0');
    expect(JSON.parse(answer.body).__type).toBe('com.amazonaws.dynamodb.v20120810#MalformedQueryString');
  });

  test('GIVEN untrusted parts that do not decode WHEN parsed THEN every parser throws MalformedUriError naming the part', () => {
    expect(() => decodeUriPart('%zz')).toThrow(MalformedUriError);
    expect(() => parseQuery('a=%zz')).toThrow(/not valid percent-encoding.*%zz/);
    expect(() => unpresign('x-amz-tagging=%zz')).toThrow(MalformedUriError);
    expect(() => s3Request({ method: 'GET', path: '/b/%zz', query: new URLSearchParams(), headers: {} })).toThrow(MalformedUriError);
    expect(parseQuery('a=%41&b')).toEqual({ a: 'A', b: '' });
  });
});
