import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { ConnectorService } from '../../connector/src/connector-service';
import { saveIdentity } from '../../connector/src/identity';
import { Link } from '../../connector/src/link/link';
import { Outbox } from '../../connector/src/link/outbox';
import { runConnector } from '../../connector/src/run-connector';
import { describePresenceStatus, PresenceController, readPresenceStatus } from '../../connector/src/link/presence-controller';
import { type CloudMessage, newConnectorKeyPair, PRESENCE, type Presence } from '../../protocol';
import { testBackupJob } from '../helpers/backup-job';
import { connectorConfigFor, writeConnectorConfigFile } from '../helpers/connector-config';
import { MemoryObjectStore } from '../helpers/memory-object-store';
import { scriptedCloud } from '../helpers/scripted-cloud';

/**
 * Check-in presence end to end on the connector's side: the real link, service and controller
 * against the local gateway, with a scripted cloud that answers settings requests with a presence
 * and acknowledges results (when the test says so).
 */
const stops: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

const until = async (check: () => boolean | Promise<boolean>, ms = 10_000) => {
  for (const end = Date.now() + ms; !(await check()); await new Promise((r) => setTimeout(r, 20)))
    if (Date.now() > end) throw new Error('timed out waiting');
};
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A connector (link, service, controller) with an archive-only configuration, its presence answered by `presence()`. */
async function connector(
  presence: () => Presence | undefined,
  options: { ackResults?: (attempt: number) => boolean | Promise<boolean> } = {},
) {
  const cloud = await scriptedCloud({
    ackResults: options.ackResults,
    answer: (message): CloudMessage | undefined => {
      if (message.type !== 'settings-request') return undefined;
      const p = presence();
      return { type: 'settings', v: 1, bandwidth: null, ...(p ? { presence: p } : {}) };
    },
  });
  stops.push(cloud.stop);
  const dir = mkdtempSync(path.join(tmpdir(), 's25-18c-presence-'));
  const archive = path.join(dir, 'SO_ARC');
  mkdirSync(archive);
  writeFileSync(path.join(archive, 'a.txt'), 'a document');
  const config = connectorConfigFor(dir, { archive: { roots: [{ name: 'SO_ARC', path: archive }] } });
  const logger = pino({ level: 'silent' });
  const link = new Link({
    endpoint: `ws://127.0.0.1:${cloud.port}`,
    authorization: () => 'test',
    connectorVersion: 'test',
    logger,
    outbox: new Outbox(path.join(config.stateDir, 'outbox')),
    backoff: { baseMs: 50, capMs: 200 },
  });
  const service = new ConnectorService({
    config,
    connectorVersion: 'test',
    link,
    logger,
    openStore: () => new MemoryObjectStore(),
    firstProgressJitterMs: 0,
  });
  const controller = new PresenceController({
    link,
    working: () => service.busy,
    logger,
    startupHoldMinutes: 0,
    minimumConnectedSeconds: 1,
    stateDir: config.stateDir,
    // Check-ins 10 % late and arrivals the whole lead spread before a backup: the tests' instants are exact.
    random: () => 1 - 1e-12,
  });
  service.on('work-ended', () => controller.evaluate());
  stops.push(async () => {
    await service.stop();
    await controller.stop();
    await link.stop();
  });
  const closes: Array<{ code: number; at: number }> = [];
  link.on('disconnected', (code) => closes.push({ code, at: Date.now() }));
  link.start();
  await until(() => link.connected);
  const settingsRequests = (connectionId?: string) =>
    cloud.received.filter((r) => r.body.includes('"type":"settings-request"') && (!connectionId || r.connectionId === connectionId)).length;
  return { cloud, link, service, controller, config, closes, settingsRequests };
}

describe('check-in presence on the connector (issue 18)', () => {
  test('GIVEN check-in with the next backup soon WHEN the connector is idle THEN it leaves after its minimum time with 1000, comes back a lead before the backup, and stays for its slot', async () => {
    const earliestLead = (PRESENCE.leadSeconds + PRESENCE.leadSpreadSeconds) * 1000;
    const nextBackupAt = Date.now() + earliestLead + 2500;
    const presence: Presence = {
      mode: 'check-in',
      checkInSeconds: 3600,
      nextBackupAt: new Date(nextBackupAt).toISOString(),
      stayUntil: null,
    };
    const { cloud, link, closes, settingsRequests, config } = await connector(() => presence);
    const connectedAt = Date.now();
    await until(() => closes.length === 1, 5000);
    expect(closes[0]!.code).toBe(1000);
    expect(closes[0]!.at - connectedAt).toBeGreaterThanOrEqual(900); // minimumConnectedSeconds: 1
    expect(link.restingUntilMs).toBe(nextBackupAt - earliestLead);
    await until(async () => (await readPresenceStatus(config.stateDir))?.state === 'resting');
    const resting = await readPresenceStatus(config.stateDir);
    expect(describePresenceStatus(resting)).toBe(
      `checks in every 1 h; next check-in at ${new Date(nextBackupAt - earliestLead).toISOString()}; next backup at ${presence.nextBackupAt}`,
    );
    await until(() => cloud.connects.length === 2, 6000);
    expect(Date.now()).toBeGreaterThanOrEqual(nextBackupAt - earliestLead);
    await until(() => settingsRequests(cloud.connects[1]) === 1); // a check-in asks for the settings again
    await pause(1500);
    expect(link.connected).toBe(true); // inside the backup's slot: it waits for the job
    expect(closes).toHaveLength(1);
  });

  test('GIVEN check-in WHEN a job arrives during the hold THEN it is taken, the connector stays until its result is acknowledged, asks for its settings again, then leaves until the next check-in', async () => {
    const presence: Presence = { mode: 'check-in', checkInSeconds: 3600, nextBackupAt: null, stayUntil: null };
    let ackedAt = 0;
    const { cloud, link, closes, settingsRequests } = await connector(() => presence, {
      // The acknowledgement takes 2 s (a cloud under load): the connector must not leave before it.
      ackResults: async () => {
        await pause(2000);
        ackedAt = Date.now();
        return true;
      },
    });
    await cloud.send(cloud.connects[0]!, testBackupJob('acme-2026-12-01-support'));
    await until(() => cloud.received.some((r) => r.body.includes('"type":"result"')), 30_000);
    const result = JSON.parse(cloud.received.find((r) => r.body.includes('"type":"result"'))!.body) as { outcome: string };
    expect(result.outcome).toBe('succeeded');
    expect(closes).toHaveLength(0); // waiting for the acknowledgement
    await until(() => closes.length === 1, 10_000);
    expect(ackedAt).toBeGreaterThan(0);
    expect(closes[0]!.at).toBeGreaterThanOrEqual(ackedAt);
    expect(closes[0]!.code).toBe(1000);
    expect(cloud.connects).toHaveLength(1);
    expect(settingsRequests(cloud.connects[0])).toBe(2); // on connect, and after the acknowledged result
    const until60 = link.restingUntilMs! - Date.now();
    expect(until60).toBeGreaterThan(3600_000 * (1 - PRESENCE.checkInJitter) - 60_000);
    expect(until60).toBeLessThanOrEqual(3600_000 * (1 + PRESENCE.checkInJitter));
  }, 60_000);

  test.each([
    ['always', { mode: 'always' } as Presence],
    ['no presence (an older cloud)', undefined],
  ])('GIVEN %s WHEN the connector is idle THEN it never leaves, and asks for its settings once per start', async (_name, presence) => {
    const { cloud, link, closes, settingsRequests, config } = await connector(() => presence);
    await pause(2000);
    expect(link.connected).toBe(true);
    expect(closes).toHaveLength(0);
    link.reconnectNow('renewing');
    await until(() => cloud.connects.length === 2);
    await pause(1500);
    expect(settingsRequests()).toBe(1);
    expect(link.connected).toBe(true);
    expect(describePresenceStatus(await readPresenceStatus(config.stateDir))).toMatch(/^connected all the time \(since /);
  });
});

describe('so-connector run with check-in presence (the wiring in run-connector.ts)', () => {
  test('GIVEN startupHoldMinutes 0 and a cloud that says check-in WHEN the service runs THEN it leaves after its 30 s with one "checking in again at" line, doctor\'s status says so, and a stop while away is clean', async () => {
    const presence: Presence = { mode: 'check-in', checkInSeconds: 3600, nextBackupAt: null, stayUntil: null };
    const cloud = await scriptedCloud({
      answer: (message): CloudMessage | undefined =>
        message.type === 'settings-request' ? { type: 'settings', v: 1, bandwidth: null, presence } : undefined,
    });
    stops.push(cloud.stop);
    const dir = mkdtempSync(path.join(tmpdir(), 's25-18c-run-'));
    const pair = newConnectorKeyPair();
    await saveIdentity(path.join(dir, 'identity.json'), {
      tenantId: 'acme',
      current: { keyId: pair.keyId, privateKeyPem: pair.privateKeyPem, createdAt: new Date().toISOString() },
    });
    const configFile = writeConnectorConfigFile(dir, { endpoint: `ws://127.0.0.1:${cloud.port}`, startupHoldMinutes: 0 });
    const lines: Array<{ msg: string; checkInAt?: string }> = [];
    const running = await runConnector(configFile, 'test', {
      handleSignals: false,
      destination: { write: (line: string) => lines.push(JSON.parse(line) as { msg: string }) },
    });
    let stopped = false;
    stops.push(async () => {
      if (!stopped) await running.stop('test over');
    });
    await until(() => cloud.connects.length === 1);
    const connectedAt = Date.now();
    await until(() => lines.some((l) => l.msg.startsWith('checking in again at ')), 45_000);
    expect(Date.now() - connectedAt).toBeGreaterThanOrEqual(PRESENCE.minimumConnectedSeconds * 1000 - 1000);
    const leave = lines.filter((l) => l.msg.startsWith('checking in again at '));
    expect(leave).toHaveLength(1);
    expect(Date.parse(leave[0]!.checkInAt!) - Date.now()).toBeGreaterThan(3600_000 * (1 - PRESENCE.checkInJitter) - 60_000);
    await until(async () => (await readPresenceStatus(dir))?.state === 'resting');
    expect(describePresenceStatus(await readPresenceStatus(dir))).toBe(`checks in every 1 h; next check-in at ${leave[0]!.checkInAt}`);
    expect(cloud.types().filter((t) => t === 'settings-request')).toHaveLength(1);
    await running.stop('test over');
    stopped = true;
    expect((await readPresenceStatus(dir))?.state).toBe('stopped');
    expect(cloud.connects).toHaveLength(1);
  }, 60_000);
});

describe('describePresenceStatus (so-connector doctor)', () => {
  const checkIn: Presence = { mode: 'check-in', checkInSeconds: 1200, nextBackupAt: null, stayUntil: null };
  const at = '2026-12-01T10:00:00.000Z';
  test('names the interval and the next check-in, and says when one is overdue or the service stopped', () => {
    expect(describePresenceStatus(undefined)).toMatch(/no status from the service yet/);
    const resting = { presence: checkIn, state: 'resting' as const, since: at, nextCheckInAt: '2026-12-01T10:20:00.000Z', updatedAt: at };
    expect(describePresenceStatus(resting, Date.parse(at))).toBe('checks in every 20 min; next check-in at 2026-12-01T10:20:00.000Z');
    expect(describePresenceStatus(resting, Date.parse('2026-12-01T11:00:00.000Z'))).toMatch(/overdue: is the service running\?/);
    expect(describePresenceStatus({ ...resting, state: 'connected', nextCheckInAt: null })).toBe(
      `checks in every 20 min; connected since ${at}`,
    );
    expect(describePresenceStatus({ ...resting, state: 'stopped', nextCheckInAt: null })).toBe(`the service stopped at ${at}`);
  });
});
