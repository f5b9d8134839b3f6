import type { APIGatewayProxyResultV2, APIGatewayProxyWebsocketEventV2 } from 'aws-lambda';
import { DeleteConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { closeReplacedKeySessions, ConnectionStore, TenantStore } from '../../../core';
import { awsClients, connectionsClient, connectionsEndpointOf, header, logger, parseWebsocketEvent, readEnvironment, tableEnvironmentSchema } from '../shared';

const env = readEnvironment(tableEnvironmentSchema);
const connections = new ConnectionStore(awsClients().dynamo, env.CONNECTIONS_TABLE);
const tenants = new TenantStore(awsClients().dynamo, env.TENANTS_TABLE);

/**
 * $connect: records the authorized connector's connection for its tenant, and closes the
 * tenant's open connections of keys it no longer has (re-enrolment, a completed key rotation).
 */
export async function handler(raw: APIGatewayProxyWebsocketEventV2): Promise<APIGatewayProxyResultV2> {
  const event = parseWebsocketEvent(raw);
  const tenantId = event.requestContext.authorizer?.tenantId;
  if (!tenantId) return { statusCode: 403, body: 'not authorized' };
  const connectionId = event.requestContext.connectionId;
  await connections.add({
    connectionId,
    tenantId,
    keyId: event.requestContext.authorizer?.keyId,
    connectedAt: new Date().toISOString(),
    connectorVersion: header(event, 'X-Connector-Version')?.slice(0, 50),
  });
  const management = connectionsClient(connectionsEndpointOf(event));
  const closed = await closeReplacedKeySessions({
    tenants, connections,
    close: async (id) => {
      await management.send(new DeleteConnectionCommand({ ConnectionId: id }));
    },
  }, tenantId, connectionId);
  logger.info({ tenantId, connectionId, keyId: event.requestContext.authorizer?.keyId, replacedSessionsClosed: closed }, 'connector connected');
  return { statusCode: 200 };
}
