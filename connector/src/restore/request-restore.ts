import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { encodeMessage, parseMessage, PROTOCOL_VERSION, type RestoreGrant, type RestoreRequest } from '../../../protocol';
import { ConnectorError } from '../errors';

/**
 * Asks the cloud, over a connection of its own (the service keeps running), which run to
 * restore and for read-only credentials: one signed connection, one request, one answer.
 */
export async function requestRestore(
  connection: { endpoint: string; authorization: string; connectorVersion: string },
  request: Pick<RestoreRequest, 'run' | 'at' | 'requestedBy'>,
  timeoutMs = 30_000,
): Promise<RestoreGrant> {
  const requestId = randomBytes(12).toString('base64url');
  const socket = new WebSocket(connection.endpoint, { headers: { Authorization: connection.authorization, 'X-Connector-Version': connection.connectorVersion } });
  try {
    return await new Promise<RestoreGrant>((resolve, reject) => {
      const timer = setTimeout(() => reject(new ConnectorError('RESTORE_NO_ANSWER', `the cloud did not answer the restore request within ${timeoutMs / 1000} s`)), timeoutMs);
      const fail = (error: ConnectorError) => {
        clearTimeout(timer);
        reject(error);
      };
      socket.on('unexpected-response', (_req, res) => fail(new ConnectorError('RESTORE_REFUSED', `the cloud refused the connection (HTTP ${res.statusCode}): is this connector enrolled, and its tenant enabled?`)));
      socket.on('error', (error) => fail(new ConnectorError('RESTORE_UNREACHABLE', `cannot reach ${connection.endpoint}: ${error.message}`)));
      socket.on('open', () => socket.send(encodeMessage({ type: 'restore-request', v: PROTOCOL_VERSION, requestId, ...request })));
      socket.on('message', (data: Buffer) => {
        let message;
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
