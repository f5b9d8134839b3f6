import { PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import type { APIGatewayProxyResultV2, APIGatewayProxyWebsocketEventV2 } from 'aws-lambda';
import { encodeMessage } from '../../../protocol';
import { connectorTarget, connectorTargetEnvironmentSchema, RunStore, SfnTaskResponder, TenantStore, uploadCredentialVendorFromEnv } from '../../../core';
import { awsClients, connectionsClient, connectionsEndpointOf, parseWebsocketEvent, readEnvironment, tableEnvironmentSchema } from '../shared';
import { handleConnectorMessage } from './handle-connector-message';

const env = readEnvironment(tableEnvironmentSchema.extend(connectorTargetEnvironmentSchema.shape));
const target = connectorTarget(env);
const runs = new RunStore(awsClients().dynamo, env.RUNS_TABLE);
const tenants = new TenantStore(awsClients().dynamo, env.TENANTS_TABLE);
const tasks = new SfnTaskResponder(awsClients().sfn);
// Read lazily: only credential refreshes need the vendor's settings.
let vendor: ReturnType<typeof uploadCredentialVendorFromEnv> | undefined;

/** $default: every message a connector sends. */
export async function handler(raw: APIGatewayProxyWebsocketEventV2): Promise<APIGatewayProxyResultV2> {
  const event = parseWebsocketEvent(raw);
  const tenantId = event.requestContext.authorizer?.tenantId;
  if (!tenantId) return { statusCode: 403 };
  const connectionId = event.requestContext.connectionId;
  const management = connectionsClient(connectionsEndpointOf(event));
  const outcome = await handleConnectorMessage(event.body ?? '', {
    tenantId, connectionId, runs, tenants, tasks, target,
    mintCredentials: (tenant, runId, access) => (vendor ??= uploadCredentialVendorFromEnv(awsClients().sts, process.env)).mint(tenant, runId, access),
    reply: async (message) => {
      await management.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from(encodeMessage(message)) }));
    },
  });
  return { statusCode: outcome === 'rejected' ? 400 : 200 };
}
