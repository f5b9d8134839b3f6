import type { APIGatewayProxyResultV2, APIGatewayProxyWebsocketEventV2 } from 'aws-lambda';
import { awsClients, ConnectionStore, logger, parseWebsocketEvent, readEnvironment, tableEnvironmentSchema } from '../shared';

const env = readEnvironment(tableEnvironmentSchema);
const connections = new ConnectionStore(awsClients().dynamo, env.CONNECTIONS_TABLE);

/** $disconnect: forgets the connection. */
export async function handler(raw: APIGatewayProxyWebsocketEventV2): Promise<APIGatewayProxyResultV2> {
  const event = parseWebsocketEvent(raw);
  await connections.remove(event.requestContext.connectionId);
  logger.info({ tenantId: event.requestContext.authorizer?.tenantId, connectionId: event.requestContext.connectionId }, 'connector disconnected');
  return { statusCode: 200 };
}
