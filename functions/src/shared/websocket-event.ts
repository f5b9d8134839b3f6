import type { APIGatewayProxyWebsocketEventV2 } from 'aws-lambda';
import { z } from 'zod';
import { RunError } from '../../../core';

/** The parts of an API Gateway WebSocket event our handlers read, checked. */
const websocketEventSchema = z
  .object({
    requestContext: z
      .object({
        connectionId: z.string().min(1),
        routeKey: z.string(),
        domainName: z.string().min(1),
        stage: z.string().min(1),
        authorizer: z
          .object({ tenantId: z.string().min(1), keyId: z.string().optional() })
          .loose()
          .optional(),
      })
      .loose(),
    headers: z.record(z.string(), z.string().optional()).optional(),
    body: z.string().optional().nullable(),
  })
  .loose();
export type WebsocketEvent = z.infer<typeof websocketEventSchema>;

export function parseWebsocketEvent(event: APIGatewayProxyWebsocketEventV2 | unknown): WebsocketEvent {
  const parsed = websocketEventSchema.safeParse(event);
  if (!parsed.success) throw new RunError('InvalidInput', `not an API Gateway WebSocket event: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/** The environment of a function behind the WebSocket API: the @connections endpoint, where it is not the event's own stage. */
export const websocketEnvironmentSchema = z.object({ CONNECTIONS_ENDPOINT: z.url().optional() });

/** The @connections endpoint of the stage this event came through: `configured` (CONNECTIONS_ENDPOINT) if given, else https://{domainName}/{stage}. */
export function connectionsEndpointOf(event: WebsocketEvent, configured?: string): string {
  return configured ?? `https://${event.requestContext.domainName}/${event.requestContext.stage}`;
}

/** Case-insensitive header lookup (API Gateway keeps the client's casing). */
export function header(event: { headers?: Record<string, string | undefined> | null }, name: string): string | undefined {
  const wanted = name.toLowerCase();
  return Object.entries(event.headers ?? {}).find(([key]) => key.toLowerCase() === wanted)?.[1];
}

/** What a WebSocket handler's logger is bound to: the tenant and the connection. */
export function websocketBindings(event: WebsocketEvent): { tenantId?: string; connectionId: string } {
  return { tenantId: event.requestContext.authorizer?.tenantId, connectionId: event.requestContext.connectionId };
}
