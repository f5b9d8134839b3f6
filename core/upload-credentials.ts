import { AssumeRoleCommand, type STSClient } from '@aws-sdk/client-sts';
import { z } from 'zod';
import { keyLayout, STAGING_PREFIX, type UploadCredentials, type UploadTarget } from '../protocol';

/** What the credentials are for: a backup run's uploads, or a restore's reads. */
export type CredentialAccess = 'upload' | 'restore';

/** Mints the S3 credentials a connector uses for one run (or one restore). */
export interface UploadCredentialVendor {
  mint(tenantId: string, runId: string, access?: CredentialAccess): Promise<UploadCredentials>;
}

/** What the upload role may do at most; each run's session policy narrows it to one tenant and run. */
export const UPLOAD_WRITE_ACTIONS = ['s3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts', 's3:DeleteObject'];
export const UPLOAD_READ_ACTIONS = ['s3:GetObject', 's3:GetObjectVersion'];
export const UPLOAD_LIST_ACTIONS = ['s3:ListBucketVersions'];
/** Uploading, in one PUT or in parts (resumed parts are listed), without any delete. */
const STAGING_ACTIONS = ['s3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'];

/**
 * The upload role's ceiling (actions on key patterns of the backup bucket): staging uploads,
 * archive uploads and delete markers, and reading what restores and the index rebuild read.
 * Never a tier key written, never a version deleted; every session is narrowed further below.
 */
export const UPLOAD_ROLE_GRANTS: ReadonlyArray<{ actions: readonly string[]; keys: readonly string[] }> = [
  { actions: STAGING_ACTIONS, keys: [`${STAGING_PREFIX}*`] },
  { actions: UPLOAD_WRITE_ACTIONS, keys: ['archive/*'] },
  { actions: UPLOAD_READ_ACTIONS, keys: ['db/*', 'manifests/*', 'archive/*'] },
];

/**
 * The session policy that narrows the upload role to one run of one tenant, with no wildcard
 * mid-path and never a version delete:
 * - its run's staging prefix `incoming/<t>/<run>/`: upload only (database backups, snapshot,
 *   manifest). Not the daily, weekly or monthly tiers: only finalize promotes into those, after
 *   validation, so a connector cannot displace a validated backup.
 * - the tenant's archive `archive/<t>/`: upload, and delete markers for deleted files.
 * - read back and list only its own archive and validated snapshots (`manifests/daily/<t>/`), to
 *   copy renamed files inside S3 and to rebuild a lost archive index.
 * `bucketArn` carries the stack's partition (arn:aws:, arn:aws-cn:, arn:aws-us-gov:…).
 */
export function uploadSessionPolicy(bucketArn: string, tenantId: string, runId: string): string {
  const arn = (prefix: string) => `${bucketArn}/${prefix}*`;
  const readable = keyLayout.tenantReadPrefixes(tenantId);
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Allow', Action: STAGING_ACTIONS, Resource: arn(keyLayout.staging(tenantId, runId)) },
      { Effect: 'Allow', Action: UPLOAD_WRITE_ACTIONS, Resource: arn(keyLayout.archive(tenantId)) },
      { Effect: 'Allow', Action: UPLOAD_READ_ACTIONS, Resource: readable.map(arn) },
      {
        Effect: 'Allow',
        Action: UPLOAD_LIST_ACTIONS,
        Resource: bucketArn,
        Condition: { StringLike: { 's3:prefix': readable.map((prefix) => `${prefix}*`) } },
      },
      { Effect: 'Allow', Action: ['kms:GenerateDataKey', 'kms:Encrypt', 'kms:Decrypt'], Resource: '*' },
    ],
  });
}

/** A restore only reads: every tier's backups and manifests and the archive of one tenant, nothing else. */
export function restoreSessionPolicy(bucketArn: string, tenantId: string): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Action: UPLOAD_READ_ACTIONS,
        Resource: keyLayout.tenantRestorePrefixes(tenantId).map((prefix) => `${bucketArn}/${prefix}*`),
      },
      { Effect: 'Allow', Action: ['kms:Decrypt'], Resource: '*' },
    ],
  });
}

/** STS AssumeRole on the upload role with the tenant's session policy (and a `tenant` session tag, which needs sts:TagSession). */
export class StsUploadCredentialVendor implements UploadCredentialVendor {
  constructor(
    private readonly sts: STSClient,
    private readonly roleArn: string,
    private readonly bucketArn: string,
    private readonly seconds: number,
  ) {}

  async mint(tenantId: string, runId: string, access: CredentialAccess = 'upload'): Promise<UploadCredentials> {
    const out = await this.sts.send(
      new AssumeRoleCommand({
        RoleArn: this.roleArn,
        RoleSessionName: `${access === 'restore' ? 'restore-' : ''}${tenantId}-${runId}`.slice(0, 64).replace(/[^\w+=,.@-]/g, '-'),
        DurationSeconds: this.seconds,
        Policy:
          access === 'restore' ? restoreSessionPolicy(this.bucketArn, tenantId) : uploadSessionPolicy(this.bucketArn, tenantId, runId),
        Tags: [{ Key: 'tenant', Value: tenantId }],
      }),
    );
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey || !c.Expiration) throw new Error('STS returned no credentials');
    return {
      accessKeyId: c.AccessKeyId,
      secretAccessKey: c.SecretAccessKey,
      sessionToken: c.SessionToken,
      expiration: c.Expiration.toISOString(),
    };
  }
}

/** The environment that says where connectors read and write backups. */
export const connectorTargetEnvironmentSchema = z.object({
  BACKUP_BUCKET: z.string().min(3),
  AWS_REGION: z.string().min(1),
  /** Local mode: the S3 endpoint connectors use. */
  CONNECTOR_S3_ENDPOINT: z.url().optional(),
});

/** Where connectors read and write backups: the bucket and region; in local mode, the local S3 endpoint. */
export function connectorTarget(env: z.infer<typeof connectorTargetEnvironmentSchema>): UploadTarget {
  return {
    bucket: env.BACKUP_BUCKET,
    region: env.AWS_REGION,
    endpoint: env.CONNECTOR_S3_ENDPOINT,
    forcePathStyle: Boolean(env.CONNECTOR_S3_ENDPOINT),
  };
}

/**
 * The vendor the stack's environment describes: the upload role, the bucket, and how long
 * credentials last (STS role chaining caps it at an hour). The bucket's ARN takes the role's
 * partition, so session policies name the bucket right in every AWS partition.
 * @throws ZodError naming a missing or malformed variable
 */
export function uploadCredentialVendorFromEnv(sts: STSClient, env: NodeJS.ProcessEnv): UploadCredentialVendor {
  const parsed = z
    .object({
      BACKUP_BUCKET: z.string().min(3),
      UPLOAD_CREDENTIAL_SECONDS: z.coerce.number().int().min(900).max(3600).default(3600),
      UPLOAD_ROLE_ARN: z.string().regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/, 'UPLOAD_ROLE_ARN must be an IAM role ARN'),
    })
    .parse(env);
  const partition = parsed.UPLOAD_ROLE_ARN.split(':')[1]!;
  return new StsUploadCredentialVendor(
    sts,
    parsed.UPLOAD_ROLE_ARN,
    `arn:${partition}:s3:::${parsed.BACKUP_BUCKET}`,
    parsed.UPLOAD_CREDENTIAL_SECONDS,
  );
}
