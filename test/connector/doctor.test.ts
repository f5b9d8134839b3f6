import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { formatChecks } from '../../connector/src/doctor/doctor';
import { enrolConnector } from '../../connector/src/enrol';
import { doctor } from '../../connector/src/run-connector';
import { createActivationCode, newTenant } from '../../functions/src/shared';
import { SqlServerStandIn } from '../../local/tds/sql-server-stand-in';
import { type CloudHarness, startCloudHarness } from '../helpers/cloud-harness';
import { freePort } from '../helpers/test-ports';

/** `so-connector doctor` against the real authorizer (local gateway) and the TDS stand-in. */
let cloud: CloudHarness;
let standIn: SqlServerStandIn;
let sqlPort: number;
const login = { user: 'so_backup', password: 'Pw-Doctor-1' };

beforeAll(async () => {
  cloud = await startCloudHarness();
  sqlPort = await freePort();
  standIn = new SqlServerStandIn({ port: sqlPort, login, engineEdition: 4, databases: [{ name: 'SuperOffice', sizeBytes: 8 << 20 }], additionalLogins: [{ user: 'reader', password: 'Pw-Reader-1' }], loginsWithoutBackupPermission: ['reader'] });
  await standIn.start();
});
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
    endpoint: cloud.endpoint, code: `${tenantId}:${code}`, config: path.join(dir, 'config.json'), stateDir: path.join(dir, 'state'), connectorVersion: 'test',
    sql: `Server=127.0.0.1,${sqlPort};User Id=${user};Password=${password};Encrypt=false`, database: ['SuperOffice'], staging: dir, archive: [{ name: 'SO_ARC', path: archive }],
  });
  return configFile;
}

describe('so-connector doctor', () => {
  test('GIVEN a healthy installation WHEN checked THEN every check passes and Express is explained', async () => {
    const checks = await doctor(await enrolled('doctor-ok'));
    expect(checks.map((c) => [c.name, c.ok])).toEqual([
      ['cloud endpoint and authentication', true], ['SQL Server login', true], ['database SuperOffice', true], ['staging folder', true], ['archive root SO_ARC', true],
    ]);
    expect(checks[0]!.detail).toMatch(/clock within \d+ s/);
    expect(checks[1]!.detail).toMatch(/Express.*no compression, no SQL Agent/);
    expect(formatChecks(checks)).toMatch(/^✓ cloud endpoint and authentication/);
  });

  test('GIVEN a login without BACKUP permission WHEN checked THEN ✗ names the role to grant', async () => {
    const checks = await doctor(await enrolled('doctor-perm', 'reader', 'Pw-Reader-1'));
    expect(checks.find((c) => c.name === 'database SuperOffice')).toMatchObject({ ok: false, detail: 'the login lacks BACKUP DATABASE permission', fix: expect.stringMatching(/db_backupoperator/) });
  });

  test('GIVEN a wrong SQL password WHEN checked THEN the SQL login ✗ says what to check', async () => {
    const checks = await doctor(await enrolled('doctor-login', login.user, 'wrong'));
    expect(checks.find((c) => c.name === 'SQL Server login')).toMatchObject({ ok: false, detail: expect.stringMatching(/Login failed.*Check the user and password/) });
  });

  test('GIVEN a revoked key, a missing archive root and an unreachable endpoint WHEN checked THEN each ✗ has a fix', async () => {
    const configFile = await enrolled('doctor-broken');
    const tenant = (await cloud.tenants.get('doctor-broken'))!;
    await cloud.tenants.updateKeys(tenant, []);
    const config = JSON.parse(readFileSync(configFile, 'utf8')) as { archive: { roots: Array<{ name: string; path: string }> } };
    config.archive.roots.push({ name: 'SO_ARC2', path: '/nonexistent/SO_ARC2' });
    writeFileSync(configFile, JSON.stringify(config));
    const checks = await doctor(configFile);
    expect(checks.find((c) => c.name === 'cloud endpoint and authentication')).toMatchObject({ ok: false, detail: 'refused (HTTP 403)', fix: expect.stringMatching(/revoked/) });
    expect(checks.find((c) => c.name === 'archive root SO_ARC2')).toMatchObject({ ok: false, detail: expect.stringMatching(/ENOENT/) });

    const unreachable = { ...JSON.parse(readFileSync(configFile, 'utf8')), endpoint: 'ws://127.0.0.1:9' };
    writeFileSync(configFile, JSON.stringify(unreachable));
    const offline = await doctor(configFile);
    expect(offline[0]).toMatchObject({ ok: false, detail: expect.stringMatching(/cannot reach/), fix: expect.stringMatching(/outbound/) });
  });
});
