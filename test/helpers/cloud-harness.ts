import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ApiGatewayManagementApiClient, DeleteConnectionCommand, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Server } from 'node:http';
import { ConnectionStore, RunStore, TenantStore } from '../../functions/src/shared';
import { readLocalDeployment } from '../../local/cloud/local-deployment';
import { LocalGateway } from '../../local/cloud/local-gateway';
import { LocalLambda } from '../../local/cloud/local-lambda';
import { provisionLocalTables } from '../../local/cloud/provision';
import { synthesizeTemplate } from '../../local/cloud/synthesize-template';
import { freePort } from './test-ports';

// dynalite has no type declarations.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const dynalite = require('dynalite') as (options: Record<string, unknown>) => Server;

/**
 * The cloud's connection side on loopback: dynalite with the stack's tables, and the local
 * gateway running the stack's real authorizer, $connect, $disconnect and $default handlers.
 */
export async function startCloudHarness(limits: { idleTimeoutMs?: number; maxConnectionMs?: number } = {}) {
  const dynamoPort = await freePort();
  const gatewayPort = await freePort();
  const dynamo = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => dynamo.listen(dynamoPort, '127.0.0.1', () => resolve()));
  const endpoint = `http://127.0.0.1:${dynamoPort}`;
  const deployment = readLocalDeployment(synthesizeTemplate());
  await provisionLocalTables(deployment, endpoint);
  const lambda = new LocalLambda(deployment, {
    AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local', AWS_ENDPOINT_URL_DYNAMODB: endpoint,
    AWS_ENDPOINT_URL_SFN: 'http://127.0.0.1:9', AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9', CONNECTIONS_ENDPOINT: `http://127.0.0.1:${gatewayPort}/prod`,
    UPLOAD_CREDENTIALS_MODE: 'static',
  });
  const routes = deployment.webSocket.routes;
  const gateway = new LocalGateway(lambda, {
    port: gatewayPort, ...limits,
    routes: { authorizer: deployment.webSocket.authorizer, connect: routes.$connect!, disconnect: routes.$disconnect!, default: routes.$default! },
  });
  await gateway.start();
  const db = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }));
  const table = (suffix: string) => deployment.tables.find((t) => t.name.includes(suffix))!.name;
  const management = new ApiGatewayManagementApiClient({ endpoint: `http://127.0.0.1:${gatewayPort}/prod`, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 's' } });
  return {
    endpoint: `ws://127.0.0.1:${gatewayPort}`,
    tenants: new TenantStore(db, table('Tenants')),
    connections: new ConnectionStore(db, table('Connections')),
    runs: new RunStore(db, table('Runs')),
    closeConnection: async (connectionId: string) => {
      await management.send(new DeleteConnectionCommand({ ConnectionId: connectionId }));
    },
    /** Posts to a connection as the cloud's functions do; false when it is gone. */
    postToConnection: async (connectionId: string, data: string) => management.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from(data) })).then(() => true, () => false),
    stop: async () => {
      await gateway.stop();
      db.destroy();
      management.destroy();
      await new Promise<void>((resolve) => dynamo.close(() => resolve()));
    },
  };
}
export type CloudHarness = Awaited<ReturnType<typeof startCloudHarness>>;
