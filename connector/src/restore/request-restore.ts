import { randomBytes } from 'node:crypto';
import {
  encodeMessage,
  parseMessage,
  PROTOCOL_VERSION,
  type RestoreGrant,
  type RestoreRequest,
  type UploadCredentials,
} from '../../../protocol';
import type { CredentialProvider } from '../store/s3-object-store';
import { ConnectorError } from '../errors';
import { handshake } from '../link/handshake';

/** Fresh credentials are asked for this long before the current ones expire. */
const CREDENTIALS_MARGIN_MS = 5 * 60_000;

/**
 * A credential provider for reading a run back that outlives the grant's one-hour credentials:
 * shortly before they expire it asks for the same run again (`renew`).
 */
export function renewingCredentials(initial: UploadCredentials, renew: () => Promise<RestoreGrant>): CredentialProvider {
  let credentials = initial;
  return async () => {
    if (Date.parse(credentials.expiration) - Date.now() < CREDENTIALS_MARGIN_MS) credentials = (await renew()).credentials;
    return { ...credentials, expiration: new Date(credentials.expiration) };
  };
}

/**
 * Asks the cloud, over a connection of its own (the service keeps running), which run to
 * restore and for read-only credentials: one signed connection, one request, one answer.
 */
export async function requestRestore(
  connection: { endpoint: string; authorization: string; connectorVersion: string },
  request: Pick<RestoreRequest, 'run' | 'at' | 'requestedBy' | 'wants'>,
  timeoutMs = 30_000,
): Promise<RestoreGrant> {
  const requestId = randomBytes(12).toString('base64url');
  const started = Date.now();
  const outcome = await handshake({ ...connection, handshakeTimeoutMs: timeoutMs });
  if (outcome.kind === 'unreachable')
    throw new ConnectorError('RESTORE_UNREACHABLE', `cannot reach ${connection.endpoint}: ${outcome.error.message}`);
  if (outcome.kind !== 'open')
    throw new ConnectorError(
      'RESTORE_REFUSED',
      `the cloud refused the connection (HTTP ${outcome.status}): is this connector enrolled, and its tenant enabled?`,
    );
  const { socket } = outcome;
  try {
    return await new Promise<RestoreGrant>((resolve, reject) => {
      // One time limit for the whole exchange, the handshake included.
      const timer = setTimeout(
        () => reject(new ConnectorError('RESTORE_NO_ANSWER', `the cloud did not answer the restore request within ${timeoutMs / 1000} s`)),
        Math.max(0, started + timeoutMs - Date.now()),
      );
      const fail = (error: ConnectorError) => {
        clearTimeout(timer);
        reject(error);
      };
      socket.on('error', (error) =>
        fail(new ConnectorError('RESTORE_UNREACHABLE', `cannot reach ${connection.endpoint}: ${error.message}`)),
      );
      socket.send(encodeMessage({ type: 'restore-request', v: PROTOCOL_VERSION, requestId, ...request }));
      socket.on('message', (data: Buffer) => {
        let message: ReturnType<typeof parseMessage>;
        try {
          message = parseMessage('cloud', data);
        } catch {
          return; // not for us
        }
        if (message.type === 'restore-grant' && message.requestId === requestId) {
          clearTimeout(timer);
          resolve(message);
        } else if (message.type === 'error' && message.inReplyTo === 'restore-request') {
          fail(new ConnectorError(message.error.code, message.error.message, { permanent: true }));
        }
      });
    });
  } finally {
    socket.terminate();
  }
}
