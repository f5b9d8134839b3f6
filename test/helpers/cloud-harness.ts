import { ApiGatewayManagementApiClient, DeleteConnectionCommand, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConnectionStore, RunStore, TenantStore } from '../../core';
import { readLocalDeployment } from '../../local/cloud/local-deployment';
import { localOutputs, writeLocalOutputs } from '../../local/cloud/local-outputs';
import { ensureLocalTls } from '../../local/cloud/local-tls';
import { provisionLocalTables } from '../../local/cloud/provision';
import { type LocalCloud, startLocalCloud } from '../../local/cloud/start-local-cloud';
import { type CfnTemplate, synthesizeStack } from '../../local/cloud/synthesize-template';
import { freePort } from './test-ports';

// dynalite has no type declarations.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const dynalite = require('dynalite') as (options: Record<string, unknown>) => Server;

/** How long starting a harness may take: the first one after a change of the stack's sources bundles the functions (`cdk synth`). */
export const HARNESS_START_MS = 300_000;

/** The operator's key in harness clouds (an IAM user with AdministratorAccess). */
export const HARNESS_OPERATOR = { accessKeyId: 'AKIAHARNESSOPERATOR1', secretAccessKey: 'harness-operator-secret-not-for-production' };

export interface CloudHarnessOptions {
  idleTimeoutMs?: number;
  maxConnectionMs?: number;
  /** Changes the synthesized template before the cloud reads it (e.g. removes a grant). */
  editTemplate?(template: CfnTemplate): void;
  /** An S3 (Ceph RGW over TLS with the harness's CA) behind the AWS endpoint, and its bucket owner's key. */
  s3?: { endpoint: string; accessKeyId: string; secretAccessKey: string };
  /** Local mode's TLS folder to serve with (local/cloud/local-tls.ts), when an S3 started before the harness already uses its CA. */
  tlsDir?: string;
}

/**
 * The cloud on loopback as local mode runs it, minus S3: dynalite with the stack's tables, and
 * the local cloud — the stack's functions from their bundles with their own roles, the gateway,
 * Step Functions, the AWS endpoint that authorizes every call — in this process.
 */
export async function startCloudHarness(options: CloudHarnessOptions = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'so-backup-harness-'));
  // As in local mode: dynalite on a Unix socket in a 0700 folder, reached only through the AWS endpoint.
  const dynamodbSocket = path.join(dir, 'dynamodb.sock');
  const dynamo = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => dynamo.listen(dynamodbSocket, () => resolve()));
  const { template, assemblyDir } = synthesizeStack();
  const edited = JSON.parse(JSON.stringify(template)) as CfnTemplate;
  options.editTemplate?.(edited);
  const deployment = readLocalDeployment(edited);
  await provisionLocalTables(deployment, dynamodbSocket);
  const [gatewayPort, gatewayTlsPort, awsPort] = [await freePort(), await freePort(), await freePort()];
  const tls = ensureLocalTls(options.tlsDir ?? path.join(dir, 'tls'));
  const cloud: LocalCloud = await startLocalCloud(
    {
      templateFile: '-',
      assemblyDir,
      alertsFile: path.join(dir, 'alerts.jsonl'),
      logDir: path.join(dir, 'logs'),
      gatewayPort,
      gatewayTlsPort,
      awsPort,
      dynamodbSocket,
      tlsDir: tls.dir,
      operator: HARNESS_OPERATOR,
      ...(options.s3 ? { s3: options.s3 } : {}),
      idleTimeoutMs: options.idleTimeoutMs,
      maxConnectionMs: options.maxConnectionMs,
    },
    edited,
  );
  const client = {
    region: 'us-east-1',
    credentials: { ...HARNESS_OPERATOR },
    requestHandler: { httpsAgent: new https.Agent({ ca: tls.ca }) },
    maxAttempts: 1,
  };
  const db = DynamoDBDocumentClient.from(new DynamoDBClient({ ...client, endpoint: `https://127.0.0.1:${awsPort}` }), {
    marshallOptions: { removeUndefinedValues: true },
  });
  const table = (suffix: string) => deployment.tables.find((t) => t.name.includes(suffix))!.name;
  const management = new ApiGatewayManagementApiClient({ ...client, endpoint: `http://127.0.0.1:${gatewayPort}/prod` });
  return {
    cloud,
    deployment,
    dir,
    tls,
    endpoint: `ws://127.0.0.1:${gatewayPort}`,
    awsEndpoint: `https://127.0.0.1:${awsPort}`,
    /** SDK client settings for the operator against this cloud. */
    operatorClient: client,
    /** Writes the outputs file local mode writes for the CLI (core/stack-outputs.ts) and returns its folder: `openFleet({ local: folder })`. */
    writeOperatorOutputs: () => {
      writeLocalOutputs(
        dir,
        localOutputs(edited, deployment, {
          connectorEndpoint: `ws://127.0.0.1:${gatewayPort}`,
          awsEndpoint: `https://127.0.0.1:${awsPort}`,
          connectionsEndpoint: `http://127.0.0.1:${gatewayPort}/prod`,
          caFile: tls.caFile,
          operator: { ...HARNESS_OPERATOR },
        }),
      );
      return dir;
    },
    tenants: new TenantStore(db, table('Tenants')),
    connections: new ConnectionStore(db, table('Connections')),
    runs: new RunStore(db, table('Runs')),
    closeConnection: async (connectionId: string) => {
      await management.send(new DeleteConnectionCommand({ ConnectionId: connectionId }));
    },
    /** Posts to a connection as the cloud's functions do; false when it is gone. */
    postToConnection: async (connectionId: string, data: string) =>
      management.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from(data) })).then(
        () => true,
        () => false,
      ),
    stop: async () => {
      await cloud.stop();
      db.destroy();
      management.destroy();
      await new Promise<void>((resolve) => dynamo.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
export type CloudHarness = Awaited<ReturnType<typeof startCloudHarness>>;
