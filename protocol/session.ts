import { z } from 'zod';
import { PROTOCOL_VERSION, runIdSchema } from './envelope';
import { uploadCredentialsSchema } from './job';

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

/** Connector → cloud: the run's upload credentials expire soon; an upload is still going. */
export const credentialsRequestMessageSchema = z.object({
  type: z.literal('credentials-request'),
  v: z.literal(PROTOCOL_VERSION),
  runId: runIdSchema,
});
export type CredentialsRequestMessage = z.infer<typeof credentialsRequestMessageSchema>;

/** Cloud → connector: fresh upload credentials for a running run. */
export const credentialsMessageSchema = z.object({
  type: z.literal('credentials'),
  v: z.literal(PROTOCOL_VERSION),
  runId: runIdSchema,
  credentials: uploadCredentialsSchema,
});
export type CredentialsMessage = z.infer<typeof credentialsMessageSchema>;
