import { z } from 'zod';
import { PROTOCOL_VERSION, runIdSchema } from './envelope';
import { drillIdSchema, restoreRequestIdSchema, uploadCredentialsSchema } from './job';

/** Connector → cloud: keeps the connection inside API Gateway's 10-minute idle limit. */
export const heartbeatMessageSchema = z.object({ type: z.literal('heartbeat'), v: z.literal(PROTOCOL_VERSION) });
export type HeartbeatMessage = z.infer<typeof heartbeatMessageSchema>;

/** Cloud → connector: a result was recorded (or had been already); the connector may forget it. */
export const ackMessageSchema = z.object({ type: z.literal('ack'), v: z.literal(PROTOCOL_VERSION), runId: runIdSchema });
export type AckMessage = z.infer<typeof ackMessageSchema>;

/** Connector → cloud: register a new public key; it replaces the current one once the connector connects with it. */
export const rotateKeyMessageSchema = z.object({
  type: z.literal('rotate-key'),
  v: z.literal(PROTOCOL_VERSION),
  keyId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
  publicKey: z.string().regex(/^[A-Za-z0-9_-]{40,200}$/, 'publicKey is the base64url SPKI DER of an Ed25519 key'),
});
export type RotateKeyMessage = z.infer<typeof rotateKeyMessageSchema>;

/** Cloud → connector: the new key is registered (pending until used). */
export const keyRegisteredMessageSchema = z.object({
  type: z.literal('key-registered'),
  v: z.literal(PROTOCOL_VERSION),
  keyId: z.string(),
});
export type KeyRegisteredMessage = z.infer<typeof keyRegisteredMessageSchema>;

/**
 * Connector → cloud: the credentials of a run's transfers expire soon (or S3 said they have) and
 * the transfers go on. Without `drillId`/`restoreRequestId`: a running backup's upload credentials.
 * With `drillId`: read credentials for the restore drill the cloud issued for that run (drill-job).
 * With `restoreRequestId`: read credentials for the restore the cloud granted under that request
 * (restore-grant) — the restore's own connection asks, the service's session may be elsewhere.
 * The cloud checks the renewal as it checked the first grant and answers `credentials` (or an
 * error with `inReplyTo: 'credentials-request'`).
 */
export const credentialsRequestMessageSchema = z
  .object({
    type: z.literal('credentials-request'),
    v: z.literal(PROTOCOL_VERSION),
    runId: runIdSchema,
    drillId: drillIdSchema.optional(),
    restoreRequestId: restoreRequestIdSchema.optional(),
  })
  .refine((m) => m.drillId === undefined || m.restoreRequestId === undefined, {
    message: 'a credentials request is for a drill or for a restore, not both',
  });
export type CredentialsRequestMessage = z.infer<typeof credentialsRequestMessageSchema>;

/** Cloud → connector: fresh credentials for a running run's uploads, or for a drill's or restore's reads (named as the request named them). */
export const credentialsMessageSchema = z.object({
  type: z.literal('credentials'),
  v: z.literal(PROTOCOL_VERSION),
  runId: runIdSchema,
  drillId: drillIdSchema.optional(),
  restoreRequestId: restoreRequestIdSchema.optional(),
  credentials: uploadCredentialsSchema,
});
export type CredentialsMessage = z.infer<typeof credentialsMessageSchema>;
