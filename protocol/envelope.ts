import { z } from 'zod';

/** API Gateway WebSocket frames are limited to 128 KB; we refuse larger messages ourselves. */
export const MAX_MESSAGE_BYTES = 128 * 1024;
/** Version of the message envelope this code speaks. */
export const PROTOCOL_VERSION = 1;

export const runIdSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'a run id is 1-128 letters, digits, ".", "_" or "-"');
export const tenantIdSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{1,62}$/, 'a tenant id is 2-63 lower-case letters, digits or "-", starting with a letter or digit');

/** Error details as they cross the wire: a stable code and a human message, never a stack. */
export const wireErrorSchema = z.object({ code: z.string().min(1).max(100), message: z.string().max(4000) });
export type WireError = z.infer<typeof wireErrorSchema>;

export const errorMessageSchema = z.object({
  type: z.literal('error'),
  v: z.literal(PROTOCOL_VERSION),
  error: wireErrorSchema,
  /** The type of the message this answers, when known. */
  inReplyTo: z.string().max(100).optional(),
  /**
   * What the refused request named, when it named a run (a `credentials-request`: the run, and the
   * drill or restore grant), so that a connector with several requests out knows which one was refused.
   */
  runId: runIdSchema.optional(),
  drillId: z.string().max(80).optional(),
  restoreRequestId: z.string().max(64).optional(),
});
export type ErrorMessage = z.infer<typeof errorMessageSchema>;
