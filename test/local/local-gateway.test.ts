import { ApiGatewayManagementApiClient, DeleteConnectionCommand, GetConnectionCommand, GoneException, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import WebSocket from 'ws';
import { LocalGateway } from '../../local/cloud/local-gateway';
import type { FunctionInvoker } from '../../local/cloud/local-lambda';
import { freePort } from '../helpers/test-ports';

type Event = { requestContext: { connectionId: string; routeKey: string; authorizer?: Record<string, string> }; headers?: Record<string, string>; body?: string };

const gateways: LocalGateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.stop()));
});

async function setup(limits: { idleTimeoutMs?: number; maxConnectionMs?: number } = {}) {
  const events: Event[] = [];
  const invoker: FunctionInvoker = {
    invoke: async (route, raw) => {
      const event = raw as Event;
      events.push({ ...event, requestContext: { ...event.requestContext, routeKey: route } });
      if (route === 'authorizer') {
        const allowed = event.headers?.authorization === 'Bearer good';
        return { policyDocument: { Statement: [{ Effect: allowed ? 'Allow' : 'Deny' }] }, context: allowed ? { tenantId: 'acme' } : {} };
      }
      return { statusCode: 200 };
    },
  };
  const port = await freePort();
  const gateway = new LocalGateway(invoker, { port, routes: { authorizer: 'authorizer', connect: 'connect', disconnect: 'disconnect', default: 'default' }, ...limits });
  await gateway.start();
  gateways.push(gateway);
  const management = new ApiGatewayManagementApiClient({ endpoint: `http://127.0.0.1:${port}/prod`, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 's' } });
  const open = async (token = 'good') => {
    const socket = new WebSocket(`ws://127.0.0.1:${port}`, { headers: { Authorization: `Bearer ${token}` } });
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      socket.once('error', reject);
    });
    return socket;
  };
  const connectionId = () => events.find((e) => e.requestContext.routeKey === 'connect')!.requestContext.connectionId;
  return { gateway, management, open, events, connectionId };
}

const closed = (socket: WebSocket) => new Promise<{ code: number; reason: string }>((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
const until = async (check: () => boolean) => {
  for (let i = 0; i < 100 && !check(); i++) await new Promise((r) => setTimeout(r, 20));
};

describe('the local gateway speaks the API Gateway WebSocket contract', () => {
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
    await expect(management.send(new PostToConnectionCommand({ ConnectionId: connectionId(), Data: Buffer.from('x') }))).rejects.toBeInstanceOf(GoneException);
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
