import { z } from 'zod';
import { ProtocolError } from './errors';
import { MAX_MESSAGE_BYTES, errorMessageSchema } from './envelope';
import { backupJobSchema, cancelJobSchema, drillJobSchema, drillResultSchema, restoreGrantSchema, restoreRequestSchema } from './job';
import { settingsMessageSchema, settingsRequestMessageSchema } from './bandwidth';
import { progressMessageSchema } from './progress';
import { resultMessageSchema } from './result';
import {
  ackMessageSchema,
  credentialsMessageSchema,
  credentialsRequestMessageSchema,
  heartbeatMessageSchema,
  keyRegisteredMessageSchema,
  rotateKeyMessageSchema,
} from './session';

/** Connector → cloud. */
export const connectorMessageSchema = z.union([
  progressMessageSchema,
  resultMessageSchema,
  restoreRequestSchema,
  drillResultSchema,
  heartbeatMessageSchema,
  rotateKeyMessageSchema,
  credentialsRequestMessageSchema,
  settingsRequestMessageSchema,
  errorMessageSchema,
]);
export type ConnectorMessage = z.infer<typeof connectorMessageSchema>;
/** Cloud → connector. */
export const cloudMessageSchema = z.union([
  backupJobSchema,
  cancelJobSchema,
  restoreGrantSchema,
  drillJobSchema,
  ackMessageSchema,
  keyRegisteredMessageSchema,
  credentialsMessageSchema,
  settingsMessageSchema,
  errorMessageSchema,
]);
export type CloudMessage = z.infer<typeof cloudMessageSchema>;

/** Each direction's message types, so that an error names the fields of the type that was sent. */
const DIRECTIONS = {
  connector: {
    progress: progressMessageSchema,
    result: resultMessageSchema,
    'restore-request': restoreRequestSchema,
    'drill-result': drillResultSchema,
    heartbeat: heartbeatMessageSchema,
    'rotate-key': rotateKeyMessageSchema,
    'credentials-request': credentialsRequestMessageSchema,
    'settings-request': settingsRequestMessageSchema,
    error: errorMessageSchema,
  },
  cloud: {
    'backup-job': backupJobSchema,
    'cancel-job': cancelJobSchema,
    'restore-grant': restoreGrantSchema,
    'drill-job': drillJobSchema,
    ack: ackMessageSchema,
    'key-registered': keyRegisteredMessageSchema,
    credentials: credentialsMessageSchema,
    settings: settingsMessageSchema,
    error: errorMessageSchema,
  },
} as const;
type Direction = keyof typeof DIRECTIONS;
type MessageOf<D extends Direction> = D extends 'connector' ? ConnectorMessage : CloudMessage;

/**
 * The only way to turn raw text into a typed message: size limit, JSON, a type this direction
 * knows, then that type's schema. Throws ProtocolError with a message that names what is wrong.
 */
export function parseMessage<D extends Direction>(direction: D, raw: string | Buffer): MessageOf<D> {
  const bytes = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length;
  if (bytes > MAX_MESSAGE_BYTES) {
    throw new ProtocolError('MESSAGE_TOO_LARGE', `message is ${bytes} bytes; the limit is ${MAX_MESSAGE_BYTES} bytes`);
  }
  let value: unknown;
  try {
    value = JSON.parse(raw.toString());
  } catch (cause) {
    throw new ProtocolError('MESSAGE_NOT_JSON', 'message is not valid JSON', { cause });
  }
  const schemas: Record<string, z.ZodType> = DIRECTIONS[direction];
  const type = typeof value === 'object' && value !== null && 'type' in value ? (value as { type: unknown }).type : undefined;
  const schema = typeof type === 'string' && Object.hasOwn(schemas, type) ? schemas[type] : undefined;
  if (!schema) {
    throw new ProtocolError(
      'MESSAGE_INVALID',
      `unknown message type ${JSON.stringify(type ?? null)}; expected one of ${Object.keys(schemas).join(', ')}`,
    );
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new ProtocolError('MESSAGE_INVALID', `invalid "${String(type)}" message: ${z.prettifyError(parsed.error).replace(/\n/g, '; ')}`, {
      messageType: String(type),
    });
  }
  return parsed.data as MessageOf<D>;
}

/** Serializes a message, refusing one that API Gateway would reject for size. */
export function encodeMessage(message: ConnectorMessage | CloudMessage): string {
  const text = JSON.stringify(message);
  if (Buffer.byteLength(text) > MAX_MESSAGE_BYTES) {
    throw new ProtocolError('MESSAGE_TOO_LARGE', `outgoing "${message.type}" message exceeds ${MAX_MESSAGE_BYTES} bytes`);
  }
  return text;
}
