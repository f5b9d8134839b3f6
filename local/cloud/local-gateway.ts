import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { MAX_MESSAGE_BYTES } from '../../protocol';
import type { FunctionInvoker } from './local-lambda';

export interface LocalGatewayOptions {
  readonly port: number;
  readonly host?: string;
  /** @default 'prod' */
  readonly stage?: string;
  /** API Gateway closes a connection idle this long. @default 10 minutes */
  readonly idleTimeoutMs?: number;
  /** API Gateway closes every connection after this long. @default 2 hours */
  readonly maxConnectionMs?: number;
  /** Handlers per route (the template's routes → functions). */
  readonly routes: { authorizer: string; connect: string; disconnect: string; default: string };
}

interface Connection {
  id: string;
  socket: WebSocket;
  connectedAt: Date;
  lastActiveAt: Date;
  sourceIp: string;
  authorizer: Record<string, string>;
  idleTimer?: NodeJS.Timeout;
  lifeTimer?: NodeJS.Timeout;
}

/**
 * API Gateway's WebSocket API on this machine: a REQUEST authorizer and $connect before the
 * upgrade completes, $default for each message, $disconnect on close — all invoking the same
 * handlers with API-Gateway-shaped events — plus the `@connections/{id}` management API
 * (POST/GET/DELETE) that `@aws-sdk/client-apigatewaymanagementapi` calls. It enforces API
 * Gateway's limits: 128 KB frames (close 1009), idle timeout and maximum connection time (close 1001).
 */
export class LocalGateway {
  private readonly connections = new Map<string, Connection>();
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });
  private server?: Server;
  private readonly stage: string;
  private readonly idleMs: number;
  private readonly maxMs: number;

  constructor(private readonly lambda: FunctionInvoker, private readonly options: LocalGatewayOptions) {
    this.stage = options.stage ?? 'prod';
    this.idleMs = options.idleTimeoutMs ?? 10 * 60 * 1000;
    this.maxMs = options.maxConnectionMs ?? 2 * 60 * 60 * 1000;
  }

  get domainName(): string {
    return `${this.options.host ?? '127.0.0.1'}:${this.options.port}`;
  }

  async start(): Promise<void> {
    // API Gateway's upgrade response carries a Date header; connectors use it to check their clock.
    this.wss.on('headers', (headers) => headers.push(`Date: ${new Date().toUTCString()}`));
    this.server = createServer((req, res) => void this.management(req, res));
    this.server.on('upgrade', (req, socket, head) => void this.upgrade(req, socket, head));
    this.server.listen(this.options.port, this.options.host ?? '127.0.0.1');
    await once(this.server, 'listening');
  }

  async stop(): Promise<void> {
    for (const connection of this.connections.values()) connection.socket.terminate();
    const server = this.server;
    if (!server) return;
    const closing = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections(); // management API clients keep connections alive
    await closing;
  }

  private requestContext(connectionId: string, routeKey: string, eventType: string, sourceIp: string, extra: Record<string, unknown> = {}) {
    return {
      routeKey, eventType, connectionId, extendedRequestId: randomBytes(8).toString('hex'), requestId: randomBytes(8).toString('hex'),
      messageDirection: 'IN', stage: this.stage, domainName: this.domainName, apiId: 'local', requestTimeEpoch: Date.now(),
      connectedAt: Date.now(), identity: { sourceIp }, ...extra,
    };
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const refuse = (status: number, text: string) => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    const connectionId = randomBytes(9).toString('base64url') + '=';
    const sourceIp = req.socket.remoteAddress ?? '127.0.0.1';
    const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : (v ?? '')]));
    try {
      const decision = (await this.lambda.invoke(this.options.routes.authorizer, {
        type: 'REQUEST', methodArn: `arn:aws:execute-api:us-east-1:000000000000:local/${this.stage}/$connect`, headers,
        requestContext: this.requestContext(connectionId, '$connect', 'CONNECT', sourceIp),
      })) as { policyDocument?: { Statement?: Array<{ Effect?: string }> }; context?: Record<string, string> };
      if (decision.policyDocument?.Statement?.[0]?.Effect !== 'Allow') return refuse(403, 'Forbidden');
      const authorizer = decision.context ?? {};
      const connected = (await this.lambda.invoke(this.options.routes.connect, {
        headers, isBase64Encoded: false, requestContext: this.requestContext(connectionId, '$connect', 'CONNECT', sourceIp, { authorizer }),
      })) as { statusCode?: number };
      if ((connected?.statusCode ?? 200) >= 300) return refuse(403, 'Forbidden');
      this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(connectionId, ws, sourceIp, authorizer));
    } catch {
      refuse(500, 'Internal Server Error');
    }
  }

  private accept(id: string, socket: WebSocket, sourceIp: string, authorizer: Record<string, string>): void {
    const connection: Connection = { id, socket, connectedAt: new Date(), lastActiveAt: new Date(), sourceIp, authorizer };
    this.connections.set(id, connection);
    const touch = () => {
      connection.lastActiveAt = new Date();
      clearTimeout(connection.idleTimer);
      connection.idleTimer = setTimeout(() => socket.close(1001, 'Going away'), this.idleMs);
    };
    touch();
    connection.lifeTimer = setTimeout(() => socket.close(1001, 'Going away'), this.maxMs);
    let queue = Promise.resolve();
    socket.on('message', (data: Buffer, isBinary) => {
      touch();
      queue = queue.then(async () => {
        await this.lambda.invoke(this.options.routes.default, {
          body: isBinary ? data.toString('base64') : data.toString('utf8'), isBase64Encoded: isBinary,
          requestContext: this.requestContext(id, '$default', 'MESSAGE', sourceIp, { authorizer, messageId: randomBytes(6).toString('hex') }),
        }).catch(() => undefined);
      });
    });
    // ws closes an oversized frame with 1009 itself, as API Gateway does.
    socket.on('error', () => socket.terminate());
    socket.on('close', () => {
      clearTimeout(connection.idleTimer);
      clearTimeout(connection.lifeTimer);
      this.connections.delete(id);
      queue = queue.then(async () => {
        await this.lambda.invoke(this.options.routes.disconnect, {
          requestContext: this.requestContext(id, '$disconnect', 'DISCONNECT', sourceIp, { authorizer }),
        }).catch(() => undefined);
      });
    });
  }

  /** POST/GET/DELETE /{stage}/@connections/{id}, as the management API. */
  private async management(req: IncomingMessage, res: import('node:http').ServerResponse): Promise<void> {
    const match = /^(?:\/[^/]+)?\/@connections\/([^/?]+)$/.exec(req.url ?? '');
    const reply = (status: number, body?: unknown, errorType?: string) => {
      res.writeHead(status, { 'content-type': 'application/json', ...(errorType ? { 'x-amzn-errortype': errorType } : {}) });
      res.end(body === undefined ? '' : JSON.stringify(body));
    };
    if (!match) return reply(404, { message: 'Not Found' });
    const connection = this.connections.get(decodeURIComponent(match[1]!));
    if (!connection || connection.socket.readyState !== WebSocket.OPEN) return reply(410, { message: 'Gone' }, 'GoneException');
    if (req.method === 'GET') {
      return reply(200, { connectedAt: connection.connectedAt.toISOString(), lastActiveAt: connection.lastActiveAt.toISOString(), identity: { sourceIp: connection.sourceIp } });
    }
    if (req.method === 'DELETE') {
      connection.socket.close(1000, 'Closed by the server');
      return reply(204);
    }
    if (req.method === 'POST') {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const data = Buffer.concat(chunks);
      if (data.length > MAX_MESSAGE_BYTES) return reply(413, { message: 'Request Entity Too Large' }, 'PayloadTooLargeException');
      connection.socket.send(data.toString('utf8'));
      connection.lastActiveAt = new Date();
      return reply(200);
    }
    return reply(405, { message: 'Method Not Allowed' });
  }
}
