import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import WebSocket from 'ws';
import { enrolConnector } from '../../connector/src/enrol';
import { loadIdentity } from '../../connector/src/identity';
import { ConnectorKeys } from '../../connector/src/key-rotation';
import { Link } from '../../connector/src/link/link';
import { Outbox } from '../../connector/src/link/outbox';
import { requestBackup } from '../../functions/src/request-backup/request-backup';
import { createActivationCode, disableTenant, newTenant, revokeConnectorKey } from '../../core';
import { revokeKey } from '../../cli/src/tenants';
import type { Fleet } from '../../cli/src/fleet';
import { EXIT } from '../../cli/src/cli-error';
import { encodeMessage, signatureAuthorization } from '../../protocol';
import { type CloudHarness, HARNESS_START_MS, startCloudHarness } from '../helpers/cloud-harness';

/**
 * Enrolment, signed connections, revocation and key rotation through the stack's real
 * authorizer and connection handlers, behind the local gateway, on dynalite.
 */
let cloud: CloudHarness;
const logger = pino({ level: 'silent' });
beforeAll(async () => {
  cloud = await startCloudHarness();
}, HARNESS_START_MS);
afterAll(() => cloud.stop());

async function tenantWithCode(tenantId: string) {
  await cloud.tenants.put(newTenant(tenantId, tenantId));
  return (await createActivationCode(cloud.tenants, tenantId)).code;
}

async function enrol(tenantId: string, code: string) {
  const dir = mkdtempSync(path.join(tmpdir(), 'so-backup-enrol-'));
  const result = await enrolConnector({
    endpoint: cloud.endpoint,
    code: `${tenantId}:${code}`,
    config: path.join(dir, 'config.json'),
    stateDir: path.join(dir, 'state'),
    connectorVersion: 'test',
    archive: [{ name: 'SO_ARC', path: dir }],
  });
  return { dir, ...result, identityFile: path.join(dir, 'state', 'identity.json') };
}

/** An enrolled connector's identity and a signer for fresh $connect headers. */
async function enrolledSigner(tenantId: string) {
  const enrolled = await enrol(tenantId, await tenantWithCode(tenantId));
  const identity = await loadIdentity(enrolled.identityFile);
  return {
    identity,
    sign: (now = Date.now()) => signatureAuthorization(tenantId, identity.current.keyId, identity.current.privateKeyPem, now),
  };
}

/** Connects, waits until the cloud has recorded the connection, and resolves when it is closed again; `received` collects what the cloud sends it. */
async function openConnection(tenantId: string, authorization: string, count = 1) {
  const socket = await connect(authorization);
  await until(async () => (await cloud.connections.forTenant(tenantId)).length === count);
  const received: string[] = [];
  socket.on('message', (data: Buffer) => received.push(data.toString()));
  // Wrapped: an async function returning a bare promise would wait for the close itself.
  return { socket, received, closed: new Promise<number>((resolve) => socket.once('close', (code) => resolve(code))) };
}

function connect(authorization: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(cloud.endpoint, { headers: { Authorization: authorization } });
    socket.once('open', () => resolve(socket));
    socket.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    socket.once('error', reject);
  });
}

// A poll, not a timed assertion: each function answers from its own processes, and a cold start of one
// (a Node 24 process loading its bundle) takes seconds on a loaded machine, as in Lambda.
const until = async (check: () => boolean | Promise<boolean>, ms = 30_000) => {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 25))) if (await check()) return;
  throw new Error('condition not reached');
};

describe('enrolment', () => {
  test('GIVEN a fresh code WHEN so-connector enrols THEN it writes a 0600 identity and a config, and can then connect by signature', async () => {
    const code = await tenantWithCode('enrol-ok');
    const enrolled = await enrol('enrol-ok', code);
    expect(statSync(enrolled.identityFile).mode & 0o777).toBe(0o600);
    const config = JSON.parse(readFileSync(enrolled.configFile, 'utf8')) as { tenantId: string; identityFile: string };
    expect(config).toMatchObject({ tenantId: 'enrol-ok', identityFile: enrolled.identityFile });
    const identity = await loadIdentity(enrolled.identityFile);
    const socket = await connect(signatureAuthorization('enrol-ok', identity.current.keyId, identity.current.privateKeyPem));
    await until(async () => (await cloud.connections.forTenant('enrol-ok')).some((c) => c.keyId === identity.current.keyId));
    expect(await cloud.connections.onlineTenants()).toContain('enrol-ok');
    socket.close();
    // $disconnect notes when the connector went away (for the connectors-offline alarm).
    await until(async () => !(await cloud.connections.onlineTenants()).has('enrol-ok'));
    const tenant = await cloud.tenants.get('enrol-ok');
    expect(Date.now() - Date.parse(tenant!.lastDisconnectedAt!)).toBeLessThan(10_000);
    expect(JSON.stringify(tenant)).not.toMatch(/PRIVATE KEY|BEGIN/);
  });

  test('GIVEN a code already used WHEN a second server enrols THEN it is refused', async () => {
    const code = await tenantWithCode('enrol-reused');
    await enrol('enrol-reused', code);
    await expect(enrol('enrol-reused', code)).rejects.toMatchObject({
      code: 'ENROLMENT_REFUSED',
      message: expect.stringMatching(/wrong, already used or expired/),
    });
  });

  test('GIVEN an expired code WHEN enrolling THEN it is refused', async () => {
    await cloud.tenants.put(newTenant('enrol-expired', 'x'));
    const { code } = await createActivationCode(cloud.tenants, 'enrol-expired', new Date(Date.now() - 25 * 3600_000));
    await expect(enrol('enrol-expired', code)).rejects.toMatchObject({ code: 'ENROLMENT_REFUSED' });
  });

  test('GIVEN a wrong code WHEN enrolling THEN it is refused', async () => {
    await tenantWithCode('enrol-wrong');
    await expect(enrol('enrol-wrong', 'AAAAA-BBBBB-CCCCC-DDDDD')).rejects.toMatchObject({ code: 'ENROLMENT_REFUSED' });
  });
});

describe('signed sessions', () => {
  test('GIVEN a captured $connect header WHEN replayed THEN the replay is refused', async () => {
    const { sign } = await enrolledSigner('replay');
    const header = sign();
    (await connect(header)).close();
    await expect(connect(header)).rejects.toThrow('HTTP 403');
  });

  test('GIVEN a skewed clock WHEN connecting THEN it is refused', async () => {
    const { sign } = await enrolledSigner('skew');
    await expect(connect(sign(Date.now() + 10 * 60_000))).rejects.toThrow('HTTP 403');
  });

  /** An enrolled connector's key manager and link, connected once; `connects()` counts its connections. */
  async function connectedConnector(tenantId: string) {
    const enrolled = await enrol(tenantId, await tenantWithCode(tenantId));
    const before = await loadIdentity(enrolled.identityFile);
    const keys = new ConnectorKeys(before, enrolled.identityFile, logger);
    const link = new Link({
      endpoint: cloud.endpoint,
      authorization: () => keys.authorization(),
      connectorVersion: 'test',
      logger,
      outbox: new Outbox(path.join(enrolled.dir, 'outbox')),
    });
    keys.attach(link);
    let count = 0;
    link.on('connected', () => count++);
    link.start();
    await until(() => count === 1);
    return { enrolled, before, keys, link, connects: () => count };
  }

  const revocation = () => ({ tenants: cloud.tenants, connections: cloud.connections, close: cloud.closeConnection });

  test('GIVEN an open connection WHEN its key is revoked THEN the connection is closed and reconnecting is refused', async () => {
    const { identity, sign } = await enrolledSigner('revoke');
    const { closed } = await openConnection('revoke', sign());
    expect(await revokeConnectorKey(revocation(), 'revoke', identity.current.keyId)).toBe(1);
    await closed;
    await expect(connect(sign())).rejects.toThrow('HTTP 403');
  });

  test('GIVEN an open connection WHEN the tenant is disabled THEN it is closed and refused', async () => {
    const { sign } = await enrolledSigner('disable');
    const { closed } = await openConnection('disable', sign());
    expect(await disableTenant(revocation(), 'disable')).toBe(1);
    await closed;
    await expect(connect(sign())).rejects.toThrow('HTTP 403');
  });

  test('GIVEN a connected connector WHEN it rotates its key THEN it reconnects with the new key, and the old key stops working', async () => {
    const { enrolled, before, keys, link, connects } = await connectedConnector('rotate');
    expect(await keys.rotateIfDue(link, 0)).toBe(true);
    await until(async () => (await loadIdentity(enrolled.identityFile)).current.keyId !== before.current.keyId);
    await until(() => connects() === 2);
    const after = await loadIdentity(enrolled.identityFile);
    expect(after.pending).toBeUndefined();
    expect((await cloud.tenants.get('rotate'))!.keys).toEqual([expect.objectContaining({ keyId: after.current.keyId, status: 'active' })]);
    await expect(connect(signatureAuthorization('rotate', before.current.keyId, before.current.privateKeyPem))).rejects.toThrow('HTTP 403');
    expect(link.connected).toBe(true);
    await link.stop();
  });

  test('GIVEN a check-in connector whose key falls due for rotation while it rests WHEN it checks in THEN the rotation starts then and completes', async () => {
    const { enrolled, before, keys, link, connects } = await connectedConnector('rotate-rest');
    let clock = Date.now();
    keys.rotateWhenDue(link, 30, () => new Date(clock));
    // Registered after the first connection: nothing is due now, and nothing happens while it rests.
    link.rest(Date.now() + 300, 'checked in; nothing to do');
    await until(() => connects() === 2);
    expect((await loadIdentity(enrolled.identityFile)).pending).toBeUndefined();
    clock += 31 * 86_400_000; // a month later, at a check-in
    link.rest(Date.now() + 300, 'checked in; nothing to do');
    await until(async () => (await loadIdentity(enrolled.identityFile)).current.keyId !== before.current.keyId);
    await until(() => connects() === 4); // the check-in, then the reconnect with the new key
    expect((await loadIdentity(enrolled.identityFile)).pending).toBeUndefined();
    expect(link.connected).toBe(true);
    await link.stop();
  });

  test("GIVEN an open session WHEN the tenant is enrolled again with a new code THEN the old key's session is closed, the next job goes to the new key's session only, and the old key is refused", async () => {
    const { identity: old, sign: signOld } = await enrolledSigner('reenrol');
    const oldSession = await openConnection('reenrol', signOld());
    const fresh = await enrol('reenrol', (await createActivationCode(cloud.tenants, 'reenrol')).code);
    await oldSession.closed;
    const current = await loadIdentity(fresh.identityFile);
    const newSession = await openConnection(
      'reenrol',
      signatureAuthorization('reenrol', current.current.keyId, current.current.privateKeyPem),
    );
    expect((await cloud.connections.forTenant('reenrol')).map((c) => c.keyId)).toEqual([current.current.keyId]);
    // The next backup job (request-backup's own logic, over the gateway) reaches the new session, never the old one.
    await cloud.runs.create({
      runId: 'reenrol-2026-11-25-daily',
      tenantId: 'reenrol',
      status: 'RUNNING',
      trigger: 'schedule',
      requestedBy: 'schedule',
      executionArn: 'a',
      startedAt: new Date().toISOString(),
    });
    const sentTo = await requestBackup(
      {
        runs: cloud.runs,
        tenants: cloud.tenants,
        connections: cloud.connections,
        target: { bucket: 'backups', region: 'us-east-1', forcePathStyle: false },
        credentials: {
          mint: async () => ({ accessKeyId: 'A', secretAccessKey: 'S', expiration: new Date(Date.now() + 3600_000).toISOString() }),
        },
        send: (connectionId, job) => cloud.postToConnection(connectionId, encodeMessage(job)),
      },
      { runId: 'reenrol-2026-11-25-daily', tenantId: 'reenrol', trigger: 'schedule', startedAt: new Date().toISOString() },
      'token',
    );
    await until(() => newSession.received.length === 1);
    expect(JSON.parse(newSession.received[0]!)).toMatchObject({ type: 'backup-job', runId: 'reenrol-2026-11-25-daily' });
    expect(sentTo.connectionId).toBeDefined();
    expect(oldSession.received).toEqual([]);
    await expect(connect(signOld())).rejects.toThrow('HTTP 403');
    expect(old.current.keyId).not.toBe(current.current.keyId);
    newSession.socket.close();
    await newSession.closed;
  });

  test('GIVEN a second session of the old key elsewhere WHEN the connector completes a key rotation THEN that session is closed too', async () => {
    const { enrolled, before, keys, link, connects } = await connectedConnector('rotate-copy');
    // A copy of the identity file, connected from another machine with the same (old) key.
    const copy = await openConnection(
      'rotate-copy',
      signatureAuthorization('rotate-copy', before.current.keyId, before.current.privateKeyPem),
      2,
    );
    await keys.rotateIfDue(link, 0);
    await until(async () => (await loadIdentity(enrolled.identityFile)).current.keyId !== before.current.keyId);
    await until(() => connects() === 2);
    await copy.closed;
    const after = await loadIdentity(enrolled.identityFile);
    await until(async () => (await cloud.connections.forTenant('rotate-copy')).length === 1);
    expect((await cloud.connections.forTenant('rotate-copy')).map((c) => c.keyId)).toEqual([after.current.keyId]);
    expect(link.connected).toBe(true);
    await link.stop();
  });

  test('GIVEN an open session WHEN an operator runs `so-backup tenants revoke-key` THEN its sessions close, the key is gone, and an unknown key is named', async () => {
    const { identity, sign } = await enrolledSigner('revoke-cli');
    const { closed } = await openConnection('revoke-cli', sign());
    const fleet = { tenants: cloud.tenants, connections: cloud.connections, closeConnection: cloud.closeConnection } as unknown as Fleet;
    expect(await revokeKey(fleet, 'revoke-cli', identity.current.keyId)).toEqual({
      tenantId: 'revoke-cli',
      keyId: identity.current.keyId,
      connectionsClosed: 1,
      keysLeft: 0,
    });
    await closed;
    await expect(connect(sign())).rejects.toThrow('HTTP 403');
    await expect(revokeKey(fleet, 'revoke-cli', identity.current.keyId)).rejects.toMatchObject({
      exitCode: EXIT.notFound,
      message: expect.stringMatching(/has no key ".*"; its keys: none/),
    });
    await expect(revokeKey(fleet, 'no-such-tenant', 'k')).rejects.toMatchObject({ exitCode: EXIT.notFound });
  });

  test.each([
    ['malformed JSON', '{"type":', 'MESSAGE_NOT_JSON'],
    ['an unknown type', '{"type":"format-c","v":1}', 'MESSAGE_INVALID'],
    ['a run of another tenant', '{"type":"progress","v":1,"runId":"someone-else","phase":"database"}', 'RUN_UNKNOWN'],
  ])('GIVEN %s WHEN sent THEN the connector gets an error message and the connection stays up', async (_, raw, code) => {
    const tenantId = `msg-${code.toLowerCase().replace(/_/g, '-')}`;
    const socket = await connect((await enrolledSigner(tenantId)).sign());
    const reply = new Promise<string>((resolve) => socket.once('message', (data) => resolve(data.toString())));
    socket.send(raw);
    expect(JSON.parse(await reply)).toMatchObject({ type: 'error', error: { code } });
    expect(socket.readyState).toBe(WebSocket.OPEN);
    socket.close();
  });
});

describe('restore drill results', () => {
  const result = (drillId: string, runId: string, ok = true) =>
    JSON.stringify({
      type: 'drill-result',
      v: 1,
      drillId,
      runId,
      ok,
      startedAt: new Date().toISOString(),
      finishedAt: new Date().toISOString(),
      archive: { sampled: 2, verified: 2 },
    });
  const reply = (socket: WebSocket) =>
    new Promise<{ type: string; error?: { code: string } }>((resolve) =>
      socket.once('message', (data) => resolve(JSON.parse(data.toString()) as { type: string })),
    );
  const issue = (tenantId: string, drillId: string, runId: string, expiresAt = new Date(Date.now() + 3600_000).toISOString()) =>
    cloud.tenants.issueDrill(tenantId, drillId, { runId, issuedAt: new Date().toISOString(), expiresAt });

  test("GIVEN no drill was asked for WHEN a connector reports a passing one (0 files, another tenant's run) THEN it is refused and nothing is recorded", async () => {
    await enrolledSigner('other-drill');
    await issue('other-drill', 'other-drill-drill-0001', 'other-drill-2026-11-25-daily');
    const socket = await connect((await enrolledSigner('drill-forger')).sign());
    for (const [drillId, runId] of [
      ['forged-drill-0001', 'drill-forger-2026-11-25-daily'],
      ['other-drill-drill-0001', 'other-drill-2026-11-25-daily'],
    ]) {
      const answer = reply(socket);
      socket.send(result(drillId!, runId!));
      expect(await answer).toMatchObject({ type: 'error', error: { code: 'DRILL_UNKNOWN' } });
    }
    expect((await cloud.tenants.get('drill-forger'))?.lastDrill).toBeUndefined();
    // The other tenant's issued drill is untouched: its own connector may still answer it.
    expect((await cloud.tenants.get('other-drill'))?.issuedDrills?.['other-drill-drill-0001']).toBeDefined();
    socket.close();
  });

  test('GIVEN an issued drill WHEN its result comes THEN it is recorded once; a replay, a wrong run and an expired drill are refused', async () => {
    const socket = await connect((await enrolledSigner('drilled')).sign());
    await issue('drilled', 'drilled-drill-0001', 'drilled-2026-11-25-daily');
    await issue('drilled', 'drilled-drill-0002', 'drilled-2026-11-25-daily');
    await issue('drilled', 'drilled-drill-0003', 'drilled-2026-11-25-daily', new Date(Date.now() - 1000).toISOString());
    await cloud.tenants.recordDrillRequested('drilled', new Date().toISOString());
    socket.send(result('drilled-drill-0001', 'drilled-2026-11-25-daily'));
    await until(async () => (await cloud.tenants.get('drilled'))?.lastDrill !== undefined);
    const tenant = await cloud.tenants.get('drilled');
    expect(tenant).toMatchObject({ lastDrill: { drillId: 'drilled-drill-0001', runId: 'drilled-2026-11-25-daily', ok: true } });
    expect(tenant?.drillRequestedAt).toBeUndefined();
    expect(Object.keys(tenant?.issuedDrills ?? {}).sort()).toEqual(['drilled-drill-0002', 'drilled-drill-0003']);
    for (const [drillId, runId] of [
      ['drilled-drill-0001', 'drilled-2026-11-25-daily'],
      ['drilled-drill-0002', 'drilled-2026-11-24-daily'],
      ['drilled-drill-0003', 'drilled-2026-11-25-daily'],
    ]) {
      const answer = reply(socket);
      socket.send(result(drillId!, runId!, false));
      expect(await answer).toMatchObject({ type: 'error', error: { code: 'DRILL_UNKNOWN' } });
    }
    expect((await cloud.tenants.get('drilled'))?.lastDrill).toMatchObject({ drillId: 'drilled-drill-0001', ok: true });
    socket.close();
  });
});
