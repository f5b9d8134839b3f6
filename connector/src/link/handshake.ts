import WebSocket from 'ws';
import { CONNECTION_PURPOSE_HEADER, type ConnectionPurpose } from '../../../protocol';

/**
 * The one way the connector opens a WebSocket to the cloud (the service's link, enrolment, the
 * doctor's probe and a restore's own connection). The cloud authenticates at the upgrade: the
 * `Authorization` header carries either the connector's signature (protocol/connector-auth.ts,
 * valid for ±300 s around the cloud's clock) or, once, the enrolment (activation code + new public
 * key); API Gateway's authorizer answers 401/403 instead of upgrading when it refuses.
 */
export interface DialRequest {
  /** wss:// URL of the WebSocket API (ws:// only in local mode). */
  endpoint: string;
  /** The Authorization header: a signed session or an enrolment. */
  authorization: string;
  /** Sent as X-Connector-Version, so that the cloud knows which connector it talks to; omitted when absent. */
  connectorVersion?: string;
  /** How long the opening handshake may take, in ms (ws's handshakeTimeout); none when absent. */
  handshakeTimeoutMs?: number;
  /** Sent as X-Connector-Purpose for a connection that is not the service's own (protocol/connector-auth.ts). */
  purpose?: ConnectionPurpose;
}

/** Starts the connection; the caller listens for open / unexpected-response / error itself (the long-lived link does). */
export function dial(request: DialRequest): WebSocket {
  return new WebSocket(request.endpoint, {
    headers: {
      Authorization: request.authorization,
      ...(request.connectorVersion !== undefined ? { 'X-Connector-Version': request.connectorVersion } : {}),
      ...(request.purpose !== undefined ? { [CONNECTION_PURPOSE_HEADER]: request.purpose } : {}),
    },
    ...(request.handshakeTimeoutMs !== undefined ? { handshakeTimeout: request.handshakeTimeoutMs } : {}),
  });
}

/** An HTTP status the authorizer answers when it refuses this connector (key revoked, tenant disabled, clock off, code used). */
export function isRefusal(status: number | undefined): boolean {
  return status === 401 || status === 403;
}

/**
 * How an opening handshake ended: open (with the server's Date header, for clock checks), refused
 * by the authorizer, answered with another HTTP status instead of upgrading, or not reached at all.
 */
export type HandshakeOutcome =
  | { kind: 'open'; socket: WebSocket; serverDate?: string }
  | { kind: 'refused'; status: number }
  | { kind: 'not-upgraded'; status: number }
  | { kind: 'unreachable'; error: Error };

/** Dials and waits for the handshake to end; on every outcome but `open` the socket is already gone. */
export function handshake(request: DialRequest): Promise<HandshakeOutcome> {
  return new Promise((resolve) => {
    const socket = dial(request);
    let serverDate: string | undefined;
    socket.once('upgrade', (res) => {
      serverDate = res.headers.date;
    });
    socket.once('open', () => resolve({ kind: 'open', socket, ...(serverDate !== undefined ? { serverDate } : {}) }));
    socket.once('unexpected-response', (_req, res) => {
      socket.terminate();
      const status = res.statusCode ?? 0;
      resolve(isRefusal(status) ? { kind: 'refused', status } : { kind: 'not-upgraded', status });
    });
    socket.once('error', (error) => resolve({ kind: 'unreachable', error }));
  });
}
