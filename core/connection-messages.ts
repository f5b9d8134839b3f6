import { type ApiGatewayManagementApiClient, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { awsErrorKind } from './aws-errors';
import type { ConnectionStore } from './stores';

/** What became of one message to one connection. */
export type Delivery = 'sent' | 'gone';

/**
 * Sends one message (an encoded protocol message, protocol/envelope.ts) to one connector's WebSocket
 * through API Gateway's @connections API (PostToConnection). A connection API Gateway reports gone
 * (GoneException, HTTP 410: the connector went away and its $disconnect has not yet removed it, or
 * never will — API Gateway delivers $disconnect on a best-effort basis) is removed from the
 * connections table, so that no later sender tries it again, and 'gone' is returned. Every sender
 * of the cloud (Request backup, the message function's replies, restore drills, the CLI's tenant
 * settings and cancels) goes through here. Any other error (throttling, AccessDenied) is thrown.
 */
export async function postToConnection(
  deps: { management: ApiGatewayManagementApiClient; connections: Pick<ConnectionStore, 'remove'> },
  connectionId: string,
  message: string,
): Promise<Delivery> {
  try {
    await deps.management.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from(message) }));
    return 'sent';
  } catch (error) {
    if (awsErrorKind(error) !== 'connection-gone') throw error;
    await deps.connections.remove(connectionId);
    return 'gone';
  }
}
