import type { APIGatewayProxyResultV2, APIGatewayProxyWebsocketEventV2 } from 'aws-lambda';
import { awsClients, ConnectionStore, header, logger, parseWebsocketEvent, readEnvironment, tableEnvironmentSchema } from '../shared';

const env = readEnvironment(tableEnvironmentSchema);
const connections = new ConnectionStore(awsClients().dynamo, env.CONNECTIONS_TABLE);

/** $connect: records the authorized connector's connection for its tenant. */
export async function handler(raw: APIGatewayProxyWebsocketEventV2): Promise<APIGatewayProxyResultV2> {
  const event = parseWebsocketEvent(raw);
  const tenantId = event.requestContext.authorizer?.tenantId;
  if (!tenantId) return { statusCode: 403, body: 'not authorized' };
  await connections.add({
    connectionId: event.requestContext.connectionId,
    tenantId,
    keyId: event.requestContext.authorizer?.keyId,
    connectedAt: new Date().toISOString(),
    connectorVersion: header(event, 'X-Connector-Version')?.slice(0, 50),
  });
  logger.info({ tenantId, connectionId: event.requestContext.connectionId }, 'connector connected');
  return { statusCode: 200 };
}
