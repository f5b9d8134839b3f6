import { CreateTableCommand, type CreateTableCommandInput, DynamoDBClient, ResourceInUseException } from '@aws-sdk/client-dynamodb';
import {
  CreateBucketCommand,
  GetBucketVersioningCommand,
  type LifecycleRule,
  PutBucketLifecycleConfigurationCommand,
  PutBucketPolicyCommand,
  PutPublicAccessBlockCommand,
  type PublicAccessBlockConfiguration,
  PutBucketVersioningCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import https from 'node:https';
import { dynaliteClientConfig } from '../dynamodb-socket';
import type { IamModel } from '../iam/iam-model';
import type { LocalDeployment } from './local-deployment';
import { rolesAssumedByPrincipals, syncRgwRoles } from './rgw-iam';

type CfnRule = {
  Id?: string;
  Status?: string;
  Prefix?: string;
  ExpirationInDays?: number;
  ExpiredObjectDeleteMarker?: boolean;
  AbortIncompleteMultipartUpload?: { DaysAfterInitiation: number };
  NoncurrentVersionExpiration?: { NoncurrentDays: number; NewerNoncurrentVersions?: number };
};

/** The bucket's lifecycle rules as the S3 API takes them, from the template's CloudFormation form. */
export function lifecycleRulesFromTemplate(properties: Record<string, unknown>): LifecycleRule[] {
  const rules = (properties.LifecycleConfiguration as { Rules?: CfnRule[] } | undefined)?.Rules ?? [];
  return rules.map((rule) => ({
    ID: rule.Id,
    Status: rule.Status === 'Disabled' ? 'Disabled' : 'Enabled',
    Filter: { Prefix: rule.Prefix ?? '' },
    ...(rule.ExpirationInDays !== undefined
      ? { Expiration: { Days: rule.ExpirationInDays } }
      : rule.ExpiredObjectDeleteMarker
        ? { Expiration: { ExpiredObjectDeleteMarker: true } }
        : {}),
    ...(rule.AbortIncompleteMultipartUpload ? { AbortIncompleteMultipartUpload: rule.AbortIncompleteMultipartUpload } : {}),
    ...(rule.NoncurrentVersionExpiration ? { NoncurrentVersionExpiration: rule.NoncurrentVersionExpiration } : {}),
  }));
}

/** Where the local S3 is: Ceph RGW over TLS, the CA to trust, and its bucket owner's key. */
export interface LocalS3 {
  endpoint: string;
  ca: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
}

/**
 * Creates the stack's tables and bucket on the local services, exactly as the template defines
 * them (keys, indexes, versioning, lifecycle, bucket policy), and in RGW's IAM the roles that
 * connectors' credentials are minted from. Existing ones are kept (local state persists) and
 * brought up to the template: its bucket policy and roles replace what was there.
 */
export async function provisionLocalResources(
  deployment: LocalDeployment,
  iam: IamModel,
  endpoints: { dynamodbSocket: string },
  s3: LocalS3,
): Promise<void> {
  await provisionLocalTables(deployment, endpoints.dynamodbSocket);
  await provisionLocalBucket(deployment, iam, s3);
}

/** Creates the template's tables in dynalite, over its Unix socket (local/dynamodb-socket.ts). */
export async function provisionLocalTables(deployment: LocalDeployment, dynamodbSocket: string): Promise<void> {
  const dynamo = new DynamoDBClient(dynaliteClientConfig(dynamodbSocket));
  for (const table of deployment.tables) {
    const p = table.properties as Omit<CreateTableCommandInput, 'TableName'> & {
      GlobalSecondaryIndexes?: CreateTableCommandInput['GlobalSecondaryIndexes'];
    };
    try {
      await dynamo.send(
        new CreateTableCommand({
          TableName: table.name,
          KeySchema: p.KeySchema,
          AttributeDefinitions: p.AttributeDefinitions,
          BillingMode: 'PAY_PER_REQUEST',
          GlobalSecondaryIndexes: p.GlobalSecondaryIndexes?.map((index) => ({
            IndexName: index.IndexName,
            KeySchema: index.KeySchema,
            Projection: index.Projection,
          })),
        }),
      );
    } catch (error) {
      if (!(error instanceof ResourceInUseException) && (error as Error).name !== 'ResourceInUseException') throw error;
    }
  }
  dynamo.destroy();
}

export async function provisionLocalBucket(deployment: LocalDeployment, iam: IamModel, local: LocalS3): Promise<void> {
  const s3 = new S3Client({
    endpoint: local.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: local.credentials,
    requestHandler: { httpsAgent: new https.Agent({ ca: local.ca }) },
  });
  const Bucket = deployment.bucket.name;
  try {
    try {
      await s3.send(new CreateBucketCommand({ Bucket }));
    } catch (error) {
      if (!['BucketAlreadyOwnedByYou', 'BucketAlreadyExists'].includes((error as Error).name)) throw error;
    }
    // The bucket policy denies s3:PutBucketVersioning to everyone once it is in place: versioning is set first, once.
    if ((await s3.send(new GetBucketVersioningCommand({ Bucket }))).Status !== 'Enabled') {
      await s3.send(new PutBucketVersioningCommand({ Bucket, VersioningConfiguration: { Status: 'Enabled' } }));
    }
    await s3.send(
      new PutBucketLifecycleConfigurationCommand({
        Bucket,
        LifecycleConfiguration: { Rules: lifecycleRulesFromTemplate(deployment.bucket.properties) },
      }),
    );
    // The template's public access block (RGW enforces BlockPublicAcls/IgnorePublicAcls/…); its
    // ownership controls (BucketOwnerEnforced: no ACLs at all) are the AWS endpoint's to enforce.
    const block = (deployment.bucket.properties as { PublicAccessBlockConfiguration?: PublicAccessBlockConfiguration })
      .PublicAccessBlockConfiguration;
    if (block) await s3.send(new PutPublicAccessBlockCommand({ Bucket, PublicAccessBlockConfiguration: block }));
    const policy = iam.resourcePolicies.get(`arn:aws:s3:::${Bucket}`);
    if (policy) await s3.send(new PutBucketPolicyCommand({ Bucket, Policy: JSON.stringify(policy) }));
  } finally {
    s3.destroy();
  }
  await syncRgwRoles(local.endpoint, local.ca, local.credentials, rolesAssumedByPrincipals(iam.roles.values()));
}
