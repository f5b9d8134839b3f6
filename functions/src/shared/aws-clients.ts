import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { STSClient } from '@aws-sdk/client-sts';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';

/**
 * SDK clients, created once per process. Endpoints come from the SDK's own environment
 * variables (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_SFN, …), which is
 * how local mode points them at the local services; S3_FORCE_PATH_STYLE=1 is for local S3.
 */
let cached: { s3: S3Client; dynamo: DynamoDBDocumentClient; sfn: SFNClient; sts: STSClient } | undefined;

export function awsClients() {
  cached ??= {
    s3: new S3Client({ forcePathStyle: process.env.S3_FORCE_PATH_STYLE === '1' }),
    dynamo: DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } }),
    sfn: new SFNClient({}),
    sts: new STSClient({}),
  };
  return cached;
}

const managementClients = new Map<string, ApiGatewayManagementApiClient>();

/** The @connections client for a WebSocket stage (https://{domain}/{stage}). */
export function connectionsClient(endpoint: string): ApiGatewayManagementApiClient {
  let client = managementClients.get(endpoint);
  if (!client) {
    client = new ApiGatewayManagementApiClient({ endpoint });
    managementClients.set(endpoint, client);
  }
  return client;
}

/** Parses the environment once with a schema; names every missing or wrong variable. */
export function readEnvironment<S extends z.ZodObject>(schema: S): z.infer<S> {
  const parsed = schema.safeParse(process.env);
  if (!parsed.success) {
    throw new Error(`function environment is invalid: ${z.prettifyError(parsed.error).replace(/\n/g, '; ')}`);
  }
  return parsed.data;
}

export const tableEnvironmentSchema = z.object({
  TENANTS_TABLE: z.string().min(1),
  CONNECTIONS_TABLE: z.string().min(1),
  RUNS_TABLE: z.string().min(1),
  NONCES_TABLE: z.string().min(1),
});
