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
import { createActivationCode, disableTenant, newTenant, revokeConnectorKey } from '../../functions/src/shared';
import { signatureAuthorization } from '../../protocol';
import { type CloudHarness, startCloudHarness } from '../helpers/cloud-harness';

/**
 * Enrolment, signed connections, revocation and key rotation through the stack's real
 * authorizer and connection handlers, behind the local gateway, on dynalite.
 */
let cloud: CloudHarness;
const logger = pino({ level: 'silent' });
beforeAll(async () => {
  cloud = await startCloudHarness();
});
afterAll(() => cloud.stop());

async function tenantWithCode(tenantId: string) {
  await cloud.tenants.put(newTenant(tenantId, tenantId));
  return (await createActivationCode(cloud.tenants, tenantId)).code;
}

async function enrol(tenantId: string, code: string) {
  const dir = mkdtempSync(path.join(tmpdir(), 'so-backup-enrol-'));
  const result = await enrolConnector({
    endpoint: cloud.endpoint, code: `${tenantId}:${code}`, config: path.join(dir, 'config.json'), stateDir: path.join(dir, 'state'),
    connectorVersion: 'test', archive: [{ name: 'SO_ARC', path: dir }],
  });
  return { dir, ...result, identityFile: path.join(dir, 'state', 'identity.json') };
}

/** An enrolled connector's identity and a signer for fresh $connect headers. */
async function enrolledSigner(tenantId: string) {
  const enrolled = await enrol(tenantId, await tenantWithCode(tenantId));
  const identity = await loadIdentity(enrolled.identityFile);
  return { identity, sign: (now = Date.now()) => signatureAuthorization(tenantId, identity.current.keyId, identity.current.privateKeyPem, now) };
}

/** Connects, waits until the cloud has recorded the connection, and resolves when it is closed again. */
async function openConnection(tenantId: string, authorization: string) {
  const socket = await connect(authorization);
  await until(async () => (await cloud.connections.forTenant(tenantId)).length === 1);
  // Wrapped: an async function returning a bare promise would wait for the close itself.
  return { closed: new Promise<number>((resolve) => socket.once('close', (code) => resolve(code))) };
}

function connect(authorization: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(cloud.endpoint, { headers: { Authorization: authorization } });
    socket.once('open', () => resolve(socket));
    socket.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    socket.once('error', reject);
  });
}

const until = async (check: () => boolean | Promise<boolean>, ms = 5000) => {
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
    await expect(enrol('enrol-reused', code)).rejects.toMatchObject({ code: 'ENROLMENT_REFUSED', message: expect.stringMatching(/wrong, already used or expired/) });
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
    const enrolled = await enrol('rotate', await tenantWithCode('rotate'));
    const before = await loadIdentity(enrolled.identityFile);
    const keys = new ConnectorKeys(before, enrolled.identityFile, logger);
    const link = new Link({ endpoint: cloud.endpoint, authorization: () => keys.authorization(), connectorVersion: 'test', logger, outbox: new Outbox(path.join(enrolled.dir, 'outbox')) });
    keys.attach(link);
    let connects = 0;
    link.on('connected', () => connects++);
    link.start();
    await until(() => connects === 1);
    expect(await keys.rotateIfDue(link, 0)).toBe(true);
    await until(async () => (await loadIdentity(enrolled.identityFile)).current.keyId !== before.current.keyId);
    await until(() => connects === 2);
    const after = await loadIdentity(enrolled.identityFile);
    expect(after.pending).toBeUndefined();
    expect((await cloud.tenants.get('rotate'))!.keys).toEqual([expect.objectContaining({ keyId: after.current.keyId, status: 'active' })]);
    await expect(connect(signatureAuthorization('rotate', before.current.keyId, before.current.privateKeyPem))).rejects.toThrow('HTTP 403');
    expect(link.connected).toBe(true);
    await link.stop();
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
