import { randomBytes } from 'node:crypto';
import {
  type CloudMessage,
  type ConnectorMessage,
  encodeMessage,
  parseMessage,
  PROTOCOL_VERSION,
  type RestoreGrant,
  type RestoreRequest,
} from '../../../protocol';
import { answersRequest, type CredentialSource, type CredentialsFor } from '../store/run-credentials';
import { ConnectorError } from '../errors';
import { handshake } from '../link/handshake';

/** Where and how `so-connector restore` reaches the cloud: a signed connection of its own. */
export interface RestoreConnection {
  endpoint: string;
  authorization: string;
  connectorVersion: string;
}

/**
 * Asks the cloud, over a connection of its own (the service keeps running), which run to
 * restore and for read-only credentials: one signed connection, one request, one answer.
 */
export async function requestRestore(
  connection: RestoreConnection,
  request: Pick<RestoreRequest, 'run' | 'at' | 'requestedBy' | 'wants'>,
  timeoutMs = 30_000,
): Promise<RestoreGrant> {
  const requestId = randomBytes(12).toString('base64url');
  return askOnce(
    connection,
    { type: 'restore-request', v: PROTOCOL_VERSION, requestId, ...request },
    (message) => (message.type === 'restore-grant' && message.requestId === requestId ? message : undefined),
    timeoutMs,
  );
}

/**
 * The restore's credential source (RunCredentials): fresh read credentials for the restore the
 * cloud granted (`grant`), asked over a connection of the restore's own with a
 * `credentials-request` naming the run and the grant's request id; the cloud checks it as it
 * checked the grant. A connection is opened for each renewal: one an hour at most.
 */
export function restoreCredentialSource(
  connection: () => RestoreConnection,
  grant: Pick<RestoreGrant, 'runId' | 'requestId'>,
  timeoutMs = 30_000,
): CredentialSource {
  const request: CredentialsFor = { runId: grant.runId, restoreRequestId: grant.requestId };
  return async () =>
    (
      await askOnce(
        connection(),
        { type: 'credentials-request', v: PROTOCOL_VERSION, ...request },
        (message) => (message.type === 'credentials' && answersRequest(message, request) ? message : undefined),
        timeoutMs,
      )
    ).credentials;
}

/**
 * One exchange with the cloud over a connection of its own: the message, then the answer `pick`
 * recognises (or the cloud's error in reply to the message's type); the connection is closed after.
 * @throws ConnectorError RESTORE_UNREACHABLE, RESTORE_REFUSED (the handshake), RESTORE_NO_ANSWER, or the cloud's own error code (permanent)
 */
async function askOnce<T>(
  connection: RestoreConnection,
  message: ConnectorMessage,
  pick: (message: CloudMessage) => T | undefined,
  timeoutMs: number,
): Promise<T> {
  const started = Date.now();
  const outcome = await handshake({ ...connection, handshakeTimeoutMs: timeoutMs, purpose: 'restore' });
  if (outcome.kind === 'unreachable')
    throw new ConnectorError('RESTORE_UNREACHABLE', `cannot reach ${connection.endpoint}: ${outcome.error.message}`);
  if (outcome.kind !== 'open')
    throw new ConnectorError(
      'RESTORE_REFUSED',
      `the cloud refused the connection (HTTP ${outcome.status}): is this connector enrolled, and its tenant enabled?`,
    );
  const { socket } = outcome;
  try {
    return await new Promise<T>((resolve, reject) => {
      // One time limit for the whole exchange, the handshake included.
      const timer = setTimeout(
        () => reject(new ConnectorError('RESTORE_NO_ANSWER', `the cloud did not answer the ${message.type} within ${timeoutMs / 1000} s`)),
        Math.max(0, started + timeoutMs - Date.now()),
      );
      const fail = (error: ConnectorError) => {
        clearTimeout(timer);
        reject(error);
      };
      socket.on('error', (error) =>
        fail(new ConnectorError('RESTORE_UNREACHABLE', `cannot reach ${connection.endpoint}: ${error.message}`)),
      );
      socket.send(encodeMessage(message));
      socket.on('message', (data: Buffer) => {
        let answer: CloudMessage;
        try {
          answer = parseMessage('cloud', data);
        } catch {
          return; // not for us
        }
        const picked = pick(answer);
        if (picked !== undefined) {
          clearTimeout(timer);
          resolve(picked);
        } else if (answer.type === 'error' && answer.inReplyTo === message.type) {
          fail(new ConnectorError(answer.error.code, answer.error.message, { permanent: true }));
        }
      });
    });
  } finally {
    socket.terminate();
  }
}
