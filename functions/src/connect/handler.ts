import type { APIGatewayProxyResultV2 } from 'aws-lambda';
import { DeleteConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { defineHandler, tableStores } from '../handler';
import {
  connectionsClient,
  connectionsEndpointOf,
  header,
  parseWebsocketEvent,
  tableEnvironmentSchema,
  websocketBindings,
  websocketEnvironmentSchema,
} from '../shared';
import { closeReplacedKeySessions } from '../../../core';
import { connectionPurposeSchema } from '../../../protocol';

/**
 * $connect: records the authorized connector's connection for its tenant, and closes the
 * tenant's open connections of keys it no longer has (re-enrolment, a completed key rotation).
 */
export const handler = defineHandler(
  {
    name: 'connect',
    environment: tableEnvironmentSchema.extend(websocketEnvironmentSchema.shape),
    setup: tableStores,
    event: parseWebsocketEvent,
    bind: websocketBindings,
  },
  async (event, { env, deps: { connections, tenants }, log }): Promise<APIGatewayProxyResultV2> => {
    const tenantId = event.requestContext.authorizer?.tenantId;
    if (!tenantId) return { statusCode: 403, body: 'not authorized' };
    const connectionId = event.requestContext.connectionId;
    const purpose = connectionPurposeSchema.safeParse(event.requestContext.authorizer?.purpose).data;
    await connections.add({
      connectionId,
      tenantId,
      keyId: event.requestContext.authorizer?.keyId,
      connectedAt: new Date().toISOString(),
      connectorVersion: header(event, 'X-Connector-Version')?.slice(0, 50),
      ...(purpose ? { purpose } : {}),
    });
    const management = connectionsClient(connectionsEndpointOf(event, env.CONNECTIONS_ENDPOINT));
    const closed = await closeReplacedKeySessions(
      {
        tenants,
        connections,
        close: async (id) => {
          await management.send(new DeleteConnectionCommand({ ConnectionId: id }));
        },
      },
      tenantId,
      connectionId,
    );
    log.info({ keyId: event.requestContext.authorizer?.keyId, purpose, replacedSessionsClosed: closed }, 'connector connected');
    return { statusCode: 200 };
  },
);
