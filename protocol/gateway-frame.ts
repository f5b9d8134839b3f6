import { z } from 'zod';

/**
 * Frames API Gateway itself sends on a WebSocket, outside our protocol: `{"message": "…",
 * "connectionId": "…", "requestId": "…"}`. Seen in the wild for "Forbidden" (no route matched and
 * no $default) and "Internal server error" (the route's integration failed); "Too Many Requests"
 * is the same shape for a message the stage's throttle refused (HTTP 429's reason phrase; see
 * docs/protocol.md for what AWS documents and what it does not). The message they answer was
 * not processed: the sender should back off and send it again.
 */
export const gatewayFrameSchema = z
  .object({
    message: z.string(),
    connectionId: z.string().optional(),
    requestId: z.string().optional(),
  })
  .strict();
export type GatewayFrame = z.infer<typeof gatewayFrameSchema>;

export const GATEWAY_THROTTLED = 'Too Many Requests';
export const GATEWAY_INTEGRATION_FAILED = 'Internal server error';
export const GATEWAY_NO_ROUTE = 'Forbidden';

/** The gateway frame in `raw`, or undefined when it is not one (our own messages carry `type` and `v`). */
export function parseGatewayFrame(raw: string | Buffer): GatewayFrame | undefined {
  let value: unknown;
  try {
    value = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
  } catch {
    return undefined;
  }
  const parsed = gatewayFrameSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}
