import type { APIGatewayProxyResultV2 } from 'aws-lambda';
import { defineHandler, tableStores } from '../handler';
import { parseWebsocketEvent, tableEnvironmentSchema, websocketBindings } from '../shared';

/** $disconnect: forgets the connection and notes when the tenant's connector went away. */
export const handler = defineHandler(
  {
    name: 'disconnect',
    environment: tableEnvironmentSchema,
    setup: tableStores,
    event: parseWebsocketEvent,
    bind: websocketBindings,
  },
  async (event, { deps: { connections, tenants }, log }): Promise<APIGatewayProxyResultV2> => {
    await connections.remove(event.requestContext.connectionId);
    const tenantId = event.requestContext.authorizer?.tenantId;
    if (typeof tenantId === 'string') await tenants.recordDisconnected(tenantId, new Date().toISOString());
    log.info('connector disconnected');
    return { statusCode: 200 };
  },
);
