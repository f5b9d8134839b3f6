import {
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectAclCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutObjectAclCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { newTenant, uploadCredentialVendorFromEnv } from '../../core';
import { LambdaFunctionError } from '../../local/cloud/local-lambda';
import { provisionLocalBucket } from '../../local/cloud/provision';
import { readIamModel } from '../../local/iam/iam-model';
import {
  type CloudMessage,
  encodeMessage,
  newConnectorKeyPair,
  parseMessage,
  PROTOCOL_VERSION,
  publicKeyDerOf,
  signatureAuthorization,
  type UploadCredentials,
} from '../../protocol';
import { requestRestore, restoreCredentialSource } from '../../connector/src/restore/request-restore';
import { handshake } from '../../connector/src/link/handshake';
import { credentialsOverLink, storeOnRunCredentials } from '../../connector/src/store/run-credentials';
import { Link } from '../../connector/src/link/link';
import { Outbox } from '../../connector/src/link/outbox';
import { pino } from 'pino';
import type { S3ObjectStore } from '../../connector/src/store/s3-object-store';
import { trustCertificateAuthorities } from '../../connector/src/trust';
import { withSealedExpiration } from '../helpers/rgw-sealed-expiration';
import { type CloudHarness, HARNESS_OPERATOR, startCloudHarness } from '../helpers/cloud-harness';
import { TEST_PORT_BLOCKS } from '../helpers/test-ports';
import { synthesizeStack } from '../../local/cloud/synthesize-template';
import { assertRgwCanHoldSessions, rgwRoleArn } from '../../local/cloud/rgw-iam';
import { createHmac } from 'node:crypto';
import { cephRgw, startCephRgw } from '../helpers/ceph-rgw';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { S3Key } from '../../local/ceph-rgw';
import { ensureLocalTls } from '../../local/cloud/local-tls';

/**
 * Connector credentials as local mode mints them: STS AssumeRole on the template's upload role
 * with the tenant's session policy, minted by Ceph RGW's own STS and enforced by RGW on every S3
 * request, under the template's bucket policy, over TLS. Tenant A's credentials cannot touch
 * tenant B, and nobody's can destroy a backup version.
 */
const CHROOT_READY = existsSync('/var/cache/so-backup/ceph-root/.so-backup-ready');
const PORT = TEST_PORT_BLOCKS.iamOnRgw + 80;
const dir = mkdtempSync(path.join(tmpdir(), 'so-backup-sts-'));
const BUCKET = 'so-backup-local';

(CHROOT_READY ? describe : describe.skip)('connector credentials on Ceph RGW (STS, session policies, the bucket policy, TLS)', () => {
  jest.setTimeout(300_000);
  let cloud: CloudHarness;
  /** The bucket owner's key: made by RGW for this cluster (ceph/owner-key.json). */
  let KEYS: S3Key;
  const endpoint = `https://127.0.0.1:${PORT}`;
  const s3As = (c: UploadCredentials) =>
    new S3Client({
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      maxAttempts: 1,
      requestHandler: { httpsAgent: new https.Agent({ ca: cloud.tls.ca }) },
      credentials: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken },
    });
  /** An STS client signed as one of the stack's functions (its own role's session), through local mode's AWS endpoint. */
  const stsAs = (handler: string) => {
    const fn = cloud.deployment.functions.find((f) => f.handler === handler)!;
    const session = cloud.cloud.credentials.issueRoleSession(fn.roleArn, fn.name);
    return {
      fn,
      sts: new STSClient({
        ...cloud.operatorClient,
        endpoint: cloud.awsEndpoint,
        credentials: { accessKeyId: session.accessKeyId, secretAccessKey: session.secretAccessKey, sessionToken: session.sessionToken },
      }),
    };
  };
  const ownerClient = () =>
    new S3Client({
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { ...KEYS },
      requestHandler: { httpsAgent: new https.Agent({ ca: cloud.tls.ca }) },
    });
  /** A browser-form POST upload (SigV4 POST policy) signed with the session's keys, with extra form fields. */
  const formPost = (c: UploadCredentials, key: string, fields: Record<string, string>) => {
    const now = new Date();
    const day = now.toISOString().slice(0, 10).replace(/-/g, '');
    const amzDate = `${day}T${now.toISOString().slice(11, 19).replace(/:/g, '')}Z`;
    const credential = `${c.accessKeyId}/${day}/us-east-1/s3/aws4_request`;
    const policy = Buffer.from(
      JSON.stringify({
        expiration: new Date(Date.now() + 600_000).toISOString(),
        conditions: [
          { bucket: BUCKET },
          ['starts-with', '$key', ''],
          { 'x-amz-algorithm': 'AWS4-HMAC-SHA256' },
          { 'x-amz-credential': credential },
          { 'x-amz-date': amzDate },
          { 'x-amz-security-token': c.sessionToken },
          ...Object.entries(fields).map(([name, value]) => ({ [name]: value })),
        ],
      }),
    ).toString('base64');
    const hmac = (k: Buffer | string, d: string) => createHmac('sha256', k).update(d).digest();
    const signingKey = hmac(hmac(hmac(hmac(`AWS4${c.secretAccessKey}`, day), 'us-east-1'), 's3'), 'aws4_request');
    const form: Record<string, string> = {
      key,
      'x-amz-algorithm': 'AWS4-HMAC-SHA256',
      'x-amz-credential': credential,
      'x-amz-date': amzDate,
      'x-amz-security-token': c.sessionToken!,
      policy,
      'x-amz-signature': createHmac('sha256', signingKey).update(policy).digest('hex'),
      ...fields,
    };
    const boundary = `----so-backup-${Date.now()}`;
    const body = `${Object.entries(form)
      .map(([name, value]) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`)
      .join(
        '',
      )}--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="f"\r\nContent-Type: text/plain\r\n\r\nposted\r\n--${boundary}--\r\n`;
    return new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = https
        .request(
          `${endpoint}/${BUCKET}`,
          {
            method: 'POST',
            ca: cloud.tls.ca,
            headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': Buffer.byteLength(body) },
          },
          (res) => {
            let text = '';
            res.on('data', (chunk) => (text += chunk));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
          },
        )
        .on('error', reject);
      request.end(body);
    });
  };
  const mint = (tenantId: string, access: 'upload' | 'restore' = 'upload') => {
    const { fn, sts } = stsAs('request-backup');
    return uploadCredentialVendorFromEnv(sts, fn.environment).mint(tenantId, `${tenantId}-2026-11-30-daily`, access);
  };

  /** Yesterday's run of the tenant, validated (`<tenant>-2026-11-29-daily`). */
  const createValidatedRun = (tenantId: string) =>
    cloud.runs.create({
      runId: `${tenantId}-2026-11-29-daily`,
      tenantId,
      status: 'SUCCEEDED',
      trigger: 'schedule',
      requestedBy: 'test',
      executionArn: 'x',
      startedAt: new Date(Date.now() - 86_400_000).toISOString(),
      validatedManifest: { key: `manifests/daily/${tenantId}/${tenantId}-2026-11-29-daily.json`, versionId: 'v1' },
    });

  beforeAll(async () => {
    const { template } = synthesizeStack();
    // The cluster first (its owner key is RGW's own), served with the CA the harness then uses.
    const tls = ensureLocalTls(path.join(dir, 'tls'));
    KEYS = startCephRgw(
      path.join(dir, 'ceph'),
      { port: PORT, monitorPort: TEST_PORT_BLOCKS.iamOnRgw + 10 },
      { SO_BACKUP_RGW_TLS_DIR: tls.dir },
    );
    cloud = await startCloudHarness({ s3: { endpoint, ...KEYS }, tlsDir: tls.dir });
    await provisionLocalBucket(cloud.deployment, readIamModel(template), { endpoint, ca: cloud.tls.ca, credentials: { ...KEYS } });
  });
  afterAll(async () => {
    await cloud?.stop();
    cephRgw(['stop', path.join(dir, 'ceph')]);
    rmSync(dir, { recursive: true, force: true }); // a Ceph cluster: ~800 MB
  });

  test("GIVEN credentials minted for tenant A WHEN used on RGW THEN they write A's run staging and archive only: B's prefixes are refused for writing, reading and listing, A's own retention tier too, and no version can be deleted", async () => {
    const a = await mint('acme');
    const b = await mint('bravo');
    expect(Date.parse(a.expiration) - Date.now()).toBeLessThanOrEqual(3600_000);
    expect(a.sessionToken).toBeTruthy();
    const asA = s3As(a);
    const asB = s3As(b);
    const put = await asA.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'archive/acme/SO_ARC/offer.docx', Body: "A's offer" }));
    await asB.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'archive/bravo/SO_ARC/secret.docx', Body: "B's secret" }));
    expect(
      await (
        await asA.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'archive/acme/SO_ARC/offer.docx', VersionId: put.VersionId }))
      ).Body!.transformToString(),
    ).toBe("A's offer");

    await expect(
      asA.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'incoming/acme/acme-2026-11-30-daily/db/SuperOffice.bak', Body: 'TAPE' })),
    ).resolves.toBeTruthy();
    for (const refused of [
      asA.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'archive/bravo/SO_ARC/planted.docx', Body: 'x' })),
      asA.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'incoming/bravo/bravo-2026-11-30-daily/db/SuperOffice.bak', Body: 'x' })),
      // Only finalize promotes into a retention tier, after validation.
      asA.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'db/daily/acme/SuperOffice.bak', Body: 'x' })),
      asA.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'db/daily/bravo/SuperOffice.bak', Body: 'x' })),
      asA.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'archive/bravo/SO_ARC/secret.docx' })),
      asA.send(new ListObjectVersionsCommand({ Bucket: BUCKET, Prefix: 'archive/bravo/' })),
      asA.send(new ListObjectVersionsCommand({ Bucket: BUCKET, Prefix: 'archive/' })),
      // Its own version: the role cannot, and the bucket policy denies it to everyone.
      asA.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'archive/acme/SO_ARC/offer.docx', VersionId: put.VersionId })),
    ])
      await expect(refused).rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } });
    // A delete marker on its own file is what the archive mirror does for a deleted file: allowed.
    await expect(asA.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'archive/acme/SO_ARC/offer.docx' }))).resolves.toMatchObject({
      DeleteMarker: true,
    });
  });

  test("GIVEN tenant A's minted credentials WHEN they ask RGW's own STS for the upload role again (role chaining, no session policy) THEN RGW refuses, as AWS would (the role trusts the minting functions only) (v14 review)", async () => {
    const a = await mint('acme');
    const uploadRoleArn = cloud.deployment.functions.find((f) => f.handler === 'request-backup')!.environment.UPLOAD_ROLE_ARN!;
    const direct = new STSClient({
      endpoint,
      region: 'us-east-1',
      maxAttempts: 1,
      requestHandler: { httpsAgent: new https.Agent({ ca: cloud.tls.ca }) },
      credentials: { accessKeyId: a.accessKeyId, secretAccessKey: a.secretAccessKey, sessionToken: a.sessionToken },
    });
    const chained = direct.send(new AssumeRoleCommand({ RoleArn: rgwRoleArn(uploadRoleArn), RoleSessionName: 'chain' }));
    await expect(chained).rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } });
  });

  test("GIVEN tenant A's minted credentials WHEN an upload sets an ACL (x-amz-acl, x-amz-grant-*, PutObjectAcl, a multipart upload's, a copy's, a form POST's) THEN RGW refuses it as AWS does for the template's BucketOwnerEnforced bucket (400 AccessControlListNotSupported) and stores nothing (v14 re-check)", async () => {
    const asA = s3As(await mint('acme'));
    const K = 'archive/acme/SO_ARC/';
    const allUsers = 'uri="http://acs.amazonaws.com/groups/global/AllUsers"';
    await asA.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${K}mine.docx`, Body: "A's own" }));
    const refused = {
      'grant-read': () => asA.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${K}g1`, Body: 'x', GrantRead: allUsers })),
      'grant-full-control': () => asA.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${K}g2`, Body: 'x', GrantFullControl: allUsers })),
      'public-read': () => asA.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${K}g3`, Body: 'x', ACL: 'public-read' })),
      private: () => asA.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${K}g4`, Body: 'x', ACL: 'private' })),
      'PutObjectAcl canned': () => asA.send(new PutObjectAclCommand({ Bucket: BUCKET, Key: `${K}mine.docx`, ACL: 'public-read' })),
      'PutObjectAcl grant': () => asA.send(new PutObjectAclCommand({ Bucket: BUCKET, Key: `${K}mine.docx`, GrantRead: allUsers })),
      'PutObjectAcl body': () =>
        asA.send(
          new PutObjectAclCommand({
            Bucket: BUCKET,
            Key: `${K}mine.docx`,
            AccessControlPolicy: {
              Owner: { ID: 'so-backup-local' },
              Grants: [{ Grantee: { Type: 'Group', URI: 'http://acs.amazonaws.com/groups/global/AllUsers' }, Permission: 'READ' }],
            },
          }),
        ),
      multipart: () => asA.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: `${K}g5`, ACL: 'public-read' })),
      copy: () =>
        asA.send(new CopyObjectCommand({ Bucket: BUCKET, Key: `${K}g6`, CopySource: `${BUCKET}/${K}mine.docx`, GrantRead: allUsers })),
    };
    for (const [what, request] of Object.entries(refused)) {
      await expect(
        request().then(
          () => `${what}: accepted`,
          (e: { name: string; $metadata: { httpStatusCode: number } }) => `${what}: ${e.$metadata.httpStatusCode} ${e.name}`,
        ),
      ).resolves.toBe(`${what}: 400 AccessControlListNotSupported`);
    }
    // The one ACL a BucketOwnerEnforced bucket accepts.
    await expect(
      asA.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${K}g7`, Body: 'x', ACL: 'bucket-owner-full-control' })),
    ).resolves.toBeTruthy();
    // A browser-form POST with acl=public-read (the repro's): its fields cannot be checked before the upload, so no form upload is taken.
    const a = await mint('acme');
    const post = await formPost(a, `${K}posted.txt`, { acl: 'public-read' });
    expect(post).toMatchObject({ status: 403 });
    expect(post.body).toContain('<Code>AccessDenied</Code>');
    const owner = ownerClient();
    for (const key of ['g1', 'g2', 'g3', 'g4', 'g6', 'posted.txt']) {
      await expect(owner.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${K}${key}` }))).rejects.toMatchObject({ name: 'NoSuchKey' });
    }
    const grants = (await owner.send(new GetObjectAclCommand({ Bucket: BUCKET, Key: `${K}mine.docx` }))).Grants ?? [];
    expect(grants.filter((g) => g.Grantee?.URI)).toEqual([]);
    owner.destroy();
    const status = await new Promise<number>((resolve, reject) => {
      https
        .get(`${endpoint}/${BUCKET}/${K}mine.docx`, { ca: cloud.tls.ca }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
        .on('error', reject);
    });
    expect(status).toBe(403);
  });

  test("GIVEN tenant A's minted credentials (no s3:PutObjectTagging, PutObjectRetention or PutObjectLegalHold) WHEN an upload carries x-amz-tagging or Object Lock headers THEN RGW refuses it with AccessDenied, as AWS does, and stores nothing (v14 re-check)", async () => {
    const asA = s3As(await mint('acme'));
    const K = 'archive/acme/SO_ARC/';
    const refused = {
      tagging: () => asA.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${K}t1`, Body: 'x', Tagging: 'retain=false' })),
      'multipart tagging': () => asA.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: `${K}t2`, Tagging: 'retain=false' })),
      'object lock': () =>
        asA.send(
          new PutObjectCommand({
            Bucket: BUCKET,
            Key: `${K}t3`,
            Body: 'x',
            ObjectLockMode: 'GOVERNANCE',
            ObjectLockRetainUntilDate: new Date(Date.now() + 86_400_000),
          }),
        ),
      'legal hold': () => asA.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${K}t4`, Body: 'x', ObjectLockLegalHoldStatus: 'ON' })),
    };
    for (const [what, request] of Object.entries(refused)) {
      await expect(
        request().then(
          () => `${what}: accepted`,
          (e: { name: string; $metadata: { httpStatusCode: number } }) => `${what}: ${e.$metadata.httpStatusCode} ${e.name}`,
        ),
      ).resolves.toBe(`${what}: 403 AccessDenied`);
    }
    const post = await formPost(await mint('acme'), `${K}t5`, {
      tagging: '<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>',
    });
    expect(post).toMatchObject({ status: 403 });
    const owner = ownerClient();
    for (const key of ['t1', 't3', 't4', 't5']) {
      await expect(owner.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${K}${key}` }))).rejects.toMatchObject({ name: 'NoSuchKey' });
    }
    owner.destroy();
  });

  test("GIVEN tenant A's minted credentials WHEN an upload is PRESIGNED with them (query-string SigV4, the session token in the URL) and carries x-amz-tagging, Object Lock or ACL headers, signed or hoisted into the URL THEN RGW refuses it as it refuses the header-signed request, and stores nothing (t14 F4: the script looked for X-Amz-Security-Token, RGW keeps it as x-amz-security-token)", async () => {
    const asA = s3As(await mint('acme'));
    const K = 'archive/acme/SO_ARC/presigned-';
    const headerValue = (name: string, input: Record<string, unknown>) =>
      ({
        'x-amz-tagging': input.Tagging,
        'x-amz-object-lock-mode': input.ObjectLockMode,
        'x-amz-object-lock-retain-until-date': (input.ObjectLockRetainUntilDate as Date | undefined)?.toISOString(),
        'x-amz-object-lock-legal-hold': input.ObjectLockLegalHoldStatus,
        'x-amz-acl': input.ACL,
      })[name];
    /** PUT through a presigned URL; `signed` headers are signed and sent as headers, the rest hoisted into the URL as the SDK does. */
    const presignedPut = async (key: string, input: Record<string, unknown>, signed: string[] = []) => {
      const url = await getSignedUrl(asA, new PutObjectCommand({ Bucket: BUCKET, Key: key, ...input }), {
        expiresIn: 300,
        unhoistableHeaders: new Set(signed),
      });
      expect(url).toContain('X-Amz-Security-Token=');
      const headers = Object.fromEntries(signed.map((name) => [name, String(headerValue(name, input))]));
      return new Promise<string>((resolve, reject) => {
        https
          .request(url, { method: 'PUT', ca: cloud.tls.ca, headers: { ...headers, 'content-length': '1' } }, (res) => {
            let text = '';
            res.on('data', (chunk) => (text += chunk));
            res.on('end', () => resolve(`${res.statusCode} ${/<Code>([^<]*)<\/Code>/.exec(text)?.[1] ?? ''}`.trim()));
          })
          .on('error', reject)
          .end('x');
      });
    };
    const lock = { ObjectLockMode: 'GOVERNANCE', ObjectLockRetainUntilDate: new Date(Date.now() + 86_400_000) };
    const cases: Array<[string, Record<string, unknown>, string[], string]> = [
      ['tagging, signed header', { Tagging: 'a=b' }, ['x-amz-tagging'], '403 AccessDenied'],
      ['tagging, in the URL', { Tagging: 'a=b' }, [], '403 AccessDenied'],
      ['object lock, signed headers', lock, ['x-amz-object-lock-mode', 'x-amz-object-lock-retain-until-date'], '403 AccessDenied'],
      ['object lock, in the URL', lock, [], '403 AccessDenied'],
      ['legal hold, signed header', { ObjectLockLegalHoldStatus: 'ON' }, ['x-amz-object-lock-legal-hold'], '403 AccessDenied'],
      ['legal hold, in the URL', { ObjectLockLegalHoldStatus: 'ON' }, [], '403 AccessDenied'],
      ['public ACL, signed header', { ACL: 'public-read' }, ['x-amz-acl'], '400 AccessControlListNotSupported'],
      ['public ACL, in the URL', { ACL: 'public-read' }, [], '400 AccessControlListNotSupported'],
    ];
    const owner = ownerClient();
    for (const [index, [what, input, signed, expected]] of cases.entries()) {
      await expect(presignedPut(`${K}${index}`, input, signed).then((answer) => `${what}: ${answer}`)).resolves.toBe(
        `${what}: ${expected}`,
      );
      await expect(owner.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${K}${index}` }))).rejects.toMatchObject({ name: 'NoSuchKey' });
    }
    // The same presigned path without those headers is an ordinary upload.
    await expect(presignedPut(`${K}plain`, {})).resolves.toBe('200');
    owner.destroy();
  });

  test("GIVEN a function's session at local mode's AWS endpoint WHEN an S3 request repeats versionId (the first empty, the last an old version) THEN the endpoint answers 400 InvalidArgument, never checking one request and letting RGW serve another (t14 F5)", async () => {
    const owner = ownerClient();
    const key = 'db/daily/acme/twice.bak';
    const old = (await owner.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: 'old' }))).VersionId!;
    await owner.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: 'new' }));
    owner.destroy();
    const fn = cloud.deployment.functions.find((f) => f.handler === 'validate-run')!;
    const session = cloud.cloud.credentials.issueRoleSession(fn.roleArn, fn.name);
    const validator = new S3Client({
      ...cloud.operatorClient,
      endpoint: cloud.awsEndpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: session.accessKeyId, secretAccessKey: session.secretAccessKey, sessionToken: session.sessionToken },
    });
    // The query as the tester sent it, signed: versionId=&versionId=<old>.
    let query: string | string[] | undefined;
    validator.middlewareStack.add(
      (next) => async (args) => {
        const request = args.request as { query: Record<string, string | string[] | null> };
        if (query !== undefined) request.query.versionId = query;
        return next(args);
      },
      { step: 'build', name: 'repeatVersionId' },
    );
    const answer = (command: GetObjectCommand | DeleteObjectCommand) =>
      validator.send(command as GetObjectCommand).then(
        async (out) => `200 ${'Body' in out && out.Body ? await out.Body.transformToString() : ''}`.trim(),
        (e: { name: string; message: string; $metadata: { httpStatusCode: number } }) =>
          `${e.$metadata.httpStatusCode} ${e.name}: ${e.message}`,
      );
    query = ['', old];
    await expect(answer(new GetObjectCommand({ Bucket: BUCKET, Key: key, VersionId: old }))).resolves.toMatch(
      /^400 InvalidArgument: .*'versionId' more than once/,
    );
    query = '';
    await expect(answer(new GetObjectCommand({ Bucket: BUCKET, Key: key, VersionId: old }))).resolves.toMatch(
      /^400 InvalidArgument: Version id cannot be the empty string/,
    );
    // The same request with versionId once reads the old version: the refusals above are not the signature's.
    query = undefined;
    await expect(answer(new GetObjectCommand({ Bucket: BUCKET, Key: key, VersionId: old }))).resolves.toBe('200 old');
    validator.destroy();
  });

  test("GIVEN a role RGW would have to let tag, or set Object Lock WHEN local mode copies it into RGW THEN it is refused by name (RGW's script refuses those headers to every session)", () => {
    const role = (action: unknown) => ({
      arn: 'arn:aws:iam::000000000000:role/R',
      name: 'R',
      trustPolicy: { Statement: [] },
      maxSessionSeconds: 3600,
      policies: [{ name: 'P', policy: { Statement: [{ Effect: 'Allow', Action: action, Resource: '*' }] } }],
    });
    expect(() => assertRgwCanHoldSessions([role(['s3:PutObject', 's3:AbortMultipartUpload'])])).not.toThrow();
    expect(() => assertRgwCanHoldSessions([role('s3:Put*')])).toThrow('role R (policy P) allows s3:PutObjectTagging');
    expect(() => assertRgwCanHoldSessions([role(['s3:putobjectretention'])])).toThrow('allows s3:PutObjectRetention');
  });

  test("GIVEN restore credentials WHEN used THEN they read the tenant's backups and write nothing", async () => {
    // A validated backup, where finalize promotes it (written here as the bucket owner).
    const owner = new S3Client({
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { ...KEYS },
      requestHandler: { httpsAgent: new https.Agent({ ca: cloud.tls.ca }) },
    });
    const put = await owner.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'db/daily/carla/SuperOffice.bak', Body: 'TAPE…' }));
    owner.destroy();
    const restore = s3As(await mint('carla', 'restore'));
    await expect(
      restore.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'db/daily/carla/SuperOffice.bak', VersionId: put.VersionId })),
    ).resolves.toBeTruthy();
    await expect(
      restore.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'db/daily/carla/SuperOffice.bak', Body: 'overwrite' })),
    ).rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } });
    await expect(restore.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'archive/acme/SO_ARC/offer.docx' }))).rejects.toMatchObject({
      $metadata: { httpStatusCode: 403 },
    });
  });

  test('GIVEN the upload role WHEN anyone but a minting function asks for it, or for more than an hour THEN STS refuses', async () => {
    const uploadRoleArn = cloud.deployment.functions.find((f) => f.handler === 'request-backup')!.environment.UPLOAD_ROLE_ARN!;
    const operator = new STSClient({ ...cloud.operatorClient, endpoint: cloud.awsEndpoint, credentials: { ...HARNESS_OPERATOR } });
    await expect(operator.send(new AssumeRoleCommand({ RoleArn: uploadRoleArn, RoleSessionName: 'operator' }))).rejects.toMatchObject({
      name: 'AccessDenied',
      message: expect.stringContaining(
        'user/so-backup-operator is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::000000000000:role/BackupRunUploadRole',
      ),
    });
    const { sts: validate } = stsAs('validate-run');
    await expect(validate.send(new AssumeRoleCommand({ RoleArn: uploadRoleArn, RoleSessionName: 'validator' }))).rejects.toMatchObject({
      name: 'AccessDenied',
    });
    const { sts: request } = stsAs('request-backup');
    await expect(
      request.send(new AssumeRoleCommand({ RoleArn: uploadRoleArn, RoleSessionName: 'long', DurationSeconds: 7200 })),
    ).rejects.toMatchObject({
      name: 'ValidationError',
      message: expect.stringContaining('role chaining'),
    });
  });

  test("GIVEN a tenant due for a restore drill WHEN the drills' hourly schedule fires THEN request-drills mints read-only credentials from the upload role (session tag included) and issues the drill, refused nowhere", async () => {
    await cloud.tenants.put({
      ...newTenant('echo', 'Echo AS'),
      lastRunId: 'echo-2026-11-29-daily',
      keys: [{ keyId: 'k1', publicKey: 'MCowBQYDK2VwAyEA', status: 'active', createdAt: new Date().toISOString() }],
    });
    await createValidatedRun('echo');
    await cloud.connections.add({ connectionId: 'echo0000000=', tenantId: 'echo', keyId: 'k1', connectedAt: new Date().toISOString() });
    const fn = cloud.deployment.functions.find((f) => f.handler === 'request-drills')!;
    const schedule = cloud.deployment.schedules.find((s) => s.targetArn === fn.arn)!;
    await expect(cloud.cloud.scheduler.fire(schedule.name)).resolves.toMatchObject({ ok: true });
    // The drill is issued after its credentials were minted (and before the job is sent, here to a connection that is gone).
    const issued = (await cloud.tenants.get('echo'))!.issuedDrills ?? {};
    expect(Object.keys(issued)).toEqual([expect.stringMatching(/^echo-drill-[0-9a-f]{12}$/)]);
    expect(cloud.cloud.denials.filter((d) => d.principal.includes(fn.name))).toEqual([]);
  });

  test('GIVEN a recorded connection API Gateway reports gone WHEN a backup is requested THEN request-backup forgets it and reports the connector offline (not AccessDenied)', async () => {
    await cloud.tenants.put({
      ...newTenant('delta', 'Delta AS'),
      keys: [{ keyId: 'k1', publicKey: 'MCowBQYDK2VwAyEA', status: 'active', createdAt: new Date().toISOString() }],
    });
    await cloud.runs.create({
      runId: 'delta-2026-11-30-daily',
      tenantId: 'delta',
      status: 'RUNNING',
      trigger: 'schedule',
      requestedBy: 'test',
      executionArn: 'x',
      startedAt: new Date().toISOString(),
    });
    await cloud.connections.add({ connectionId: 'gone0000000=', tenantId: 'delta', keyId: 'k1', connectedAt: new Date().toISOString() });
    const fn = cloud.deployment.functions.find((f) => f.handler === 'request-backup')!;
    const machine = cloud.deployment.stateMachines.find((m) => m.name === 'BackupRun')!;
    const invoked = cloud.cloud.lambda.invoke(
      fn.arn,
      {
        taskToken: 'token',
        run: { runId: 'delta-2026-11-30-daily', tenantId: 'delta', trigger: 'schedule', startedAt: new Date().toISOString() },
      },
      { kind: 'role', roleArn: machine.roleArn, sessionName: 'test' },
    );
    await expect(invoked).rejects.toBeInstanceOf(LambdaFunctionError);
    await expect(invoked).rejects.toMatchObject({ name: 'ConnectorOffline' });
    expect(await cloud.connections.forTenant('delta')).toEqual([]);
    expect(cloud.cloud.denials.filter((d) => d.principal.includes(fn.name))).toEqual([]);
  });

  test("GIVEN links presigned for the AWS endpoint (as `so-backup share` makes them) WHEN fetched THEN the signature, X-Amz-Expires and the signer's IAM policies decide, as on AWS (issue 14, F3)", async () => {
    const owner = ownerClient();
    await owner.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'db/daily/erin/SuperOffice.bak', Body: 'TAPE erin' }));
    owner.destroy();
    const presign = async (
      credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string },
      expiresIn: number,
      put = false,
    ) => {
      const s3 = new S3Client({
        ...cloud.operatorClient,
        endpoint: cloud.awsEndpoint,
        forcePathStyle: true,
        credentials: { ...credentials },
      });
      const key = put ? 'db/daily/erin/Other.bak' : 'db/daily/erin/SuperOffice.bak';
      const url = await getSignedUrl(
        s3,
        put ? new PutObjectCommand({ Bucket: BUCKET, Key: key }) : new GetObjectCommand({ Bucket: BUCKET, Key: key }),
        { expiresIn },
      );
      s3.destroy();
      return url;
    };
    const fetchUrl = (url: string, method = 'GET', body?: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const request = https.request(url, { method, ca: cloud.tls.ca }, async (res) => {
          let text = '';
          for await (const chunk of res) text += String(chunk);
          resolve({ status: res.statusCode ?? 0, body: text });
        });
        request.on('error', reject);
        request.end(body);
      });

    // The operator (AdministratorAccess) may read it: the link works, through the AWS endpoint.
    const operatorLink = await presign(HARNESS_OPERATOR, 60);
    expect(operatorLink).toContain(cloud.awsEndpoint);
    expect(await fetchUrl(operatorLink)).toEqual({ status: 200, body: 'TAPE erin' });
    // Altered, it is refused.
    expect((await fetchUrl(operatorLink.replace('SuperOffice.bak', 'Other.bak'))).body).toContain('SignatureDoesNotMatch');

    // A link signed by a role whose policies do not allow s3:GetObject there: AccessDenied, logged, as AWS would.
    const fn = cloud.deployment.functions.find((f) => f.handler === 'authorizer')!;
    const session = cloud.cloud.credentials.issueRoleSession(fn.roleArn, fn.name);
    const denied = await fetchUrl(await presign(session, 60));
    expect(denied.status).toBe(403);
    expect(denied.body).toContain('AccessDenied');
    expect(denied.body).toContain('s3:GetObject');
    expect(cloud.cloud.denials).toContainEqual(
      expect.objectContaining({ operation: 'GetObject', principal: expect.stringContaining(fn.name) }),
    );
    const deniedPut = await fetchUrl(await presign(session, 60, true), 'PUT', 'not a backup');
    expect(deniedPut.status).toBe(403);
    expect(deniedPut.body).toContain('s3:PutObject');

    // X-Amz-Expires is honoured: a link past it is refused, as S3 refuses it.
    const shortLived = await presign(HARNESS_OPERATOR, 1);
    await new Promise((resolve) => setTimeout(resolve, 2100));
    const expired = await fetchUrl(shortLived);
    expect(expired.status).toBe(403);
    expect(expired.body).toContain('Request has expired');
  });

  test("GIVEN a restore granted and a drill issued WHEN the connector asks to renew their read credentials over the gateway THEN the message function mints fresh ones from the upload role (IAM evaluated, nothing refused) that read the tenant's backups on RGW; a renewal for a restore never granted or a drill never issued is refused (issue 14)", async () => {
    const key = newConnectorKeyPair();
    const now = new Date();
    await cloud.tenants.put({
      ...newTenant('foxtrot', 'Foxtrot AS'),
      keys: [{ keyId: key.keyId, publicKey: publicKeyDerOf(key.publicKeyPem), status: 'active', createdAt: now.toISOString() }],
      issuedDrills: {
        'foxtrot-drill-000000000001': {
          runId: 'foxtrot-2026-11-29-daily',
          issuedAt: now.toISOString(),
          expiresAt: new Date(now.getTime() + 3600_000).toISOString(),
        },
      },
    });
    await createValidatedRun('foxtrot');
    const owner = ownerClient();
    const put = await owner.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'db/daily/foxtrot/SuperOffice.bak', Body: 'TAPE…' }));
    owner.destroy();
    const connection = () => ({
      endpoint: cloud.endpoint,
      authorization: signatureAuthorization('foxtrot', key.keyId, key.privateKeyPem),
      connectorVersion: '1.0.0',
    });
    const readsBackup = async (c: UploadCredentials) =>
      (
        await s3As(c).send(new GetObjectCommand({ Bucket: BUCKET, Key: 'db/daily/foxtrot/SuperOffice.bak', VersionId: put.VersionId }))
      ).Body!.transformToString();

    // A restore: granted (recorded with its request id), then renewed for that grant over a connection of its own.
    const grant = await requestRestore(connection(), { run: 'foxtrot-2026-11-29-daily', requestedBy: 'it@SO-APP01' });
    const renewed = await restoreCredentialSource(connection, grant)();
    expect(renewed.accessKeyId).not.toBe(grant.credentials.accessKeyId);
    expect(await readsBackup(renewed)).toBe('TAPE…');
    await expect(restoreCredentialSource(connection, { runId: grant.runId, requestId: 'never-granted-0001' })()).rejects.toMatchObject({
      code: 'RESTORE_UNKNOWN',
    });

    // A drill the cloud issued: renewed over the session for that drill.
    const askDrill = async (drillId: string) => {
      const outcome = await handshake({ ...connection(), handshakeTimeoutMs: 30_000 });
      if (outcome.kind !== 'open') throw new Error(`handshake: ${outcome.kind}`);
      try {
        return await new Promise<CloudMessage>((resolve) => {
          outcome.socket.on('message', (data: Buffer) => resolve(parseMessage('cloud', data)));
          outcome.socket.send(
            encodeMessage({ type: 'credentials-request', v: PROTOCOL_VERSION, runId: 'foxtrot-2026-11-29-daily', drillId }),
          );
        });
      } finally {
        outcome.socket.terminate();
      }
    };
    const drill = await askDrill('foxtrot-drill-000000000001');
    expect(drill).toMatchObject({ type: 'credentials', runId: 'foxtrot-2026-11-29-daily', drillId: 'foxtrot-drill-000000000001' });
    expect(await readsBackup((drill as Extract<CloudMessage, { type: 'credentials' }>).credentials)).toBe('TAPE…');
    expect(await askDrill('foxtrot-drill-000000000009')).toMatchObject({
      type: 'error',
      inReplyTo: 'credentials-request',
      error: { code: 'DRILL_UNKNOWN' },
    });

    // The connector's own stores, built as so-connector restore and the service build them, on first credentials RGW
    // finds expired (sealed expiration moved into the past; by the connector's clock they end in 6 minutes): the first
    // read is refused by RGW, the credentials renewed through the gateway, the read sent again.
    trustCertificateAuthorities(cloud.tls.caFile);
    const stsKey = readFileSync(path.join(dir, 'ceph', 'sts.key'), 'utf8').trim();
    const expiredByRgw = (c: UploadCredentials) => ({
      ...c,
      sessionToken: withSealedExpiration(c.sessionToken!, stsKey, new Date(Date.now() - 1000)),
      expiration: new Date(Date.now() + 6 * 60_000).toISOString(),
    });
    const download = async (store: S3ObjectStore) => {
      let text = '';
      for await (const chunk of await store.getVersion('db/daily/foxtrot/SuperOffice.bak', put.VersionId!)) text += String(chunk);
      return text;
    };
    const restoreStore = storeOnRunCredentials(grant.target, expiredByRgw(grant.credentials), restoreCredentialSource(connection, grant), {
      retry: { maxAttempts: 1 },
    });
    expect(await download(restoreStore)).toBe('TAPE…');
    const link = new Link({
      endpoint: cloud.endpoint,
      authorization: () => connection().authorization,
      connectorVersion: '1.0.0',
      logger: pino({ level: 'silent' }),
      outbox: new Outbox(path.join(dir, 'foxtrot-outbox')),
    });
    const connected = new Promise<void>((resolve) => link.once('connected', () => resolve()));
    link.start();
    try {
      await connected;
      const drillStore = storeOnRunCredentials(
        grant.target,
        expiredByRgw(await mint('foxtrot', 'restore')),
        credentialsOverLink(link, { runId: 'foxtrot-2026-11-29-daily', drillId: 'foxtrot-drill-000000000001' }),
        { retry: { maxAttempts: 1 } },
      );
      expect(await download(drillStore)).toBe('TAPE…');
    } finally {
      await link.stop();
    }
    const fn = cloud.deployment.functions.find((f) => f.handler === 'message')!;
    expect(cloud.cloud.denials.filter((d) => d.principal.includes(fn.name))).toEqual([]);
  });
  test('GIVEN a checking-in tenant whose restore drill is due WHEN its connector asks for its settings over the gateway THEN the message function (IAM evaluated, nothing refused) issues the drill with read credentials from the upload role, sends it before the settings, and the settings carry its presence (issue 18)', async () => {
    const key = newConnectorKeyPair();
    await cloud.tenants.put({
      ...newTenant('golf', 'Golf AS'),
      lastRunId: 'golf-2026-11-29-daily',
      backupHour: 2,
      backupMinute: 15,
      keys: [{ keyId: key.keyId, publicKey: publicKeyDerOf(key.publicKeyPem), status: 'active', createdAt: new Date().toISOString() }],
    });
    await createValidatedRun('golf');
    const outcome = await handshake({
      endpoint: cloud.endpoint,
      authorization: signatureAuthorization('golf', key.keyId, key.privateKeyPem),
      connectorVersion: '1.0.0',
      handshakeTimeoutMs: 30_000,
    });
    if (outcome.kind !== 'open') throw new Error(`handshake: ${outcome.kind}`);
    const replies: CloudMessage[] = [];
    try {
      await new Promise<void>((resolve) => {
        outcome.socket.on('message', (data: Buffer) => {
          replies.push(parseMessage('cloud', data));
          if (replies.at(-1)!.type === 'settings') resolve();
        });
        outcome.socket.send(encodeMessage({ type: 'settings-request', v: PROTOCOL_VERSION }));
      });
    } finally {
      outcome.socket.terminate();
    }
    expect(replies.map((r) => r.type)).toEqual(['drill-job', 'settings']);
    expect(replies[0]).toMatchObject({
      type: 'drill-job',
      runId: 'golf-2026-11-29-daily',
      credentials: { sessionToken: expect.any(String) },
    });
    expect(replies[1]).toMatchObject({
      type: 'settings',
      bandwidth: null,
      presence: { mode: 'check-in', checkInSeconds: 3600, nextBackupAt: expect.stringMatching(/T0[01]:15:00\.000Z$/), stayUntil: null },
    });
    const golf = (await cloud.tenants.get('golf'))!;
    expect(Object.keys(golf.issuedDrills ?? {})).toEqual([(replies[0] as Extract<CloudMessage, { type: 'drill-job' }>).drillId]);
    expect(golf.drillRequestedAt).toBeDefined();
    const fn = cloud.deployment.functions.find((f) => f.handler === 'message')!;
    expect(cloud.cloud.denials.filter((d) => d.principal.includes(fn.name))).toEqual([]);
  });

  test("GIVEN a session RGW itself finds expired (its sealed expiration moved into the past: RGW's shortest session is 900 s) WHEN used THEN RGW answers AccessDenied (403; a HEAD a bare 403), and the connector's store renews its credentials and goes on — PUT, GET and HEAD (issue 14)", async () => {
    const stsKey = readFileSync(path.join(dir, 'ceph', 'sts.key'), 'utf8').trim();
    const fresh = await mint('golf');
    const expiredToken = withSealedExpiration(fresh.sessionToken!, stsKey, new Date(Date.now() - 1000));
    const expired = { ...fresh, sessionToken: expiredToken };
    // The control: the same session sealed to end in ten minutes works — only the expiration was changed.
    const control = { ...fresh, sessionToken: withSealedExpiration(fresh.sessionToken!, stsKey, new Date(Date.now() + 600_000)) };
    await expect(
      s3As(control).send(new PutObjectCommand({ Bucket: BUCKET, Key: 'archive/golf/SO_ARC/control.docx', Body: 'ok' })),
    ).resolves.toBeTruthy();
    // What RGW answers an expired session: AccessDenied, not AWS's ExpiredToken; a HEAD has no body, so no code at all.
    await expect(
      s3As(expired).send(new PutObjectCommand({ Bucket: BUCKET, Key: 'archive/golf/SO_ARC/late.docx', Body: 'late' })),
    ).rejects.toMatchObject({ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
    await expect(
      s3As(expired).send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'archive/golf/SO_ARC/control.docx' })),
    ).rejects.toMatchObject({ name: 'Unknown', $metadata: { httpStatusCode: 403 } });

    // The connector's store on those credentials; by its clock they end in 6 minutes (renewed 5 minutes before), while
    // RGW's clock has them expired: the request is refused once, the credentials renewed, the request sent again.
    trustCertificateAuthorities(cloud.tls.caFile);
    let renewals = 0;
    const storeOnExpired = () =>
      storeOnRunCredentials(
        { bucket: BUCKET, region: 'us-east-1', endpoint, forcePathStyle: true },
        { ...expired, expiration: new Date(Date.now() + 6 * 60_000).toISOString() },
        async () => {
          renewals++;
          return mint('golf');
        },
        { retry: { maxAttempts: 1 } },
      );
    const stored = await storeOnExpired().putBuffer('archive/golf/SO_ARC/offer.docx', Buffer.from("Golf's offer"));
    expect(renewals).toBe(1);
    await expect(storeOnExpired().head('archive/golf/SO_ARC/offer.docx', stored.versionId)).resolves.toMatchObject({
      versionId: stored.versionId,
      size: 12,
    });
    expect(renewals).toBe(2);
    const body = await storeOnExpired().getVersion('archive/golf/SO_ARC/offer.docx', stored.versionId);
    let text = '';
    for await (const chunk of body) text += String(chunk);
    expect(text).toBe("Golf's offer");
    expect(renewals).toBe(3);
  });
});
