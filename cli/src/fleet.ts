import { ApiGatewayManagementApiClient, DeleteConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { existsSync, readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { userInfo } from 'node:os';
import path from 'node:path';
import {
  ConnectionStore,
  type Delivery,
  LOCAL_OUTPUTS_FILE,
  type LocalOutputs,
  localOutputsSchema,
  postToConnection,
  type RunControl,
  RunStore,
  type StackOutputs,
  stackOutputsSchema,
  TenantStore,
} from '../../core';
import { CliError, EXIT, explainAwsError } from './cli-error';

export { stackOutputsSchema, type StackOutputs };

/** Everything a command needs: the stack's names, SDK clients, the stores over the tables; what core's run operations need (RunControl). */
export interface Fleet extends RunControl {
  outputs: StackOutputs;
  mode: 'aws' | 'local';
  dynamo: DynamoDBDocumentClient;
  sfn: SFNClient;
  s3: S3Client;
  tenants: TenantStore;
  runs: RunStore;
  connections: ConnectionStore;
  /** Closes a connector's WebSocket (API Gateway DeleteConnection). */
  closeConnection(connectionId: string): Promise<void>;
  /** Sends a message to a connector over its WebSocket (API Gateway PostToConnection). */
  sendToConnection(connectionId: string, message: string): Promise<Delivery>;
  /** Who is calling, recorded as requestedBy and on shares: the IAM ARN, or local:<user>. */
  caller(): Promise<string>;
  /** When the credentials that sign presigned links expire (undefined: long-lived keys). */
  credentialsExpireAt(): Promise<Date | undefined>;
  close(): void;
}

export interface FleetOptions {
  /** Local mode's data folder (`--local [dir]`). */
  local?: string;
  stackName: string;
  region?: string;
  /** A `cdk deploy --outputs-file` JSON instead of asking CloudFormation. */
  outputsFile?: string;
}

export async function openFleet(options: FleetOptions): Promise<Fleet> {
  return options.local !== undefined ? openLocalFleet(options.local) : openAwsFleet(options);
}

/**
 * Local mode, through what it writes for operators (DIR/outputs.json, core/stack-outputs.ts): the
 * stack's outputs as it deployed them and its endpoints; never local mode's modules.
 */
async function openLocalFleet(dataDir: string): Promise<Fleet> {
  const outputsFile = path.join(path.resolve(dataDir), LOCAL_OUTPUTS_FILE);
  if (!existsSync(outputsFile)) {
    throw new CliError(
      `local mode is not set up in ${path.resolve(dataDir)} (no ${LOCAL_OUTPUTS_FILE}): run \`npm run local -- --keep\` first, or give its folder with --local DIR`,
      EXIT.environment,
    );
  }
  let local: LocalOutputs;
  try {
    local = localOutputsSchema.parse(JSON.parse(readFileSync(outputsFile, 'utf8')));
  } catch (error) {
    throw new CliError(
      `${outputsFile} is not what this version of local mode writes (${(error as Error).message.split('\n')[0]}): start local mode again (\`npm run local -- --keep\`)`,
      EXIT.environment,
    );
  }
  // The operator's IAM user key through the AWS endpoint, S3 too: every call (and every share link) is IAM-checked as on AWS.
  const tls = { requestHandler: { httpsAgent: new Agent({ ca: readFileSync(local.caFile) }) } };
  const operator = { region: local.region, credentials: local.operator, maxAttempts: 1, ...tls };
  const fleet = makeFleet(
    local.outputs,
    'local',
    {
      dynamo: new DynamoDBClient({ ...operator, endpoint: local.awsEndpoint }),
      sfn: new SFNClient({ ...operator, endpoint: local.awsEndpoint }),
      s3: new S3Client({ ...operator, endpoint: local.awsEndpoint, forcePathStyle: true }),
      management: new ApiGatewayManagementApiClient({ ...operator, endpoint: local.connectionsEndpoint }),
    },
    async () => `local:${userInfo().username}`,
    async () => undefined,
  );
  // Fail early and clearly when the services are not running.
  await fleet.tenants.get('-').catch((error: unknown) => {
    fleet.close();
    throw new CliError(
      `local mode in ${path.resolve(dataDir)} is not running (${(error as Error).message}): start it with \`npm run local -- --keep\``,
      EXIT.environment,
    );
  });
  return fleet;
}

async function openAwsFleet(options: FleetOptions): Promise<Fleet> {
  const outputs = options.outputsFile
    ? outputsFromFile(options.outputsFile, options.stackName)
    : await outputsFromStack(options.stackName, options.region);
  const region = options.region;
  const sts = new STSClient({ region });
  let identity: Promise<{ arn: string; expires?: Date }> | undefined;
  const whoAmI = () =>
    (identity ??= sts
      .send(new GetCallerIdentityCommand({}))
      .then((out) => ({ arn: out.Arn ?? 'unknown' }))
      .catch((error: unknown) => {
        throw explainAwsError(error, 'finding out who you are (sts:GetCallerIdentity)');
      }));
  const s3 = new S3Client({ region });
  const management = new ApiGatewayManagementApiClient({ region, endpoint: outputs.ConnectorEndpoint.replace(/^wss:/, 'https:') });
  const fleet = makeFleet(
    outputs,
    'aws',
    { dynamo: new DynamoDBClient({ region }), sfn: new SFNClient({ region }), s3, management },
    async () => (await whoAmI()).arn,
    async () => (await s3.config.credentials()).expiration,
  );
  const close = fleet.close;
  return {
    ...fleet,
    close: () => {
      close();
      sts.destroy();
    },
  };
}

function makeFleet(
  outputs: StackOutputs,
  mode: Fleet['mode'],
  clients: { dynamo: DynamoDBClient; sfn: SFNClient; s3: S3Client; management: ApiGatewayManagementApiClient },
  caller: () => Promise<string>,
  credentialsExpireAt: () => Promise<Date | undefined>,
): Fleet {
  const dynamo = DynamoDBDocumentClient.from(clients.dynamo, { marshallOptions: { removeUndefinedValues: true } });
  const connections = new ConnectionStore(dynamo, outputs.ConnectionsTableName);
  return {
    outputs,
    mode,
    dynamo,
    sfn: clients.sfn,
    s3: clients.s3,
    backupRunStateMachineArn: outputs.BackupRunStateMachineArn,
    scheduleTimeZone: outputs.ScheduleTimeZone,
    runTimeoutSeconds: outputs.RunTimeoutSeconds,
    tenants: new TenantStore(dynamo, outputs.TenantsTableName),
    runs: new RunStore(dynamo, outputs.RunsTableName),
    connections,
    closeConnection: async (connectionId) => {
      await clients.management.send(new DeleteConnectionCommand({ ConnectionId: connectionId }));
    },
    sendToConnection: (connectionId, message) => postToConnection({ management: clients.management, connections }, connectionId, message),
    caller,
    credentialsExpireAt,
    close: () => {
      for (const client of [dynamo, clients.sfn, clients.s3, clients.management]) client.destroy();
    },
  };
}

async function outputsFromStack(stackName: string, region?: string): Promise<StackOutputs> {
  const cloudFormation = new CloudFormationClient({ region });
  try {
    const out = await cloudFormation.send(new DescribeStacksCommand({ StackName: stackName }));
    const outputs = Object.fromEntries((out.Stacks?.[0]?.Outputs ?? []).map((o) => [o.OutputKey, o.OutputValue]));
    return parseOutputs(outputs, `stack ${stackName}`);
  } catch (error) {
    if (/does not exist/.test((error as Error).message ?? '')) {
      throw new CliError(
        `stack "${stackName}" not found${region ? ` in ${region}` : ''}: give --stack NAME and --region, or --outputs FILE from \`cdk deploy --outputs-file\`, or --local for local mode`,
        EXIT.environment,
      );
    }
    throw explainAwsError(error, `reading the outputs of stack ${stackName} (cloudformation:DescribeStacks)`);
  } finally {
    cloudFormation.destroy();
  }
}

function outputsFromFile(file: string, stackName: string): StackOutputs {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new CliError(`cannot read the outputs file ${file}: ${(error as Error).message}`, EXIT.usage);
  }
  // `cdk deploy --outputs-file` nests the outputs under the stack name.
  return parseOutputs((json[stackName] ?? json) as Record<string, unknown>, file);
}

function parseOutputs(outputs: Record<string, unknown>, from: string): StackOutputs {
  const parsed = stackOutputsSchema.safeParse(outputs);
  if (!parsed.success) {
    throw new CliError(
      `${from} lacks outputs so-backup needs (${parsed.error.issues.map((i) => i.path.join('.')).join(', ')}): deploy the current stack version`,
      EXIT.environment,
    );
  }
  return parsed.data;
}
