import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { GATEWAY_INTEGRATION_FAILED, GATEWAY_THROTTLED, MAX_MESSAGE_BYTES, TokenBucket } from '../../protocol';
import { connectionsRequest } from '../iam/aws-requests';
import { accessDenied, type ErrorAnswer, signatureRefused } from '../iam/aws-errors';
import type { Caller, IamAuthorizer } from '../iam/iam-authorizer';
import type { LocalCredentials } from '../iam/local-credentials';
import { decodeUriPart, verifySigV4 } from '../iam/sigv4-verifier';
import type { LocalDeployment } from './local-deployment';
import type { FunctionInvoker } from './local-lambda';
import { LOCAL_ACCOUNT, LOCAL_REGION } from './resolve-template';
import { selectRoute } from './route-selection';

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
  /** The API's id and its authorizer's id: API Gateway invokes the functions with source ARNs made of them. @default 'local', 'authorizer' */
  readonly apiId?: string;
  readonly authorizerId?: string;
  /** Who may call the @connections management API: SigV4-signed callers allowed execute-api:ManageConnections. */
  readonly access: { authorizer: IamAuthorizer; credentials: LocalCredentials };
  /**
   * With a certificate, the API also answers wss:// and https:// on `tlsPort`, and names that as
   * its domain in events (functions derive the @connections URL https://{domainName}/{stage}
   * from it, as in AWS, where one domain serves both).
   */
  readonly tls?: { cert: string; key: string; port: number };
  /** A route's integration failed (what API Gateway's execution logs would show). */
  readonly onError?: (what: string, error: unknown) => void;
  /** Routes API Gateway answers itself (MOCK integrations): nothing is invoked. @default none */
  readonly mockRoutes?: readonly string[];
  /** The API's route selection expression. @default '$request.body.action' */
  readonly routeSelectionExpression?: string;
  /**
   * The stage's throttle (its default route settings): one token bucket shared by every
   * connection and route, $connect included. @default none (unthrottled)
   */
  readonly throttle?: { readonly rateLimit: number; readonly burstLimit: number };
  /** Fault injection for tests: the next N `result` messages are lost after the gateway took them (no error frame). */
  readonly dropResults?: number;
}

/** The gateway options the template defines: routes, MOCK routes, route selection and the stage's throttle. */
export function gatewayRoutesFrom(
  webSocket: LocalDeployment['webSocket'],
): Pick<LocalGatewayOptions, 'routes' | 'mockRoutes' | 'routeSelectionExpression' | 'throttle'> {
  const { routes } = webSocket;
  return {
    routes: {
      authorizer: webSocket.authorizer,
      connect: routes.$connect ?? '',
      disconnect: routes.$disconnect ?? '',
      default: routes.$default ?? '',
    },
    mockRoutes: webSocket.mockRoutes,
    routeSelectionExpression: webSocket.routeSelectionExpression,
    throttle: webSocket.throttle,
  };
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
 * upgrade completes, route selection for each message (a MOCK route invokes nothing, any other
 * message goes to $default), $disconnect on close — all invoking the same handlers with
 * API-Gateway-shaped events, as apigateway.amazonaws.com with the route's source ARN (the
 * functions' resource policies decide) — plus the `@connections/{id}` management API
 * (POST/GET/DELETE) that `@aws-sdk/client-apigatewaymanagementapi` calls, for SigV4-signed callers
 * allowed execute-api:ManageConnections only. It enforces API Gateway's limits: 128 KB frames
 * (close 1009), idle timeout and maximum connection time (close 1001), and the stage's throttle: a
 * throttled message is answered with a `Too Many Requests` frame and dropped (the connection stays
 * open), a throttled $connect with HTTP 429; a failed integration is answered with an
 * `Internal server error` frame.
 */
export class LocalGateway {
  private readonly connections = new Map<string, Connection>();
  /** $disconnect invocations not yet finished (stop() waits for them). */
  private readonly disconnects = new Set<Promise<void>>();
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });
  private readonly servers: Array<Server | TlsServer> = [];
  private readonly stage: string;
  private readonly idleMs: number;
  private readonly maxMs: number;
  private readonly throttle?: TokenBucket;
  private readonly routeKeys: ReadonlySet<string>;
  private dropResults: number;
  /** Messages and connection attempts the stage's throttle refused, and integration failures answered with an error frame. */
  readonly counters = { throttledMessages: 0, throttledConnects: 0, integrationErrors: 0, mockMessages: 0, messages: 0, droppedResults: 0 };

  constructor(
    private readonly lambda: FunctionInvoker,
    private readonly options: LocalGatewayOptions,
  ) {
    this.stage = options.stage ?? 'prod';
    this.idleMs = options.idleTimeoutMs ?? 10 * 60 * 1000;
    this.maxMs = options.maxConnectionMs ?? 2 * 60 * 60 * 1000;
    if (options.throttle) this.throttle = new TokenBucket(options.throttle.rateLimit, options.throttle.burstLimit);
    this.routeKeys = new Set(options.mockRoutes ?? []);
    this.dropResults = options.dropResults ?? 0;
  }

  /** API Gateway's own frame, sent for a message it did not deliver (throttled, or its integration failed). */
  private errorFrame(socket: WebSocket, message: string, connectionId: string): void {
    if (socket.readyState === WebSocket.OPEN)
      socket.send(JSON.stringify({ message, connectionId, requestId: `${randomBytes(6).toString('base64url')}=` }));
  }

  get domainName(): string {
    return `${this.options.host ?? '127.0.0.1'}:${this.options.tls?.port ?? this.options.port}`;
  }

  private get apiId(): string {
    return this.options.apiId ?? 'local';
  }

  async start(): Promise<void> {
    // API Gateway's upgrade response carries a Date header; connectors use it to check their clock.
    this.wss.on('headers', (headers) => headers.push(`Date: ${new Date().toUTCString()}`));
    const serve = (server: Server | TlsServer) => {
      server.on('request', (req: IncomingMessage, res: ServerResponse) => void this.management(req, res));
      server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => void this.upgrade(req, socket, head));
      return server;
    };
    const listen = async (server: Server | TlsServer, port: number) => {
      serve(server).listen(port, this.options.host ?? '127.0.0.1');
      await once(server, 'listening');
      this.servers.push(server);
    };
    await listen(createServer(), this.options.port);
    if (this.options.tls) await listen(createTlsServer({ cert: this.options.tls.cert, key: this.options.tls.key }), this.options.tls.port);
  }

  /**
   * Closes every connection and waits for each one's $disconnect to finish — also one queued by a
   * client that closed just before — then closes the listeners. The caller stops the functions and
   * the AWS endpoint after this: $disconnect records the connection's end in DynamoDB through them,
   * so stopping them first lost it (a "function is stopping" error, and no disconnect time).
   */
  async stop(): Promise<void> {
    await Promise.all(
      [...this.connections.values()].map(
        ({ socket }) =>
          new Promise<void>((resolve) => {
            socket.once('close', () => resolve());
            socket.terminate();
          }),
      ),
    );
    await Promise.all(this.disconnects);
    await Promise.all(
      this.servers.splice(0).map((server) => {
        const closing = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections(); // management API clients keep connections alive
        return closing;
      }),
    );
  }

  /** API Gateway invoking a route's function: the function's resource policy must allow it for this API and route. */
  private callerFor(routeKey: string): Caller {
    const sourceArn =
      routeKey === 'authorizer'
        ? `arn:aws:execute-api:${LOCAL_REGION}:${LOCAL_ACCOUNT}:${this.apiId}/authorizers/${this.options.authorizerId ?? 'authorizer'}`
        : `arn:aws:execute-api:${LOCAL_REGION}:${LOCAL_ACCOUNT}:${this.apiId}/${this.stage}/${routeKey}`;
    return { kind: 'service', service: 'apigateway.amazonaws.com', sourceArn, sourceAccount: LOCAL_ACCOUNT };
  }

  private requestContext(connectionId: string, routeKey: string, eventType: string, sourceIp: string, extra: Record<string, unknown> = {}) {
    return {
      routeKey,
      eventType,
      connectionId,
      extendedRequestId: randomBytes(8).toString('hex'),
      requestId: randomBytes(8).toString('hex'),
      messageDirection: 'IN',
      stage: this.stage,
      domainName: this.domainName,
      apiId: 'local',
      requestTimeEpoch: Date.now(),
      connectedAt: Date.now(),
      identity: { sourceIp },
      ...extra,
    };
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const refuse = (status: number, text: string) => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    if (this.throttle && !this.throttle.tryTake()) {
      this.counters.throttledConnects++;
      return refuse(429, 'Too Many Requests');
    }
    const connectionId = `${randomBytes(9).toString('base64url')}=`;
    const sourceIp = req.socket.remoteAddress ?? '127.0.0.1';
    const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : (v ?? '')]));
    try {
      const decision = (await this.lambda.invoke(
        this.options.routes.authorizer,
        {
          type: 'REQUEST',
          methodArn: `arn:aws:execute-api:${LOCAL_REGION}:${LOCAL_ACCOUNT}:${this.apiId}/${this.stage}/$connect`,
          headers,
          requestContext: this.requestContext(connectionId, '$connect', 'CONNECT', sourceIp),
        },
        this.callerFor('authorizer'),
      )) as { policyDocument?: { Statement?: Array<{ Effect?: string }> }; context?: Record<string, string> };
      if (decision.policyDocument?.Statement?.[0]?.Effect !== 'Allow') return refuse(403, 'Forbidden');
      const authorizer = decision.context ?? {};
      const connected = (await this.lambda.invoke(
        this.options.routes.connect,
        {
          headers,
          isBase64Encoded: false,
          requestContext: this.requestContext(connectionId, '$connect', 'CONNECT', sourceIp, { authorizer }),
        },
        this.callerFor('$connect'),
      )) as { statusCode?: number };
      if ((connected?.statusCode ?? 200) >= 300) return refuse(403, 'Forbidden');
      this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(connectionId, ws, sourceIp, authorizer));
    } catch (error) {
      // API Gateway answers 500 when the authorizer or $connect integration fails; its logs say why.
      this.options.onError?.(`$connect ${connectionId}`, error);
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
      this.counters.messages++;
      if (this.throttle && !this.throttle.tryTake()) {
        this.counters.throttledMessages++;
        this.errorFrame(socket, GATEWAY_THROTTLED, id);
        return;
      }
      const body = isBinary ? undefined : data.toString('utf8');
      const route = selectRoute(this.options.routeSelectionExpression ?? '$request.body.action', body, this.routeKeys);
      if (route !== '$default') {
        this.counters.mockMessages++; // a MOCK integration: API Gateway answers it itself, a one-way route sends nothing back
        return;
      }
      if (this.dropResults > 0 && body?.includes('"type":"result"')) {
        this.dropResults--;
        this.counters.droppedResults++;
        return;
      }
      queue = queue.then(async () => {
        await this.lambda
          .invoke(
            this.options.routes.default,
            {
              body: body ?? data.toString('base64'),
              isBase64Encoded: isBinary,
              requestContext: this.requestContext(id, '$default', 'MESSAGE', sourceIp, {
                authorizer,
                messageId: randomBytes(6).toString('hex'),
              }),
            },
            this.callerFor('$default'),
          )
          .catch((error: unknown) => {
            this.options.onError?.(`$default ${id}`, error);
            this.counters.integrationErrors++;
            this.errorFrame(socket, GATEWAY_INTEGRATION_FAILED, id);
          });
      });
    });
    // ws closes an oversized frame with 1009 itself, as API Gateway does.
    socket.on('error', () => socket.terminate());
    socket.on('close', () => {
      clearTimeout(connection.idleTimer);
      clearTimeout(connection.lifeTimer);
      this.connections.delete(id);
      const disconnected = queue.then(async () => {
        await this.lambda
          .invoke(
            this.options.routes.disconnect,
            {
              requestContext: this.requestContext(id, '$disconnect', 'DISCONNECT', sourceIp, { authorizer }),
            },
            this.callerFor('$disconnect'),
          )
          .catch((error: unknown) => this.options.onError?.(`$disconnect ${id}`, error));
      });
      queue = disconnected;
      this.disconnects.add(disconnected);
      void disconnected.finally(() => this.disconnects.delete(disconnected));
    });
  }

  /** POST/GET/DELETE /{stage}/@connections/{id}, as the management API: signed, authorized callers only. */
  private async management(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const match = /^\/([^/]+)\/@connections\/([^/?]+)$/.exec(req.url ?? '');
    const reply = (status: number, body?: unknown, errorType?: string) => {
      res.writeHead(status, { 'content-type': 'application/json', ...(errorType ? { 'x-amzn-errortype': errorType } : {}) });
      res.end(body === undefined ? '' : JSON.stringify(body));
    };
    const refuse = (answer: ErrorAnswer) => {
      res.writeHead(answer.status, answer.headers);
      res.end(answer.body);
    };
    // API Gateway answers an unknown path as it answers an unsigned call: with a missing token.
    if (!match || match[1] !== this.stage)
      return refuse(signatureRefused('execute-api', 'MissingAuthenticationToken', 'Missing Authentication Token'));
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const data = Buffer.concat(chunks);
    const { credentials, authorizer } = this.options.access;
    const [path = '', query = ''] = (req.url ?? '').split(/\?(.*)/s);
    const verified = await verifySigV4({ method: req.method ?? 'GET', path, query, headers: req.headers, body: data }, (id) =>
      credentials.lookup(id),
    );
    if (!verified.ok) return refuse(signatureRefused('execute-api', verified.failure, verified.message));
    const derived = connectionsRequest(req.method ?? 'GET', path, this.apiId);
    for (const check of derived.checks) {
      const decision = await authorizer.decide(credentials.lookup(verified.accessKeyId)!.caller, check);
      if (!decision.allowed) return refuse(accessDenied('execute-api', decision.message));
    }
    let connectionId: string;
    try {
      connectionId = decodeUriPart(match[2]!);
    } catch (error) {
      return reply(400, { message: (error as Error).message }, 'BadRequestException');
    }
    const connection = this.connections.get(connectionId);
    if (!connection || connection.socket.readyState !== WebSocket.OPEN) return reply(410, { message: 'Gone' }, 'GoneException');
    if (req.method === 'GET') {
      return reply(200, {
        connectedAt: connection.connectedAt.toISOString(),
        lastActiveAt: connection.lastActiveAt.toISOString(),
        identity: { sourceIp: connection.sourceIp },
      });
    }
    if (req.method === 'DELETE') {
      connection.socket.close(1000, 'Closed by the server');
      return reply(204);
    }
    if (req.method === 'POST') {
      if (data.length > MAX_MESSAGE_BYTES) return reply(413, { message: 'Request Entity Too Large' }, 'PayloadTooLargeException');
      connection.socket.send(data.toString('utf8'));
      connection.lastActiveAt = new Date();
      return reply(200);
    }
    return reply(405, { message: 'Method Not Allowed' });
  }
}
