import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { AnyPrincipal, Effect, type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectLockRetention, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { Construct, type IConstruct } from 'constructs';
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
   * How long a replaced or deleted archive file's old version is kept.
   * @default Duration.days(90)
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

/** The versioned, KMS-encrypted, private, TLS-only bucket that holds every backup. */
export class BackupBucket extends Construct {
  readonly bucket: Bucket;
  readonly key: Key;

  constructor(scope: Construct, id: string, props: BackupBucketProps = {}) {
    super(scope, id);
    validateRange('dailyBackupsKept', props.dailyBackupsKept, 1, 101);
    validateDuration('archiveVersionRetention', props.archiveVersionRetention, 86_400, 36_500 * 86_400);
    const kept = props.dailyBackupsKept ?? 14;
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
        {
          id: 'db-daily-keep-last',
          prefix: 'db/daily/',
          noncurrentVersionExpiration: Duration.days(1),
          ...(kept > 1 ? { noncurrentVersionsToRetain: kept - 1 } : {}),
        },
        {
          id: 'archive-old-versions',
          prefix: 'archive/',
          noncurrentVersionExpiration: props.archiveVersionRetention ?? Duration.days(90),
          expiredObjectDeleteMarker: true,
        },
        // Manifests are small and say which versions make up a run: they do not expire by age,
        // or an outage would leave backups nobody can assemble.
        { id: 'manifests-daily', prefix: 'manifests/daily/', noncurrentVersionExpiration: Duration.days(1) },
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
}
