import { SignatureV4 } from '@smithy/signature-v4';
import { NodeSha256 } from '../../connector/src/store/signed-requests';
import { LocalScheduler } from '../../local/cloud/local-scheduler';
import { nextFireTime, parseScheduleExpression } from '../../local/cloud/schedule-expression';
import { unpresign, verifySigV4 } from '../../local/iam/sigv4-verifier';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';

/** The signature checks of local mode's AWS endpoint, fed requests signed by the SDK's own signer; and schedule expressions. */
const key = { accessKeyId: 'ASIAEXAMPLEKEY000001', secretAccessKey: 'secret', sessionToken: 'token' };
const lookup = (id: string) => (id === key.accessKeyId ? key : undefined);

async function signed(
  body: string,
  at = new Date(),
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } = key,
  { region = 'us-east-1', unsignableHeaders = [] }: { region?: string; unsignableHeaders?: string[] } = {},
) {
  const signer = new SignatureV4({ credentials, region, service: 'dynamodb', sha256: NodeSha256 });
  const request = await signer.sign(
    {
      method: 'POST',
      protocol: 'https:',
      hostname: '127.0.0.1',
      port: 443,
      path: '/',
      query: {},
      headers: { host: '127.0.0.1', 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.GetItem' },
      body,
    },
    { signingDate: at, unsignableHeaders: new Set(unsignableHeaders) },
  );
  return {
    method: 'POST',
    path: '/',
    query: '',
    headers: Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k.toLowerCase(), v])),
    body: Buffer.from(body),
  };
}

describe('SigV4 verification', () => {
  test('GIVEN a request signed with the issued key WHEN verified THEN it names the key, the service and the region', async () => {
    expect(await verifySigV4(await signed('{"TableName":"T"}'), lookup)).toEqual({
      ok: true,
      accessKeyId: key.accessKeyId,
      service: 'dynamodb',
      region: 'us-east-1',
    });
  });

  test('GIVEN a changed body, an unknown key, another session token, a stale date or no signature WHEN verified THEN each is refused for its own reason', async () => {
    const request = await signed('{"TableName":"T"}');
    expect(await verifySigV4({ ...request, body: Buffer.from('{"TableName":"Other"}') }, lookup)).toMatchObject({
      ok: false,
      failure: 'SignatureDoesNotMatch',
    });
    expect(await verifySigV4(await signed('{}', new Date(), { ...key, accessKeyId: 'ASIAUNKNOWNKEY000001' }), lookup)).toMatchObject({
      ok: false,
      failure: 'InvalidClientTokenId',
    });
    expect(await verifySigV4(await signed('{}', new Date(), { ...key, sessionToken: 'another' }), lookup)).toMatchObject({
      ok: false,
      failure: 'InvalidClientTokenId',
    });
    expect(await verifySigV4(await signed('{}', new Date(Date.now() - 16 * 60_000)), lookup)).toMatchObject({
      ok: false,
      failure: 'RequestTimeTooSkewed',
    });
    expect(await verifySigV4({ ...request, headers: { ...request.headers, authorization: undefined } }, lookup)).toMatchObject({
      ok: false,
      failure: 'MissingAuthenticationToken',
    });
  });
});

describe('SigV4 verification: what AWS insists on besides the signature (v14 review)', () => {
  test('GIVEN another region in the scope, an unsigned Host, or an x-amz-* header left out of the signature WHEN verified THEN each is refused', async () => {
    const sign = (region: string, unsignable: string[] = []) => signed('{}', new Date(), key, { region, unsignableHeaders: unsignable });
    expect(await verifySigV4(await sign('eu-west-1'), lookup)).toMatchObject({
      ok: false,
      failure: 'IncompleteSignature',
      message: expect.stringContaining('eu-west-1'),
    });
    expect(await verifySigV4(await sign('us-east-1', ['host']), lookup)).toMatchObject({
      ok: false,
      failure: 'IncompleteSignature',
      message: expect.stringContaining('Host'),
    });
    expect(await verifySigV4(await sign('us-east-1', ['x-amz-target']), lookup)).toMatchObject({
      ok: false,
      failure: 'SignatureDoesNotMatch',
      message: expect.stringContaining('x-amz-target'),
    });
    const acl = await sign('us-east-1');
    expect(await verifySigV4({ ...acl, headers: { ...acl.headers, 'x-amz-acl': 'public-read' } }, lookup)).toMatchObject({
      ok: false,
      failure: 'SignatureDoesNotMatch',
      message: expect.stringContaining('x-amz-acl'),
    });
    expect(await verifySigV4(await sign('us-east-1'), lookup)).toMatchObject({ ok: true });
  });
});

/** A presigned URL made by the SDK's own presigner (as `so-backup share` makes them), as local mode's AWS endpoint receives it. */
async function presigned(
  command: GetObjectCommand | PutObjectCommand,
  expiresIn: number,
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } = key,
  headers: Record<string, string> = {},
) {
  const s3 = new S3Client({
    endpoint: 'https://127.0.0.1:14003',
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { ...credentials },
  });
  const url = new URL(await getSignedUrl(s3, command, { expiresIn }));
  s3.destroy();
  return {
    url,
    request: {
      method: command instanceof PutObjectCommand ? 'PUT' : 'GET',
      path: url.pathname,
      query: url.search.slice(1),
      headers: { host: url.host, ...headers },
    },
  };
}

describe('SigV4 query-string authentication: presigned URLs (issue 14, F3)', () => {
  const get = new GetObjectCommand({ Bucket: 'so-backup-local', Key: 'db/daily/acme/SuperOffice.bak' });

  test('GIVEN a URL presigned with the issued key WHEN verified within X-Amz-Expires THEN it names the key; after it THEN "Request has expired"', async () => {
    const { request } = await presigned(get, 3600);
    expect(await verifySigV4(request, lookup)).toEqual({ ok: true, accessKeyId: key.accessKeyId, service: 's3', region: 'us-east-1' });
    expect(await verifySigV4(request, lookup, new Date(Date.now() + 3599_000))).toMatchObject({ ok: true });
    expect(await verifySigV4(request, lookup, new Date(Date.now() + 3601_000))).toEqual({
      ok: false,
      failure: 'RequestExpired',
      message: 'Request has expired',
    });
  });

  test('GIVEN a presigned URL altered (another key, a longer expiry, another token) or signed twice WHEN verified THEN each is refused for its own reason', async () => {
    const { request } = await presigned(get, 600);
    expect(await verifySigV4({ ...request, path: request.path.replace('SuperOffice', 'Other') }, lookup)).toMatchObject({
      ok: false,
      failure: 'SignatureDoesNotMatch',
    });
    expect(
      await verifySigV4({ ...request, query: request.query.replace('X-Amz-Expires=600', 'X-Amz-Expires=6000') }, lookup),
    ).toMatchObject({
      ok: false,
      failure: 'SignatureDoesNotMatch',
    });
    expect(
      await verifySigV4({ ...request, query: request.query.replace('X-Amz-Expires=600', 'X-Amz-Expires=604801') }, lookup),
    ).toMatchObject({
      ok: false,
      failure: 'AuthorizationQueryParametersError',
      message: expect.stringContaining('604800 seconds'),
    });
    expect(
      await verifySigV4({ ...request, query: request.query.replace(/X-Amz-Security-Token=[^&]*/, 'X-Amz-Security-Token=other') }, lookup),
    ).toMatchObject({
      ok: false,
      failure: 'InvalidClientTokenId',
    });
    expect(await verifySigV4({ ...request, query: request.query.replace(/&?X-Amz-Signature=[^&]*/, '') }, lookup)).toMatchObject({
      ok: false,
      failure: 'AuthorizationQueryParametersError',
    });
    expect(
      await verifySigV4({ ...request, headers: { ...request.headers, authorization: 'AWS4-HMAC-SHA256 Credential=x' } }, lookup),
    ).toMatchObject({
      ok: false,
      failure: 'AuthorizationQueryParametersError',
      message: expect.stringContaining('Only one auth mechanism'),
    });
    const unknown = await presigned(get, 600, { accessKeyId: 'AKIAUNKNOWNKEY000001', secretAccessKey: 'x' });
    expect(await verifySigV4(unknown.request, lookup)).toMatchObject({ ok: false, failure: 'InvalidClientTokenId' });
  });

  test('GIVEN a presigned PUT with a signed x-amz-* header WHEN that header is changed or another added THEN it is refused', async () => {
    const put = new PutObjectCommand({ Bucket: 'so-backup-local', Key: 'incoming/acme/r/x', Tagging: 'a=b' });
    const { url, request } = await presigned(put, 600, key, {});
    // The presigner hoists x-amz-tagging into the query (signed there): the URL as made verifies.
    expect(url.searchParams.get('x-amz-tagging')).toBe('a=b');
    expect(await verifySigV4(request, lookup)).toMatchObject({ ok: true });
    expect(await verifySigV4({ ...request, headers: { ...request.headers, 'x-amz-acl': 'public-read' } }, lookup)).toMatchObject({
      ok: false,
      failure: 'SignatureDoesNotMatch',
      message: expect.stringContaining('x-amz-acl'),
    });
  });

  test('GIVEN a presigned query WHEN forwarded THEN its authentication is taken out and hoisted x-amz-* parameters become headers again', () => {
    expect(
      unpresign(
        'versionId=v1&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a%2Fb&X-Amz-Signature=00&x-id=PutObject&x-amz-tagging=a%3Db',
      ),
    ).toEqual({ query: 'versionId=v1&x-id=PutObject', headers: { 'x-amz-tagging': 'a=b' } });
  });
});

describe('EventBridge Scheduler expressions', () => {
  test("cron in the schedule's time zone, with AWS's day-of-week numbering; rate from the start", () => {
    const hourly = parseScheduleExpression('cron(0 * * * ? *)');
    expect(nextFireTime(hourly, new Date('2026-11-30T10:15:00Z'), 'Europe/Oslo').toISOString()).toBe('2026-11-30T11:00:00.000Z');
    // 02:00 in Oslo is 01:00 UTC in winter.
    expect(nextFireTime(parseScheduleExpression('cron(0 2 * * ? *)'), new Date('2026-11-30T10:00:00Z'), 'Europe/Oslo').toISOString()).toBe(
      '2026-12-01T01:00:00.000Z',
    );
    // Day 2 is Monday; 2026-11-30 is a Monday.
    expect(nextFireTime(parseScheduleExpression('cron(30 6 ? * 2 *)'), new Date('2026-11-29T00:00:00Z')).toISOString()).toBe(
      '2026-11-30T06:30:00.000Z',
    );
    expect(nextFireTime(parseScheduleExpression('cron(0/20 * * * ? *)'), new Date('2026-11-30T10:21:00Z')).toISOString()).toBe(
      '2026-11-30T10:40:00.000Z',
    );
    const start = new Date('2026-11-30T10:00:00Z');
    expect(nextFireTime(parseScheduleExpression('rate(1 hour)'), new Date('2026-11-30T10:30:00Z'), 'UTC', start).toISOString()).toBe(
      '2026-11-30T11:00:00.000Z',
    );
    expect(() => parseScheduleExpression('cron(0 0 L * ? *)')).toThrow(/not supported locally/);
    expect(() => parseScheduleExpression('every hour')).toThrow(/not a schedule expression/);
  });

  test("DailyBackups' schedule: every quarter hour in UTC, and its input gets the scheduled time as EventBridge Scheduler fills it in", () => {
    const quarter = parseScheduleExpression('cron(0/15 * * * ? *)');
    expect(nextFireTime(quarter, new Date('2026-03-29T00:50:00Z'), 'UTC').toISOString()).toBe('2026-03-29T01:00:00.000Z');
    const input = LocalScheduler.targetInput(
      JSON.stringify({ trigger: 'schedule', scheduledTime: '<aws.scheduler.scheduled-time>', other: '<aws.scheduler.unknown>' }),
      { arn: 'arn:aws:scheduler:us-east-1:000000000000:schedule/default/Daily' },
      new Date('2026-03-29T01:00:00.000Z'),
    );
    expect(JSON.parse(input)).toEqual({ trigger: 'schedule', scheduledTime: '2026-03-29T01:00:00Z', other: '<aws.scheduler.unknown>' });
  });
});
