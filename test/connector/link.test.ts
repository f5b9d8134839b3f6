import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { Link, type LinkOptions } from '../../connector/src/link/link';
import { Outbox } from '../../connector/src/link/outbox';
import type { LocalGatewayOptions } from '../../local/cloud/local-gateway';
import type { ResultMessage } from '../../protocol';
import { startFreezableProxy } from '../helpers/freezable-proxy';
import { scriptedCloud } from '../helpers/scripted-cloud';

/**
 * The connector's link against the local gateway (API Gateway's contract: throttle, error frames,
 * @connections), with a scripted cloud behind $default: what arrives, and acks when it says so.
 */
const stops: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

async function cloud(
  options: Partial<Omit<LocalGatewayOptions, 'port' | 'routes' | 'access'>> = {},
  ackResults: (attempt: number) => boolean = () => true,
  atPort?: number,
) {
  const c = await scriptedCloud({ gateway: options, ackResults, port: atPort });
  stops.push(c.stop);
  return c;
}

function link(port: number, options: Partial<LinkOptions> = {}) {
  const outbox = new Outbox(path.join(mkdtempSync(path.join(tmpdir(), 'so-backup-link-')), 'outbox'));
  const l = new Link({
    endpoint: `ws://127.0.0.1:${port}`,
    authorization: () => 'test',
    connectorVersion: 'test',
    logger: pino({ level: 'silent' }),
    outbox,
    backoff: { baseMs: 50, capMs: 200 },
    ...options,
  });
  stops.push(() => l.stop());
  return { link: l, outbox };
}

const connected = (l: Link) => new Promise<void>((resolve) => (l.connected ? resolve() : l.once('connected', () => resolve())));
const until = async (check: () => boolean | Promise<boolean>, ms = 10_000) => {
  for (const end = Date.now() + ms; !(await check()); await new Promise((r) => setTimeout(r, 20)))
    if (Date.now() > end) throw new Error('timed out waiting');
};
const result = (runId: string): ResultMessage => ({
  type: 'result',
  v: 1,
  runId,
  outcome: 'failed',
  error: { code: 'TEST', message: 'a result' },
});

describe('the connector link keeps its message budget and loses nothing', () => {
  test('GIVEN a result the cloud does not acknowledge WHEN time passes THEN it is sent again on a timer on the same connection until acknowledged', async () => {
    const { port, received, connects } = await cloud({}, (attempt) => attempt >= 3);
    const { link: l, outbox } = link(port, { resultResendMs: 100, resultResendCapMs: 400 });
    l.start();
    await connected(l);
    await l.deliver(result('acme-2026-11-25-daily'));
    await until(async () => (await outbox.all()).length === 0);
    const results = () => received.filter((r) => r.body.includes('"type":"result"')).length;
    // Acknowledged at the third; on a busy machine the next timer may fire while the ack is on its way.
    expect(results()).toBeGreaterThanOrEqual(3);
    const afterAck = results();
    await new Promise((resolve) => setTimeout(resolve, 1_000)); // well past the 400 ms cap: nothing more once acknowledged
    expect(results()).toBeLessThanOrEqual(afterAck + 1);
    expect(connects).toHaveLength(1); // no reconnect needed
  });

  test('GIVEN a result lost by the gateway without a word WHEN the resend timer fires THEN the cloud gets it and acknowledges it', async () => {
    const { port, received, gateway } = await cloud({ dropResults: 1 });
    const { link: l, outbox } = link(port, { resultResendMs: 150 });
    l.start();
    await connected(l);
    await l.deliver(result('acme-2026-11-26-daily'));
    await until(async () => (await outbox.all()).length === 0);
    expect(gateway.counters.droppedResults).toBe(1);
    expect(received.filter((r) => r.body.includes('"type":"result"'))).toHaveLength(1);
  });

  test('GIVEN a stage throttle of 2/s, burst 2 WHEN the connector sends a result among progress THEN the throttled ones are sent again after a back-off, the result first, and all arrive', async () => {
    const { port, received, gateway } = await cloud({ throttle: { rateLimit: 2, burstLimit: 2 } });
    // A connector with a generous own budget, so that the stage's throttle is what bites.
    const { link: l, outbox } = link(port, {
      connectionBurst: 50,
      connectionRefillMs: 10,
      throttleBackoff: { baseMs: 300, capMs: 1000 },
      resultResendMs: 60_000,
    });
    const undelivered: string[] = [];
    l.on('undelivered', (reason, type) => undelivered.push(`${reason}:${type}`));
    l.start();
    await connected(l); // $connect took a token
    for (let i = 0; i < 3; i++)
      l.sendIfConnected({ type: 'progress', v: 1, runId: `acme-2026-11-2${i}-daily`, phase: 'upload', percent: i });
    await l.deliver(result('acme-2026-11-27-daily'));
    await until(async () => (await outbox.all()).length === 0, 30_000); // back-offs of up to 1 s each, on a machine that may be busy
    expect(gateway.counters.throttledMessages).toBeGreaterThan(0);
    expect(undelivered.length).toBeGreaterThan(0);
    expect(undelivered.every((u) => u.startsWith('Too Many Requests:'))).toBe(true);
    // Every progress arrives; one may arrive twice (a frame does not say which message it answers, so
    // every recent one goes again — the cloud is idempotent), hence distinct runs, not a count of frames.
    const progressRuns = () =>
      new Set(received.filter((r) => r.body.includes('"type":"progress"')).map((r) => (JSON.parse(r.body) as { runId: string }).runId));
    await until(() => progressRuns().size === 3, 30_000);
  });

  test('GIVEN a runaway caller WHEN it queues 40 progress messages at once THEN the link sends at most its burst now and only the newest of each run later', async () => {
    const { port, received } = await cloud();
    const { link: l } = link(port, { connectionBurst: 3, connectionRefillMs: 200 });
    l.start();
    await connected(l);
    for (let i = 0; i < 40; i++) l.sendIfConnected({ type: 'progress', v: 1, runId: 'acme-2026-11-28-daily', phase: 'upload', percent: i });
    await new Promise((r) => setTimeout(r, 100));
    expect(received).toHaveLength(3);
    await until(() => received.length === 4, 2000);
    await new Promise((r) => setTimeout(r, 500));
    expect(received).toHaveLength(4);
    expect(JSON.parse(received[3]!.body)).toMatchObject({ percent: 39 });
  });

  test('GIVEN a connection that goes half-open WHEN pings stay unanswered THEN the link replaces it within the pong timeout and a queued result arrives on the new one', async () => {
    const { port, received, connects } = await cloud();
    const proxy = await startFreezableProxy(port);
    stops.push(() => proxy.stop());
    const { link: l, outbox } = link(proxy.port, { pingMs: 100, pongTimeoutMs: 400, resultResendMs: 60_000 });
    let halfOpen = 0;
    l.on('half-open', () => halfOpen++);
    l.start();
    await connected(l);
    await new Promise((r) => setTimeout(r, 300)); // pongs seen: the endpoint answers pings
    expect(proxy.freeze()).toBe(1);
    const frozenAt = Date.now();
    await l.deliver(result('acme-2026-11-29-daily')); // sent into the dead connection
    await until(() => connects.length === 2, 5000);
    expect(halfOpen).toBe(1);
    expect(Date.now() - frozenAt).toBeLessThan(1500);
    await until(async () => (await outbox.all()).length === 0);
    expect(received.filter((r) => r.body.includes('"type":"result"')).map((r) => r.connectionId)).toEqual([connects[1]]);
  });

  test('GIVEN a quiet connection WHEN the heartbeat interval passes THEN one heartbeat goes to the MOCK route; traffic postpones it', async () => {
    const { port, received, gateway } = await cloud();
    const { link: l } = link(port, { heartbeatMs: 300 });
    l.start();
    await connected(l);
    await until(() => gateway.counters.mockMessages === 1, 2000);
    expect(received).toHaveLength(0); // no Lambda call for a heartbeat
    l.sendIfConnected({ type: 'progress', v: 1, runId: 'acme-2026-11-30-daily', phase: 'upload', percent: 1 });
    await new Promise((r) => setTimeout(r, 200));
    expect(gateway.counters.mockMessages).toBe(1);
  });
});

describe('the connector link rests between check-ins (issue 18: presence)', () => {
  const closes = (l: Link) => {
    const codes: number[] = [];
    l.on('disconnected', (code) => codes.push(code));
    return codes;
  };

  test('GIVEN a connected link WHEN it rests until an instant THEN it closes with 1000, does not reconnect before the instant, and connects at it', async () => {
    const { port, connects } = await cloud();
    const { link: l } = link(port);
    const codes = closes(l);
    const resting: number[] = [];
    l.on('resting', (at) => resting.push(at));
    l.start();
    await connected(l);
    const at = Date.now() + 1500;
    l.rest(at, 'checked in; nothing to do');
    await until(() => codes.length === 1);
    expect(codes).toEqual([1000]);
    expect(resting).toEqual([at]);
    expect(l.restingUntilMs).toBe(at);
    await new Promise((r) => setTimeout(r, 1000));
    expect(connects).toHaveLength(1); // the back-off (50-200 ms here) would have dialled long ago
    await until(() => connects.length === 2, 5000);
    expect(Date.now()).toBeGreaterThanOrEqual(at);
    await until(() => l.connected);
    expect(l.restingUntilMs).toBeUndefined();
  });

  test('GIVEN a resting link WHEN a result is delivered THEN it connects at once and the result is acknowledged', async () => {
    const { port, connects, received } = await cloud();
    const { link: l, outbox } = link(port);
    const codes = closes(l);
    l.start();
    await connected(l);
    l.rest(Date.now() + 10 * 60_000, 'checked in; nothing to do');
    await until(() => codes.length === 1);
    const deliveredAt = Date.now();
    await l.deliver(result('acme-2026-12-01-daily'));
    await until(async () => (await outbox.all()).length === 0, 5000);
    expect(Date.now() - deliveredAt).toBeLessThan(5000);
    expect(connects).toHaveLength(2);
    expect(received.filter((r) => r.body.includes('"type":"result"')).map((r) => r.connectionId)).toEqual([connects[1]]);
    expect(l.restingUntilMs).toBeUndefined();
  });

  test('GIVEN a link that was just told to rest WHEN a result is delivered while the close is under way THEN it still connects at once', async () => {
    const { port, connects } = await cloud();
    const { link: l, outbox } = link(port);
    l.start();
    await connected(l);
    l.rest(Date.now() + 10 * 60_000, 'checked in; nothing to do');
    await l.deliver(result('acme-2026-12-02-daily')); // the socket is closing, not closed
    await until(async () => (await outbox.all()).length === 0, 5000);
    expect(connects).toHaveLength(2);
  });

  test('GIVEN a result queued just as the link decided to rest WHEN it rests THEN it comes back at once and the result is acknowledged', async () => {
    const { port, connects } = await cloud();
    const { link: l, outbox } = link(port, { resultResendMs: 60_000 });
    l.start();
    await connected(l);
    await outbox.add(result('acme-2026-12-03-daily')); // on disk, not yet sent: the race between a job's end and the decision
    l.rest(Date.now() + 10 * 60_000, 'checked in; nothing to do');
    await until(async () => (await outbox.all()).length === 0, 5000);
    expect(connects).toHaveLength(2);
    expect(l.restingUntilMs).toBeUndefined();
  });

  test('GIVEN a resting link WHEN it stops THEN it does not connect again', async () => {
    const { port, connects } = await cloud();
    const { link: l } = link(port);
    const codes = closes(l);
    l.start();
    await connected(l);
    l.rest(Date.now() + 300, 'checked in; nothing to do');
    await until(() => codes.length === 1);
    await l.stop();
    await new Promise((r) => setTimeout(r, 800));
    expect(connects).toHaveLength(1);
    expect(l.restingUntilMs).toBeUndefined();
  });

  test('GIVEN a resting link WHEN the cloud cannot be reached at the check-in THEN it falls back to the back-off and connects once it can', async () => {
    const first = await cloud();
    const { link: l } = link(first.port, { backoff: { baseMs: 100, capMs: 300 } });
    const codes = closes(l);
    l.start();
    await connected(l);
    l.rest(Date.now() + 300, 'checked in; nothing to do');
    await until(() => codes.length === 1);
    await first.gateway.stop();
    await until(() => codes.length >= 3, 5000); // the check-in and at least one back-off retry failed
    expect(l.restingUntilMs).toBeUndefined();
    const second = await cloud({}, () => true, first.port);
    await until(() => l.connected, 5000);
    expect(second.connects).toHaveLength(1);
  });
});
