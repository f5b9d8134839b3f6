import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GetConnectionCommand,
  GoneException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import WebSocket from 'ws';
import { postToConnection } from '../../core';
import { gatewayRoutesFrom, LocalGateway, type LocalGatewayOptions } from '../../local/cloud/local-gateway';
import { readLocalDeployment } from '../../local/cloud/local-deployment';
import { synthesizeTemplate } from '../../local/cloud/synthesize-template';
import type { FunctionInvoker } from '../../local/cloud/local-lambda';
import type { Caller } from '../../local/iam/iam-authorizer';
import { connectionsAccess } from '../helpers/connections-access';
import { freePort } from '../helpers/test-ports';

/** Callers of the @connections API: one allowed execute-api:ManageConnections on this API, one allowed nothing. */
const { authorizer, credentials, manager } = connectionsAccess();
const stranger = credentials.addUser({ kind: 'user', arn: 'arn:aws:iam::000000000000:user/stranger', policies: [] });

type Event = {
  requestContext: { connectionId: string; routeKey: string; authorizer?: Record<string, string> };
  headers?: Record<string, string>;
  body?: string;
};

const gateways: LocalGateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.stop()));
});

async function setup(limits: Partial<Omit<LocalGatewayOptions, 'port' | 'routes' | 'access'>> = {}, failDefault = false, disconnectMs = 0) {
  const events: Event[] = [];
  const callers: Caller[] = [];
  const invoker: FunctionInvoker = {
    invoke: async (route, raw, caller) => {
      const event = raw as Event;
      callers.push(caller);
      events.push({ ...event, requestContext: { ...event.requestContext, routeKey: route } });
      if (route === 'authorizer') {
        const allowed = event.headers?.authorization === 'Bearer good';
        return { policyDocument: { Statement: [{ Effect: allowed ? 'Allow' : 'Deny' }] }, context: allowed ? { tenantId: 'acme' } : {} };
      }
      if (route === 'default' && failDefault) throw new Error('the message function crashed');
      if (route === 'disconnect' && disconnectMs) {
        await new Promise((resolve) => setTimeout(resolve, disconnectMs));
        events.push({ requestContext: { connectionId: event.requestContext.connectionId, routeKey: 'disconnect recorded' } });
      }
      return { statusCode: 200 };
    },
  };
  const port = await freePort();
  const gateway = new LocalGateway(invoker, {
    port,
    routes: { authorizer: 'authorizer', connect: 'connect', disconnect: 'disconnect', default: 'default' },
    authorizerId: 'auth1',
    access: { authorizer, credentials },
    ...limits,
  });
  await gateway.start();
  gateways.push(gateway);
  const client = (key: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }) =>
    new ApiGatewayManagementApiClient({ endpoint: `http://127.0.0.1:${port}/prod`, region: 'us-east-1', credentials: key, maxAttempts: 1 });
  const management = client(manager);
  const open = async (token = 'good'): Promise<WebSocket> => {
    const socket = new WebSocket(`ws://127.0.0.1:${port}`, { headers: { Authorization: `Bearer ${token}` } });
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      socket.once('error', reject);
    });
    return socket;
  };
  const connectionId = () => events.find((e) => e.requestContext.routeKey === 'connect')!.requestContext.connectionId;
  return { gateway, management, client, port, open, events, callers, connectionId };
}

const closed = (socket: WebSocket) =>
  new Promise<{ code: number; reason: string }>((resolve) =>
    socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
const until = async (check: () => boolean) => {
  for (let i = 0; i < 100 && !check(); i++) await new Promise((r) => setTimeout(r, 20));
};

describe('the local gateway speaks the API Gateway WebSocket contract', () => {
  test('GIVEN an open connection and one its client has just closed WHEN the gateway stops (local mode shutting down) THEN both $disconnects finish before stop returns, while the functions they need still run (v14 re-check)', async () => {
    const { gateway, open, events } = await setup({}, false, 300);
    const leaving = await open();
    const staying = await open();
    leaving.close(); // the connector stopped first, as stopLocalMode does it
    await gateway.stop();
    expect(events.filter((e) => e.requestContext.routeKey === 'disconnect recorded')).toHaveLength(2);
    expect(staying.readyState).toBe(WebSocket.CLOSED);
  });

  test('GIVEN a bad credential WHEN connecting THEN the authorizer refuses with 403 and $connect never runs', async () => {
    const { open, events } = await setup();
    await expect(open('bad')).rejects.toThrow('HTTP 403');
    expect(events.map((e) => e.requestContext.routeKey)).toEqual(['authorizer']);
  });

  test('GIVEN a connection WHEN it sends THEN $default gets the body with the authorizer context; @connections reaches it back', async () => {
    const { management, open, events, connectionId } = await setup();
    const socket = await open();
    const received = new Promise<string>((resolve) => socket.once('message', (data) => resolve(data.toString())));
    socket.send('{"type":"progress"}');
    await until(() => events.some((e) => e.requestContext.routeKey === 'default'));
    const message = events.find((e) => e.requestContext.routeKey === 'default')!;
    expect(message.body).toBe('{"type":"progress"}');
    expect(message.requestContext.authorizer).toEqual({ tenantId: 'acme' });
    await management.send(new PostToConnectionCommand({ ConnectionId: connectionId(), Data: Buffer.from('{"type":"backup-job"}') }));
    expect(await received).toBe('{"type":"backup-job"}');
    const info = await management.send(new GetConnectionCommand({ ConnectionId: connectionId() }));
    expect(info.Identity?.SourceIp).toBe('127.0.0.1');
    const closing = closed(socket);
    await management.send(new DeleteConnectionCommand({ ConnectionId: connectionId() }));
    await closing;
    await until(() => events.some((e) => e.requestContext.routeKey === 'disconnect'));
    await expect(
      management.send(new PostToConnectionCommand({ ConnectionId: connectionId(), Data: Buffer.from('x') })),
    ).rejects.toBeInstanceOf(GoneException);
  });

  test('GIVEN a connector that went away WHEN the cloud sends it a message (core postToConnection, every sender) THEN it is "gone" and its record is forgotten; a live one gets it and stays', async () => {
    const { open, management, events, connectionId } = await setup();
    const socket = await open();
    const live = connectionId();
    const removed: string[] = [];
    const connections = { remove: async (id: string) => void removed.push(id) };
    const received = new Promise<string>((resolve) => socket.once('message', (data) => resolve(String(data))));
    expect(await postToConnection({ management, connections }, live, '{"type":"cancel-job"}')).toBe('sent');
    expect(await received).toBe('{"type":"cancel-job"}');
    expect(removed).toEqual([]);
    const closing = closed(socket);
    socket.close();
    await closing;
    await until(() => events.some((e) => e.requestContext.routeKey === 'disconnect'));
    expect(await postToConnection({ management, connections }, live, '{"type":"cancel-job"}')).toBe('gone');
    expect(removed).toEqual([live]);
  });

  test('GIVEN a caller not allowed to manage connections WHEN postToConnection THEN the AccessDenied is thrown, not taken for a gone connection', async () => {
    const { open, client, connectionId } = await setup();
    await open();
    const removed: string[] = [];
    await expect(
      postToConnection({ management: client(stranger), connections: { remove: async (id) => void removed.push(id) } }, connectionId(), 'x'),
    ).rejects.toThrow();
    expect(removed).toEqual([]);
  });

  test("GIVEN API Gateway invoking the routes WHEN a connector connects and sends THEN each function is invoked as apigateway.amazonaws.com with the route's source ARN (what the functions' permissions allow)", async () => {
    const { open, callers, events } = await setup();
    const socket = await open();
    socket.send('{}');
    await until(() => events.some((e) => e.requestContext.routeKey === 'default'));
    expect(callers.slice(0, 3)).toEqual([
      {
        kind: 'service',
        service: 'apigateway.amazonaws.com',
        sourceArn: 'arn:aws:execute-api:us-east-1:000000000000:local/authorizers/auth1',
        sourceAccount: '000000000000',
      },
      {
        kind: 'service',
        service: 'apigateway.amazonaws.com',
        sourceArn: 'arn:aws:execute-api:us-east-1:000000000000:local/prod/$connect',
        sourceAccount: '000000000000',
      },
      {
        kind: 'service',
        service: 'apigateway.amazonaws.com',
        sourceArn: 'arn:aws:execute-api:us-east-1:000000000000:local/prod/$default',
        sourceAccount: '000000000000',
      },
    ]);
    socket.close();
  });

  test('GIVEN the @connections API WHEN called unsigned, with a wrong secret, or by a principal without execute-api:ManageConnections THEN it is refused as API Gateway refuses it; only the allowed caller gets through', async () => {
    const { client, port, open, connectionId } = await setup();
    const socket = await open();
    const unsigned = await fetch(`http://127.0.0.1:${port}/prod/@connections/${encodeURIComponent(connectionId())}`);
    expect(unsigned.status).toBe(403);
    expect(unsigned.headers.get('x-amzn-errortype')).toBe('MissingAuthenticationTokenException');
    await expect(
      client({ ...manager, secretAccessKey: 'not-the-secret' }).send(new GetConnectionCommand({ ConnectionId: connectionId() })),
    ).rejects.toMatchObject({ name: 'InvalidSignatureException' });
    const refused = client(stranger).send(new PostToConnectionCommand({ ConnectionId: connectionId(), Data: Buffer.from('{}') }));
    await expect(refused).rejects.toMatchObject({
      name: 'AccessDeniedException',
      $metadata: { httpStatusCode: 403 },
      message: `User: arn:aws:iam::000000000000:user/stranger is not authorized to perform: execute-api:ManageConnections on resource: arn:aws:execute-api:us-east-1:000000000000:local/prod/POST/@connections/${encodeURIComponent(connectionId())} because no identity-based policy allows the execute-api:ManageConnections action`,
    });
    expect((await client(manager).send(new GetConnectionCommand({ ConnectionId: connectionId() }))).Identity?.SourceIp).toBe('127.0.0.1');
    socket.close();
  });

  test('GIVEN a frame over 128 KB WHEN sent THEN the connection is closed with 1009, as API Gateway does', async () => {
    const { open } = await setup();
    const socket = await open();
    const closing = closed(socket);
    socket.send('x'.repeat(128 * 1024 + 1));
    expect((await closing).code).toBe(1009);
  });

  test('GIVEN an idle connection WHEN the idle timeout passes THEN it is closed with 1001 Going away', async () => {
    const { open } = await setup({ idleTimeoutMs: 300 });
    const socket = await open();
    expect(await closed(socket)).toEqual({ code: 1001, reason: 'Going away' });
  });

  test('GIVEN a busy connection WHEN the maximum connection time passes THEN it is closed anyway', async () => {
    const { open } = await setup({ maxConnectionMs: 400, idleTimeoutMs: 10_000 });
    const socket = await open();
    const keepBusy = setInterval(() => socket.send('{}'), 50);
    const result = await closed(socket);
    clearInterval(keepBusy);
    expect(result.code).toBe(1001);
  });
});

describe("the local gateway enforces the stage's throttle and answers as API Gateway does", () => {
  const frames = (socket: WebSocket) => {
    const received: Array<Record<string, unknown>> = [];
    socket.on('message', (data) => received.push(JSON.parse(data.toString()) as Record<string, unknown>));
    return received;
  };

  test("GIVEN the synthesized template WHEN read as a deployment THEN the gateway gets the stage's throttle (50/s, burst 100), route selection on type and a MOCK heartbeat route", () => {
    const options = gatewayRoutesFrom(readLocalDeployment(synthesizeTemplate()).webSocket);
    expect(options).toMatchObject({
      throttle: { rateLimit: 50, burstLimit: 100 },
      routeSelectionExpression: '$request.body.type',
      mockRoutes: ['heartbeat'],
    });
    expect(options.routes.default).toMatch(/:function:ConnectorApiMessage/);
  });

  test('GIVEN a burst of 30 frames over a throttle of 1/s, burst 10 WHEN sent at once THEN about 10 reach $default, the rest get a "Too Many Requests" frame, and the connection stays open for more', async () => {
    const { open, events, gateway } = await setup({ throttle: { rateLimit: 1, burstLimit: 10 } });
    const socket = await open(); // $connect took a token too
    const received = frames(socket);
    for (let i = 0; i < 30; i++) socket.send(`{"type":"progress","n":${i}}`);
    const delivered = () => events.filter((e) => e.requestContext.routeKey === 'default').length;
    await until(() => delivered() + received.length === 30);
    expect(delivered()).toBeGreaterThanOrEqual(9);
    expect(delivered()).toBeLessThanOrEqual(11); // 9 tokens left after $connect, plus what refilled meanwhile
    expect(received[0]).toEqual({ message: 'Too Many Requests', connectionId: expect.any(String), requestId: expect.any(String) });
    expect(gateway.counters.throttledMessages).toBe(received.length);
    const before = delivered();
    await new Promise((r) => setTimeout(r, 1100)); // a token back
    socket.send('{"type":"progress","n":"later"}');
    await until(() => delivered() === before + 1);
    expect(events.filter((e) => e.requestContext.routeKey === 'default').at(-1)!.body).toBe('{"type":"progress","n":"later"}');
    expect(socket.readyState).toBe(WebSocket.OPEN);
  });

  test('GIVEN an empty bucket WHEN a connector dials THEN the upgrade is refused with 429 before the authorizer runs', async () => {
    const { open, events } = await setup({ throttle: { rateLimit: 0.5, burstLimit: 1 } });
    await open();
    await expect(open()).rejects.toThrow('HTTP 429');
    expect(events.filter((e) => e.requestContext.routeKey === 'authorizer')).toHaveLength(1);
  });

  test('GIVEN route selection on type with a MOCK heartbeat route WHEN a heartbeat arrives THEN nothing is invoked, it keeps the connection from going idle, and other types reach $default', async () => {
    const { open, events, gateway } = await setup({
      routeSelectionExpression: '$request.body.type',
      mockRoutes: ['heartbeat'],
      idleTimeoutMs: 1500,
    });
    const socket = await open();
    let sent = 0;
    const beat = setInterval(() => {
      socket.send('{"type":"heartbeat","v":1}');
      sent++;
    }, 200);
    await new Promise((r) => setTimeout(r, 4000)); // more than twice the idle timeout
    clearInterval(beat);
    expect(socket.readyState).toBe(WebSocket.OPEN);
    await until(() => gateway.counters.mockMessages === sent);
    expect(gateway.counters.mockMessages).toBe(sent);
    socket.send('{"type":"progress","v":1}');
    socket.send('not json');
    await until(() => events.filter((e) => e.requestContext.routeKey === 'default').length === 2);
    expect(events.filter((e) => e.requestContext.routeKey === 'default').map((e) => e.body)).toEqual([
      '{"type":"progress","v":1}',
      'not json',
    ]);
  });

  test('GIVEN a $default integration that fails WHEN a message arrives THEN the sender gets an "Internal server error" frame and stays connected', async () => {
    const { open } = await setup({}, true);
    const socket = await open();
    const received = frames(socket);
    socket.send('{"type":"result"}');
    await until(() => received.length === 1);
    expect(received[0]).toMatchObject({ message: 'Internal server error' });
    expect(socket.readyState).toBe(WebSocket.OPEN);
  });
});
