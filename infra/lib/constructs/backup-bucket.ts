import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { AnyPrincipal, Effect, type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectLockRetention, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { Construct, type IConstruct } from 'constructs';
import { RETENTION_TIERS, type RetentionTier } from '../../../protocol';
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
  /** @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

/** How many backups each tier keeps, and how long archive versions must therefore stay. */
export function retentionOf(props: Pick<BackupBucketProps, 'dailyBackupsKept' | 'weeklyBackupsKept' | 'monthlyBackupsKept' | 'archiveVersionRetention'>) {
  validateRange('dailyBackupsKept', props.dailyBackupsKept, 1, 101);
  validateRange('weeklyBackupsKept', props.weeklyBackupsKept, 0, 101);
  validateRange('monthlyBackupsKept', props.monthlyBackupsKept, 0, 101);
  validateDuration('archiveVersionRetention', props.archiveVersionRetention, 86_400, 36_500 * 86_400);
  const kept = { daily: props.dailyBackupsKept ?? 14, weekly: props.weeklyBackupsKept ?? 5, monthly: props.monthlyBackupsKept ?? 12 };
  const longestTierDays = Math.max(kept.daily, kept.weekly * 7, kept.monthly * 31);
  const archiveDays = props.archiveVersionRetention?.toDays() ?? Math.max(90, longestTierDays);
  if (archiveDays < longestTierDays) {
    throw new Error(`archiveVersionRetention of ${archiveDays} days is shorter than the longest tier (${longestTierDays} days: daily ${kept.daily}, weekly ${kept.weekly} × 7, monthly ${kept.monthly} × 31): give at least ${longestTierDays} days, or keep fewer backups`);
  }
  return { kept, archiveDays };
}

/** The versioned, KMS-encrypted, private, TLS-only bucket that holds every backup. */
export class BackupBucket extends Construct {
  readonly bucket: Bucket;
  readonly key: Key;
  /** Backups kept per tier (0: the tier is off). */
  readonly kept: Record<RetentionTier, number>;

  constructor(scope: Construct, id: string, props: BackupBucketProps = {}) {
    super(scope, id);
    const { kept, archiveDays } = retentionOf(props);
    this.kept = kept;
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    this.key = new Key(this, 'Key', { enableKeyRotation: true, description: 'so-backup backup bucket', removalPolicy });
    if (props.objectLock) validateRange('objectLock.days', props.objectLock.days, 1, 3650);
    const lock = props.objectLock;
    this.bucket = new Bucket(this, 'Bucket', {
      versioned: true,
      ...(lock ? {
        objectLockEnabled: true,
        objectLockDefaultRetention: lock.mode === 'COMPLIANCE' ? ObjectLockRetention.compliance(Duration.days(lock.days)) : ObjectLockRetention.governance(Duration.days(lock.days)),
      } : {}),
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
        ...RETENTION_TIERS.filter((tier) => kept[tier] > 0).flatMap((tier) => ['db', 'manifests'].map((kind) => ({
          id: `${kind}-${tier}-keep-last`,
          prefix: `${kind}/${tier}/`,
          noncurrentVersionExpiration: Duration.days(1),
          ...(kept[tier] > 1 ? { noncurrentVersionsToRetain: kept[tier] - 1 } : {}),
        }))),
        {
          id: 'archive-old-versions',
          prefix: 'archive/',
          noncurrentVersionExpiration: Duration.days(archiveDays),
          expiredObjectDeleteMarker: true,
        },
      ],
    });
    acceptFinding(this.bucket, 'AwsSolutions-S1', 'Only so-backup\'s own roles can write this bucket and every object is validated at its exact version; object-level audit belongs in CloudTrail data events (docs/security.md), not in a second bucket of access logs.');
    // Backups are destroyed only by lifecycle rules (which bucket policies do not restrict) or the break-glass role.
    this.bucket.addToResourcePolicy(new PolicyStatement({
      sid: 'DenyDestroyingBackups',
      effect: Effect.DENY,
      principals: [new AnyPrincipal()],
      actions: ['s3:DeleteObjectVersion', 's3:PutBucketVersioning', 's3:DeleteBucket'],
      resources: [this.bucket.bucketArn, this.bucket.arnForObjects('*')],
      ...(props.breakGlassRoleArn ? { conditions: { ArnNotEquals: { 'aws:PrincipalArn': props.breakGlassRoleArn } } } : {}),
    }));
    // With a break-glass role named, the retention rules and this policy are locked too: only
    // that role can shorten retention or lift these denies (deploy changes to them with it).
    // Without one they stay open to deployments, or no stack update could ever change them.
    if (props.breakGlassRoleArn) {
      this.bucket.addToResourcePolicy(new PolicyStatement({
        sid: 'DenyWeakeningRetention',
        effect: Effect.DENY,
        principals: [new AnyPrincipal()],
        actions: ['s3:PutLifecycleConfiguration', 's3:PutBucketPolicy', 's3:DeleteBucketPolicy', 's3:PutBucketObjectLockConfiguration'],
        resources: [this.bucket.bucketArn],
        conditions: { ArnNotEquals: { 'aws:PrincipalArn': props.breakGlassRoleArn } },
      }));
    }
  }

  /** Read artifacts and their checksums: s3:GetObject, s3:GetObjectVersion, s3:ListBucket*, kms:Decrypt. */
  grantReadBackups(grantee: IGrantable & IConstruct) {
    for (const finding of ['AwsSolutions-IAM5[Action::s3:GetObject*]', 'AwsSolutions-IAM5[Action::s3:GetBucket*]', 'AwsSolutions-IAM5[Action::s3:List*]', `AwsSolutions-IAM5[Resource::${arnInFinding(this.bucket)}/*]`]) {
      acceptFinding(grantee, finding, 'Read-only access to the backup bucket, for the validator that must read any tenant\'s objects at exact versions; it can neither write nor delete.');
    }
    return this.bucket.grantRead(grantee);
  }

  /**
   * Make the weekly and monthly copies: read any backup (the source versions) and write under
   * `db/<tier>/` and `manifests/<tier>/` of the copy tiers only.
   */
  grantTierCopies(grantee: IGrantable & IConstruct) {
    this.grantReadBackups(grantee);
    const copyTiers = RETENTION_TIERS.filter((tier) => tier !== 'daily');
    for (const tier of copyTiers) {
      for (const kind of ['db', 'manifests']) {
        this.bucket.grantPut(grantee, `${kind}/${tier}/*`);
        acceptFinding(grantee, `AwsSolutions-IAM5[Resource::${arnInFinding(this.bucket)}/${kind}/${tier}/*]`, 'Writes the weekly and monthly copies of every tenant under that tier\'s prefix only; it cannot write daily backups or the archive, nor delete.');
      }
    }
    for (const finding of ['AwsSolutions-IAM5[Action::s3:Abort*]', 'AwsSolutions-IAM5[Action::kms:ReEncrypt*]', 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]']) {
      acceptFinding(grantee, finding, 'Multipart copies (abort on failure) under SSE-KMS with the backup bucket\'s own key only.');
    }
  }
}
