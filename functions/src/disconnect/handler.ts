import type { APIGatewayProxyResultV2 } from 'aws-lambda';
import { defineHandler, tableStores } from '../handler';
import { parseWebsocketEvent, tableEnvironmentSchema, websocketBindings } from '../shared';

/** $disconnect: forgets the connection and notes when the tenant's connector service went away (not a probe's or a restore's connection). */
export const handler = defineHandler(
  {
    name: 'disconnect',
    environment: tableEnvironmentSchema,
    setup: tableStores,
    event: parseWebsocketEvent,
    bind: websocketBindings,
  },
  async (event, { deps: { connections, tenants }, log }): Promise<APIGatewayProxyResultV2> => {
    const tenantId = event.requestContext.authorizer?.tenantId;
    // An enrolment's, doctor's or restore's connection ending is not the service being seen: the offline check goes by the service's.
    // Recorded before the connection is forgotten: whoever sees it offline also sees when it went.
    const purpose = event.requestContext.authorizer?.purpose;
    if (typeof tenantId === 'string' && purpose === undefined) await tenants.recordDisconnected(tenantId, new Date().toISOString());
    await connections.remove(event.requestContext.connectionId);
    log.info({ purpose }, 'connector disconnected');
    return { statusCode: 200 };
  },
);
