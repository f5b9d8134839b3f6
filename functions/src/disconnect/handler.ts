import type { APIGatewayProxyResultV2, APIGatewayProxyWebsocketEventV2 } from 'aws-lambda';
import { ConnectionStore, TenantStore } from '../../../core';
import { awsClients, logger, parseWebsocketEvent, readEnvironment, tableEnvironmentSchema } from '../shared';

const env = readEnvironment(tableEnvironmentSchema);
const connections = new ConnectionStore(awsClients().dynamo, env.CONNECTIONS_TABLE);
const tenants = new TenantStore(awsClients().dynamo, env.TENANTS_TABLE);

/** $disconnect: forgets the connection and notes when the tenant's connector went away. */
export async function handler(raw: APIGatewayProxyWebsocketEventV2): Promise<APIGatewayProxyResultV2> {
  const event = parseWebsocketEvent(raw);
  await connections.remove(event.requestContext.connectionId);
  const tenantId = event.requestContext.authorizer?.tenantId;
  if (typeof tenantId === 'string') await tenants.recordDisconnected(tenantId, new Date().toISOString());
  logger.info({ tenantId: event.requestContext.authorizer?.tenantId, connectionId: event.requestContext.connectionId }, 'connector disconnected');
  return { statusCode: 200 };
}
