import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { AnyPrincipal, Effect, Grant, type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectLockRetention, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { Construct, type IConstruct } from 'constructs';
import { RETENTION_TIERS, type RetentionTier, STAGING_PREFIX } from '../../../protocol';
import { acceptFinding, arnInFinding } from './reviewed-finding';
import { validateDuration, validateRange } from './validate-props';

export interface BackupBucketProps {
  /**
   * How many database backups of each database are kept, counting the current one. Older ones
   * expire one day after a newer backup replaces them — never by age alone, so when backups stop
   * the last ones stay. Range 1 to 100 (NewerNoncurrentVersions allows 100 noncurrent versions).
   * @default 14
   */
  readonly dailyBackupsKept?: number;
  /**
   * How many weekly copies are kept: the first validated backup of each ISO week is copied
   * inside S3 to the weekly tier. 0 turns the tier off. Range 0 to 101.
   * @default 5
   */
  readonly weeklyBackupsKept?: number;
  /**
   * How many monthly copies are kept (the first validated backup of each month). 0 turns the
   * tier off. Range 0 to 101.
   * @default 12
   */
  readonly monthlyBackupsKept?: number;
  /**
   * How long a replaced or deleted archive file's old version is kept. It must cover the longest
   * tier (daily N days, weekly N × 7, monthly N × 31), or an old backup's snapshot would name
   * archive versions that are gone.
   * @default 90 days, or the longest tier if that is longer
   */
  readonly archiveVersionRetention?: Duration;
  /**
   * The only principal allowed to delete object versions or suspend versioning (a break-glass
   * role for legal erasure requests). Nobody else can destroy a backup, whatever their IAM rights.
   * @default nobody
   */
  readonly breakGlassRoleArn?: string;
  /**
   * Optional S3 Object Lock (WORM) on every new object version: GOVERNANCE (the break-glass role
   * with s3:BypassGovernanceRetention can still erase) or COMPLIANCE (nobody can, not even the
   * account root, until the days pass). Lifecycle rules cannot expire a locked version before then.
   * Object Lock can only be turned on when the bucket is created.
   * @default no Object Lock
   */
  readonly objectLock?: { mode: 'GOVERNANCE' | 'COMPLIANCE'; days: number };
  /**
   * How long a run's uploads stay in its staging prefix (`incoming/<tenant>/<run>/`) whatever
   * happens: finalize promotes what validated long before that, so this only bounds how long
   * an upload that failed validation, or an orphan of a crashed job, is kept for inspection
   * (`so-backup verify-backup`). It must exceed the longest a run takes. Range 2 to 30 days.
   * @default Duration.days(3)
   */
  readonly stagingExpiration?: Duration;
  /** @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

/** How many backups each tier keeps, and how long archive versions must therefore stay. */
export function retentionOf(
  props: Pick<BackupBucketProps, 'dailyBackupsKept' | 'weeklyBackupsKept' | 'monthlyBackupsKept' | 'archiveVersionRetention'>,
) {
  validateRange('dailyBackupsKept', props.dailyBackupsKept, 1, 101);
  validateRange('weeklyBackupsKept', props.weeklyBackupsKept, 0, 101);
  validateRange('monthlyBackupsKept', props.monthlyBackupsKept, 0, 101);
  validateDuration('archiveVersionRetention', props.archiveVersionRetention, 86_400, 36_500 * 86_400);
  const kept = { daily: props.dailyBackupsKept ?? 14, weekly: props.weeklyBackupsKept ?? 5, monthly: props.monthlyBackupsKept ?? 12 };
  const longestTierDays = Math.max(kept.daily, kept.weekly * 7, kept.monthly * 31);
  const archiveDays = props.archiveVersionRetention?.toDays() ?? Math.max(90, longestTierDays);
  if (archiveDays < longestTierDays) {
    throw new Error(
      `archiveVersionRetention of ${archiveDays} days is shorter than the longest tier (${longestTierDays} days: daily ${kept.daily}, weekly ${kept.weekly} × 7, monthly ${kept.monthly} × 31): give at least ${longestTierDays} days, or keep fewer backups`,
    );
  }
  return { kept, archiveDays };
}

/** The versioned, KMS-encrypted, private, TLS-only bucket that holds every backup. */
export class BackupBucket extends Construct {
  readonly bucket: Bucket;
  readonly key: Key;
  /** Backups kept per tier (0: the tier is off). */
  readonly kept: Record<RetentionTier, number>;
  /** How long a run's staged uploads are kept before lifecycle expires them. */
  readonly stagingExpiration: Duration;

  constructor(scope: Construct, id: string, props: BackupBucketProps = {}) {
    super(scope, id);
    const { kept, archiveDays } = retentionOf(props);
    this.kept = kept;
    validateDuration('stagingExpiration', props.stagingExpiration, 2 * 86_400, 30 * 86_400);
    this.stagingExpiration = props.stagingExpiration ?? Duration.days(3);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    this.key = new Key(this, 'Key', { enableKeyRotation: true, description: 'so-backup backup bucket', removalPolicy });
    if (props.objectLock) validateRange('objectLock.days', props.objectLock.days, 1, 3650);
    const lock = props.objectLock;
    this.bucket = new Bucket(this, 'Bucket', {
      versioned: true,
      ...(lock
        ? {
            objectLockEnabled: true,
            objectLockDefaultRetention:
              lock.mode === 'COMPLIANCE'
                ? ObjectLockRetention.compliance(Duration.days(lock.days))
                : ObjectLockRetention.governance(Duration.days(lock.days)),
          }
        : {}),
      encryption: BucketEncryption.KMS,
      encryptionKey: this.key,
      bucketKeyEnabled: true,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy,
      lifecycleRules: [
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(7) },
        // Keep-last-N per tier: a version only becomes noncurrent when a newer backup replaces it,
        // so when backups stop the last N of every tier stay. A tier's manifests (one key per
        // tenant) follow the same count as its database backups.
        ...RETENTION_TIERS.filter((tier) => kept[tier] > 0).flatMap((tier) =>
          ['db', 'manifests'].map((kind) => ({
            id: `${kind}-${tier}-keep-last`,
            prefix: `${kind}/${tier}/`,
            noncurrentVersionExpiration: Duration.days(1),
            ...(kept[tier] > 1 ? { noncurrentVersionsToRetain: kept[tier] - 1 } : {}),
          })),
        ),
        // Staging: every run's uploads expire by age whatever happens (a promoted copy gets a
        // delete marker at once, so it goes a day later); they never count for retention.
        {
          id: 'incoming-expire',
          prefix: STAGING_PREFIX,
          expiration: this.stagingExpiration,
          noncurrentVersionExpiration: Duration.days(1),
        },
        { id: 'incoming-delete-markers', prefix: STAGING_PREFIX, expiredObjectDeleteMarker: true },
        {
          id: 'archive-old-versions',
          prefix: 'archive/',
          noncurrentVersionExpiration: Duration.days(archiveDays),
          expiredObjectDeleteMarker: true,
        },
      ],
    });
    acceptFinding(
      this.bucket,
      'AwsSolutions-S1',
      "Only so-backup's own roles can write this bucket and every object is validated at its exact version; object-level audit belongs in CloudTrail data events (docs/security.md), not in a second bucket of access logs.",
    );
    // Backups are destroyed only by lifecycle rules (which bucket policies do not restrict) or the break-glass role.
    this.bucket.addToResourcePolicy(
      new PolicyStatement({
        sid: 'DenyDestroyingBackups',
        effect: Effect.DENY,
        principals: [new AnyPrincipal()],
        actions: ['s3:DeleteObjectVersion', 's3:PutBucketVersioning', 's3:DeleteBucket'],
        resources: [this.bucket.bucketArn, this.bucket.arnForObjects('*')],
        ...(props.breakGlassRoleArn ? { conditions: { ArnNotEquals: { 'aws:PrincipalArn': props.breakGlassRoleArn } } } : {}),
      }),
    );
    // With a break-glass role named, the retention rules and this policy are locked too: only
    // that role can shorten retention or lift these denies (deploy changes to them with it).
    // Without one they stay open to deployments, or no stack update could ever change them.
    if (props.breakGlassRoleArn) {
      this.bucket.addToResourcePolicy(
        new PolicyStatement({
          sid: 'DenyWeakeningRetention',
          effect: Effect.DENY,
          principals: [new AnyPrincipal()],
          actions: ['s3:PutLifecycleConfiguration', 's3:PutBucketPolicy', 's3:DeleteBucketPolicy', 's3:PutBucketObjectLockConfiguration'],
          resources: [this.bucket.bucketArn],
          conditions: { ArnNotEquals: { 'aws:PrincipalArn': props.breakGlassRoleArn } },
        }),
      );
    }
  }

  /**
   * Read artifacts and their checksums at exact versions (GetObject, HeadObject): s3:GetObject,
   * s3:GetObjectVersion, kms:Decrypt, and s3:ListBucket so that a missing key answers 404 rather
   * than 403 (S3 hides existence from callers without it). No other List or GetBucket action.
   */
  grantReadBackups(grantee: IGrantable & IConstruct) {
    acceptFinding(
      grantee,
      `AwsSolutions-IAM5[Resource::${arnInFinding(this.bucket)}/*]`,
      "Read-only access to the backup bucket, for the validator that must read any tenant's objects at exact versions; it can neither write nor delete.",
    );
    Grant.addToPrincipal({ grantee, actions: ['s3:GetObject', 's3:GetObjectVersion'], resourceArns: [this.bucket.arnForObjects('*')] });
    Grant.addToPrincipal({ grantee, actions: ['s3:ListBucket'], resourceArns: [this.bucket.bucketArn] });
    this.key.grantDecrypt(grantee);
  }

  /**
   * Promote validated runs: read any backup (the staged and daily source versions), write under
   * `db/<tier>/` and `manifests/<tier>/` of every tier, and put delete markers (s3:DeleteObject;
   * never a version delete, which the bucket policy denies) on promoted staging keys. Nothing
   * else: not the archive, not a version.
   */
  grantPromotions(grantee: IGrantable & IConstruct) {
    this.grantReadBackups(grantee);
    for (const tier of RETENTION_TIERS) {
      for (const kind of ['db', 'manifests']) {
        // Copies, single or multipart (UploadPartCopy is s3:PutObject; an abort on failure): no retention, legal hold or tagging.
        Grant.addToPrincipal({
          grantee,
          actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
          resourceArns: [this.bucket.arnForObjects(`${kind}/${tier}/*`)],
        });
        acceptFinding(
          grantee,
          `AwsSolutions-IAM5[Resource::${arnInFinding(this.bucket)}/${kind}/${tier}/*]`,
          "Promotes validated backups of every tenant into that tier's prefix only (server-side copies); it cannot write the staging prefix or the archive, nor delete a version.",
        );
      }
    }
    Grant.addToPrincipal({ grantee, actions: ['s3:DeleteObject'], resourceArns: [this.bucket.arnForObjects(`${STAGING_PREFIX}*`)] });
    acceptFinding(
      grantee,
      `AwsSolutions-IAM5[Resource::${arnInFinding(this.bucket)}/${STAGING_PREFIX}*]`,
      'Delete markers on promoted staging copies of every tenant, so they expire a day later; versions themselves cannot be deleted (bucket policy).',
    );
    // Copies under SSE-KMS: a data key of the bucket's own key (Decrypt comes with reading).
    this.key.grant(grantee, 'kms:GenerateDataKey');
  }
}
