import { Duration } from 'aws-cdk-lib';
import { ArnPrincipal, type IRole, PolicyStatement, Role } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import { UPLOAD_LIST_ACTIONS, UPLOAD_ROLE_GRANTS } from '../../../core/upload-credentials';
import type { BackupBucket } from './backup-bucket';
import { acceptFinding, arnInFinding } from './reviewed-finding';
import { validateDuration } from './validate-props';

/** What minting a connector's credentials takes: AssumeRole with a session policy and a `tenant` session tag. */
export const MINT_ACTIONS = ['sts:AssumeRole', 'sts:TagSession'];

/** A function that can mint: it has its own role (to be trusted by name) and an environment. */
export type Minter = IFunction & { readonly role?: IRole; addEnvironment(key: string, value: string): unknown };

export interface UploadRoleProps {
  readonly bucket: BackupBucket;
  /**
   * The function that mints a run's credentials (Request backup): the role trusts it from the
   * start. Others are added with `grantMint`.
   */
  readonly mintedBy: Minter;
  /**
   * How long the S3 credentials handed to a connector for one run last (STS role chaining caps this at 1 h).
   * @default Duration.hours(1)
   */
  readonly credentialLifetime?: Duration;
}

/**
 * The role connectors' S3 credentials are minted from, one session per run (or restore), each
 * narrowed by a session policy to one tenant (functions/src/shared/upload-credentials.ts). The
 * role is the ceiling: staging uploads, the tenant archive, and reads; never a retention tier
 * written, never a version deleted. `grantMint(fn)` is the one way a function gets to mint: the
 * trust, the sts permissions, and the UPLOAD_* environment the vendor reads.
 */
export class UploadRole extends Role {
  /** How long minted credentials last. */
  readonly credentialLifetime: Duration;
  private readonly bucket: BackupBucket;
  private readonly trusted = new Set<IRole>();

  constructor(scope: Construct, id: string, props: UploadRoleProps) {
    validateDuration('uploadCredentialLifetime', props.credentialLifetime, 900, 3600);
    const minterRole = props.mintedBy.role;
    if (!minterRole) throw new Error('UploadRole: mintedBy needs a function with its own role');
    super(scope, id, {
      assumedBy: new ArnPrincipal(minterRole.roleArn).withSessionTags(),
      description: 'so-backup connectors upload with credentials minted from this role, narrowed to one tenant per run',
      maxSessionDuration: Duration.hours(1),
    });
    this.trusted.add(minterRole);
    this.credentialLifetime = props.credentialLifetime ?? Duration.hours(1);
    this.bucket = props.bucket;
    const bucket = props.bucket.bucket;
    for (const grant of UPLOAD_ROLE_GRANTS) {
      this.addToPolicy(
        new PolicyStatement({ actions: [...grant.actions], resources: grant.keys.map((keys) => bucket.arnForObjects(keys)) }),
      );
      for (const keys of grant.keys) {
        acceptFinding(
          this,
          `AwsSolutions-IAM5[Resource::${arnInFinding(bucket)}/${keys}]`,
          "The role is the ceiling: every session is narrowed by a session policy to one run's staging prefix and one tenant's archive (functions/src/shared/upload-credentials.ts); the role can write neither a retention tier nor delete a version.",
        );
      }
    }
    this.addToPolicy(new PolicyStatement({ actions: UPLOAD_LIST_ACTIONS, resources: [bucket.bucketArn] }));
    // SSE-KMS uploads (single and multipart) need a data key and, for multipart, Decrypt; nothing else of the key.
    props.bucket.key.grant(this, 'kms:GenerateDataKey', 'kms:Decrypt');
    this.grantMint(props.mintedBy);
  }

  /**
   * Lets a function mint connectors' credentials from this role: the role's trust policy names
   * the function's own role (nobody else in the account can assume it), the function's policy
   * allows sts:AssumeRole and sts:TagSession on this role alone, and its environment says which
   * role, which bucket and for how long (what uploadCredentialVendorFromEnv reads).
   */
  grantMint(fn: Minter): void {
    const role = fn.role;
    if (!role) throw new Error('UploadRole.grantMint needs a function with its own role');
    if (!this.trusted.has(role)) {
      this.assumeRolePolicy!.addStatements(new PolicyStatement({ actions: MINT_ACTIONS, principals: [new ArnPrincipal(role.roleArn)] }));
      this.trusted.add(role);
    }
    fn.grantPrincipal.addToPrincipalPolicy(new PolicyStatement({ actions: MINT_ACTIONS, resources: [this.roleArn] }));
    for (const [name, value] of Object.entries(this.mintEnvironment())) fn.addEnvironment(name, value);
  }

  /** The environment a minting function reads (functions/src/shared/upload-credentials.ts, uploadCredentialVendorFromEnv). */
  private mintEnvironment(): Record<string, string> {
    return {
      BACKUP_BUCKET: this.bucket.bucket.bucketName,
      UPLOAD_ROLE_ARN: this.roleArn,
      UPLOAD_CREDENTIAL_SECONDS: String(this.credentialLifetime.toSeconds()),
    };
  }
}
