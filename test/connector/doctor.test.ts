import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { writeTenantSettings } from '../../connector/src/bandwidth';
import { checkArchiveRoot, shareOf } from '../../connector/src/doctor/archive-root-check';
import { formatChecks } from '../../connector/src/doctor/doctor';
import { enrolConnector } from '../../connector/src/enrol';
import { doctor } from '../../connector/src/run-connector';
import { writePresenceStatus } from '../../connector/src/link/presence-controller';
import { createActivationCode, newTenant } from '../../core';
import { SqlServerStandIn } from '../../local/tds/sql-server-stand-in';
import { type CloudHarness, HARNESS_START_MS, startCloudHarness } from '../helpers/cloud-harness';
import { freePort } from '../helpers/test-ports';

/** `so-connector doctor` against the real authorizer (local gateway) and the TDS stand-in. */
let cloud: CloudHarness;
let standIn: SqlServerStandIn;
let sqlPort: number;
const login = { user: 'so_backup', password: 'Pw-Doctor-1' };

beforeAll(async () => {
  cloud = await startCloudHarness();
  sqlPort = await freePort();
  standIn = new SqlServerStandIn({
    port: sqlPort,
    login,
    engineEdition: 4,
    databases: [{ name: 'SuperOffice', sizeBytes: 8 << 20 }],
    additionalLogins: [{ user: 'reader', password: 'Pw-Reader-1' }],
    loginsWithoutBackupPermission: ['reader'],
  });
  await standIn.start();
}, HARNESS_START_MS);
afterAll(async () => {
  await standIn.stop();
  await cloud.stop();
});

async function enrolled(tenantId: string, user = login.user, password = login.password) {
  await cloud.tenants.put(newTenant(tenantId, tenantId));
  const { code } = await createActivationCode(cloud.tenants, tenantId);
  const dir = mkdtempSync(path.join(tmpdir(), 'so-backup-doctor-'));
  const archive = path.join(dir, 'SO_ARC');
  mkdirSync(archive);
  const { configFile } = await enrolConnector({
    endpoint: cloud.endpoint,
    code: `${tenantId}:${code}`,
    config: path.join(dir, 'config.json'),
    stateDir: path.join(dir, 'state'),
    connectorVersion: 'test',
    sql: `Server=127.0.0.1,${sqlPort};User Id=${user};Password=${password};Encrypt=false`,
    database: ['SuperOffice'],
    staging: dir,
    archive: [{ name: 'SO_ARC', path: archive }],
  });
  return configFile;
}

describe('so-connector doctor', () => {
  test('GIVEN a healthy installation WHEN checked THEN every check passes and Express is explained', async () => {
    const configFile = await enrolled('doctor-ok');
    const checks = await doctor(configFile);
    expect(checks.map((c) => [c.name, c.ok])).toEqual([
      ['cloud endpoint and authentication', true],
      ['service connection', true],
      ['SQL Server login', true],
      ['database SuperOffice', true],
      ['staging folder', true],
      ['archive root SO_ARC', true],
      ['bandwidth limit', true],
    ]);
    expect(checks.at(-1)!.detail).toBe(
      'unlimited (no limit set); no tenant setting received yet (the service asks for it each time it connects)',
    );
    expect(checks[0]!.detail).toMatch(/clock within \d+ s/);
    expect(checks[2]!.detail).toMatch(/Express.*no compression, no SQL Agent/);
    expect(formatChecks(checks)).toMatch(/^✓ cloud endpoint and authentication/);
    expect(checks[1]!.detail).toBe('no status from the service yet (it writes one when it connects)');
    // A check-in connector between check-ins is away on purpose: shown as such, not as a fault.
    const { stateDir } = JSON.parse(readFileSync(configFile, 'utf8')) as { stateDir: string };
    const nextCheckInAt = new Date(Date.now() + 40 * 60_000).toISOString();
    await writePresenceStatus(stateDir, {
      presence: { mode: 'check-in', checkInSeconds: 3600, nextBackupAt: null, stayUntil: null },
      state: 'resting',
      since: new Date().toISOString(),
      nextCheckInAt,
      updatedAt: new Date().toISOString(),
    });
    expect((await doctor(configFile)).find((c) => c.name === 'service connection')).toEqual({
      name: 'service connection',
      ok: true,
      detail: `checks in every 1 h; next check-in at ${nextCheckInAt}`,
    });
    // A stopped service is a fault, not a tick (T18 #3); so is one overdue for its check-in.
    const since = new Date().toISOString();
    await writePresenceStatus(stateDir, { presence: null, state: 'stopped', since, nextCheckInAt: null, updatedAt: since });
    expect((await doctor(configFile)).find((c) => c.name === 'service connection')).toEqual({
      name: 'service connection',
      ok: false,
      detail: expect.stringMatching(new RegExp(`^the service stopped at ${since}: start the so-connector service`)),
    });
    const overdue = new Date(Date.now() - 11 * 60_000).toISOString();
    await writePresenceStatus(stateDir, {
      presence: { mode: 'check-in', checkInSeconds: 3600, nextBackupAt: null, stayUntil: null },
      state: 'resting',
      since,
      nextCheckInAt: overdue,
      updatedAt: since,
    });
    expect((await doctor(configFile)).find((c) => c.name === 'service connection')).toMatchObject({ ok: false });
  });

  test('GIVEN a limit in the configuration file and a stricter one received from the cloud WHEN checked THEN the limit in force is shown with where it comes from', async () => {
    const configFile = await enrolled('doctor-bandwidth');
    const config = JSON.parse(readFileSync(configFile, 'utf8')) as { stateDir: string; bandwidth?: unknown };
    config.bandwidth = '50 Mbit/s';
    writeFileSync(configFile, JSON.stringify(config));
    expect((await doctor(configFile)).at(-1)!.detail).toMatch(
      /^50 Mbit\/s from the configuration file \[50 Mbit\/s\]; no tenant setting received yet/,
    );
    await writeTenantSettings(config.stateDir, '10 Mbit/s', new Date('2026-11-30T07:00:00Z'));
    expect((await doctor(configFile)).at(-1)).toMatchObject({
      ok: true,
      detail:
        "10 Mbit/s from the tenant's setting (so-backup tenants set --bandwidth) [10 Mbit/s]; tenant's setting received at 2026-11-30T07:00:00.000Z",
    });
    config.bandwidth = '20 Mb/s';
    writeFileSync(configFile, JSON.stringify(config));
    await expect(doctor(configFile)).rejects.toThrow(/bandwidth: "20 Mb\/s" has an unknown unit "Mb\/s": it could mean bits or bytes/);
  });

  test('GIVEN a login without BACKUP permission WHEN checked THEN ✗ names the role to grant', async () => {
    const checks = await doctor(await enrolled('doctor-perm', 'reader', 'Pw-Reader-1'));
    expect(checks.find((c) => c.name === 'database SuperOffice')).toMatchObject({
      ok: false,
      detail: 'the login lacks BACKUP DATABASE permission',
      fix: expect.stringMatching(/db_backupoperator/),
    });
  });

  test('GIVEN a wrong SQL password WHEN checked THEN the SQL login ✗ says what to check', async () => {
    const checks = await doctor(await enrolled('doctor-login', login.user, 'wrong'));
    expect(checks.find((c) => c.name === 'SQL Server login')).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/Login failed.*Check the user and password/),
    });
  });

  test('GIVEN a revoked key, a missing archive root and an unreachable endpoint WHEN checked THEN each ✗ has a fix', async () => {
    const configFile = await enrolled('doctor-broken');
    const tenant = (await cloud.tenants.get('doctor-broken'))!;
    await cloud.tenants.updateKeys(tenant, []);
    const config = JSON.parse(readFileSync(configFile, 'utf8')) as { archive: { roots: Array<{ name: string; path: string }> } };
    config.archive.roots.push({ name: 'SO_ARC2', path: '/nonexistent/SO_ARC2' });
    writeFileSync(configFile, JSON.stringify(config));
    const checks = await doctor(configFile);
    expect(checks.find((c) => c.name === 'cloud endpoint and authentication')).toMatchObject({
      ok: false,
      detail: 'refused (HTTP 403)',
      fix: expect.stringMatching(/revoked/),
    });
    expect(checks.find((c) => c.name === 'archive root SO_ARC2')).toMatchObject({
      ok: false,
      detail: '/nonexistent/SO_ARC2: path not found',
      fix: expect.stringMatching(/^correct the path of archive root "SO_ARC2"/),
    });

    const unreachable = { ...JSON.parse(readFileSync(configFile, 'utf8')), endpoint: 'ws://127.0.0.1:9' };
    writeFileSync(configFile, JSON.stringify(unreachable));
    const offline = await doctor(configFile);
    expect(offline[0]).toMatchObject({ ok: false, detail: expect.stringMatching(/cannot reach/), fix: expect.stringMatching(/outbound/) });
  });
});

describe('doctor: why an archive root cannot be listed, and the fix for each cause', () => {
  /** Lists folders as a Windows client would answer for these paths (errors this machine cannot produce). */
  const windowsAnswers = (answers: Record<string, string>) => async (folder: string) => {
    const code = answers[folder];
    if (code) throw Object.assign(new Error(`${code}: ${folder}`), { code });
  };

  test('GIVEN an unreachable \\\\server\\share (libuv says UNKNOWN for ERROR_BAD_NETPATH) THEN: network path not found, check the server and share name and the service account', async () => {
    const verdict = await checkArchiveRoot(
      { name: 'SO_ARC', path: '\\\\fileserver\\SO_ARC\\Arkiv' },
      windowsAnswers({ '\\\\fileserver\\SO_ARC\\Arkiv': 'UNKNOWN', '\\\\fileserver\\SO_ARC': 'UNKNOWN' }),
    );
    expect(verdict).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/network path not found \(UNKNOWN\): \\\\fileserver\\SO_ARC cannot be reached/),
      fix: expect.stringMatching(/check the server and share name .*service account must reach the share/),
    });
    expect(verdict.fix).not.toMatch(/read access/);
  });

  test('GIVEN a share that answers but a folder that is not there THEN: path not found, correct the path', async () => {
    const verdict = await checkArchiveRoot(
      { name: 'SO_ARC', path: '\\\\fileserver\\SO_ARC\\Arkivv' },
      windowsAnswers({ '\\\\fileserver\\SO_ARC\\Arkivv': 'ENOENT' }),
    );
    expect(verdict).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/path not found \(the share \\\\fileserver\\SO_ARC is there\)/),
      fix: expect.stringMatching(/^correct the path of archive root "SO_ARC"/),
    });
  });

  test('GIVEN access denied (on a share or a local disk) THEN: grant the service account read access', async () => {
    expect(
      await checkArchiveRoot({ name: 'SO_ARC', path: '\\\\fileserver\\SO_ARC' }, windowsAnswers({ '\\\\fileserver\\SO_ARC': 'EPERM' })),
    ).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/access denied/),
      fix: expect.stringMatching(/^grant the connector's service account read access .*Read on the share/),
    });
    expect(await checkArchiveRoot({ name: 'SO_ARC', path: 'D:\\SO_ARC' }, windowsAnswers({ 'D:\\SO_ARC': 'EACCES' }))).toMatchObject({
      fix: expect.stringMatching(/^grant the connector's service account read access to D:\\SO_ARC$/),
    });
  });

  test('GIVEN a missing local folder (this machine, real) THEN: path not found; an existing one can be listed', async () => {
    expect(await checkArchiveRoot({ name: 'SO_ARC', path: '/nonexistent/SO_ARC' })).toMatchObject({
      ok: false,
      detail: '/nonexistent/SO_ARC: path not found',
    });
    expect(await checkArchiveRoot({ name: 'SO_ARC', path: __dirname })).toMatchObject({ ok: true });
    expect(shareOf('\\\\?\\UNC\\srv\\share\\x')).toBe('\\\\srv\\share');
    expect(shareOf('D:\\SO_ARC')).toBeUndefined();
  });
});
