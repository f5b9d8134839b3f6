import { ApiGatewayManagementApiClient, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { LocalGateway, type LocalGatewayOptions } from '../../local/cloud/local-gateway';
import type { FunctionInvoker } from '../../local/cloud/local-lambda';
import type { CloudMessage } from '../../protocol';
import { connectionsAccess } from './connections-access';
import { freePort } from './test-ports';

/** What arrived at $default: the connection and the raw body. */
export type Received = { connectionId: string; body: string };

export interface ScriptedCloudOptions {
  /** The gateway's limits and faults (throttle, dropResults, …). */
  readonly gateway?: Partial<Omit<LocalGatewayOptions, 'port' | 'routes' | 'access'>>;
  /** Whether to acknowledge attempt `attempt` (1-based) of a run's result. @default always */
  readonly ackResults?: (attempt: number, runId: string) => boolean | Promise<boolean>;
  /** The cloud's answer to any other message, sent back on the same connection (none when undefined). */
  readonly answer?: (message: { type: string } & Record<string, unknown>) => CloudMessage | undefined;
  /** Listen on this port (a second cloud where the first one was). @default a free port */
  readonly port?: number;
}

/**
 * The local gateway (API Gateway's contract: authorizer, throttle, error frames, @connections) with
 * a scripted cloud behind $default that records what arrives, acknowledges results when told, and
 * answers as `answer` says — for the connector link's tests. `stop` closes it.
 */
export async function scriptedCloud(options: ScriptedCloudOptions = {}) {
  /** The cloud's caller of @connections (the message function's role in the stack): allowed execute-api:ManageConnections on this API. */
  const { authorizer, credentials, manager } = connectionsAccess();
  const received: Received[] = [];
  const connects: string[] = [];
  const resultAttempts = new Map<string, number>();
  const port = options.port ?? (await freePort());
  const management = new ApiGatewayManagementApiClient({
    endpoint: `http://127.0.0.1:${port}/prod`,
    region: 'us-east-1',
    credentials: manager,
    maxAttempts: 1,
  });
  const send = (connectionId: string, message: CloudMessage) =>
    management.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from(JSON.stringify(message)) }));
  const invoker: FunctionInvoker = {
    invoke: async (route, raw) => {
      const event = raw as { requestContext: { connectionId: string }; body?: string };
      if (route === 'authorizer') return { policyDocument: { Statement: [{ Effect: 'Allow' }] }, context: { tenantId: 'acme' } };
      if (route === 'connect') connects.push(event.requestContext.connectionId);
      if (route === 'default') {
        const connectionId = event.requestContext.connectionId;
        received.push({ connectionId, body: event.body ?? '' });
        const message = JSON.parse(event.body ?? '{}') as { type: string; runId?: string } & Record<string, unknown>;
        if (message.type === 'result') {
          const attempt = (resultAttempts.get(message.runId!) ?? 0) + 1;
          resultAttempts.set(message.runId!, attempt);
          if (await (options.ackResults ?? (() => true))(attempt, message.runId!))
            await send(connectionId, { type: 'ack', v: 1, runId: message.runId! });
        } else {
          const answer = options.answer?.(message);
          if (answer) await send(connectionId, answer);
        }
      }
      return { statusCode: 200 };
    },
  };
  const gateway = new LocalGateway(invoker, {
    port,
    routes: { authorizer: 'authorizer', connect: 'connect', disconnect: 'disconnect', default: 'default' },
    access: { authorizer, credentials },
    routeSelectionExpression: '$request.body.type',
    mockRoutes: ['heartbeat'],
    ...options.gateway,
  });
  await gateway.start();
  return {
    port,
    gateway,
    received,
    connects,
    /** The types of the messages received, in order. */
    types: () => received.map((r) => (JSON.parse(r.body) as { type: string }).type),
    /** Sends a message to a connection, as the cloud's functions do through @connections. */
    send,
    stop: async () => {
      management.destroy();
      await gateway.stop();
    },
  };
}
