import { CreateTableCommand, type CreateTableCommandInput, DynamoDBClient, ResourceInUseException } from '@aws-sdk/client-dynamodb';
import {
  CreateBucketCommand, type LifecycleRule, PutBucketLifecycleConfigurationCommand, PutBucketVersioningCommand, S3Client,
} from '@aws-sdk/client-s3';
import type { LocalDeployment } from './local-deployment';

type CfnRule = {
  Id?: string; Status?: string; Prefix?: string; ExpirationInDays?: number; ExpiredObjectDeleteMarker?: boolean;
  AbortIncompleteMultipartUpload?: { DaysAfterInitiation: number };
  NoncurrentVersionExpiration?: { NoncurrentDays: number; NewerNoncurrentVersions?: number };
};

/** The bucket's lifecycle rules as the S3 API takes them, from the template's CloudFormation form. */
export function lifecycleRulesFromTemplate(properties: Record<string, unknown>): LifecycleRule[] {
  const rules = ((properties.LifecycleConfiguration as { Rules?: CfnRule[] } | undefined)?.Rules) ?? [];
  return rules.map((rule) => ({
    ID: rule.Id,
    Status: rule.Status === 'Disabled' ? 'Disabled' : 'Enabled',
    Filter: { Prefix: rule.Prefix ?? '' },
    ...(rule.ExpirationInDays !== undefined ? { Expiration: { Days: rule.ExpirationInDays } } : rule.ExpiredObjectDeleteMarker ? { Expiration: { ExpiredObjectDeleteMarker: true } } : {}),
    ...(rule.AbortIncompleteMultipartUpload ? { AbortIncompleteMultipartUpload: rule.AbortIncompleteMultipartUpload } : {}),
    ...(rule.NoncurrentVersionExpiration ? { NoncurrentVersionExpiration: rule.NoncurrentVersionExpiration } : {}),
  }));
}

/**
 * Creates the stack's tables and bucket on the local services, exactly as the template defines
 * them (keys, indexes, versioning, lifecycle). Existing ones are kept: local state persists.
 */
export async function provisionLocalResources(deployment: LocalDeployment, endpoints: { dynamodb: string; s3: string }, s3Credentials: { accessKeyId: string; secretAccessKey: string }): Promise<void> {
  await provisionLocalTables(deployment, endpoints.dynamodb);
  await provisionLocalBucket(deployment, endpoints.s3, s3Credentials);
}

export async function provisionLocalTables(deployment: LocalDeployment, endpoint: string): Promise<void> {
  const dynamo = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  for (const table of deployment.tables) {
    const p = table.properties as Omit<CreateTableCommandInput, 'TableName'> & { GlobalSecondaryIndexes?: CreateTableCommandInput['GlobalSecondaryIndexes'] };
    try {
      await dynamo.send(new CreateTableCommand({
        TableName: table.name, KeySchema: p.KeySchema, AttributeDefinitions: p.AttributeDefinitions, BillingMode: 'PAY_PER_REQUEST',
        GlobalSecondaryIndexes: p.GlobalSecondaryIndexes?.map((index) => ({ IndexName: index.IndexName, KeySchema: index.KeySchema, Projection: index.Projection })),
      }));
    } catch (error) {
      if (!(error instanceof ResourceInUseException) && (error as Error).name !== 'ResourceInUseException') throw error;
    }
  }
  dynamo.destroy();
}

export async function provisionLocalBucket(deployment: LocalDeployment, endpoint: string, s3Credentials: { accessKeyId: string; secretAccessKey: string }): Promise<void> {
  const s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: s3Credentials });
  try {
    await s3.send(new CreateBucketCommand({ Bucket: deployment.bucket.name }));
  } catch (error) {
    if (!['BucketAlreadyOwnedByYou', 'BucketAlreadyExists'].includes((error as Error).name)) throw error;
  }
  await s3.send(new PutBucketVersioningCommand({ Bucket: deployment.bucket.name, VersioningConfiguration: { Status: 'Enabled' } }));
  await s3.send(new PutBucketLifecycleConfigurationCommand({ Bucket: deployment.bucket.name, LifecycleConfiguration: { Rules: lifecycleRulesFromTemplate(deployment.bucket.properties) } }));
  s3.destroy();
}
