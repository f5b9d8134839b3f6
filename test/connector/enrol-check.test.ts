import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { enrolConnector } from '../../connector/src/enrol';

/**
 * `so-connector enrol --check-only`: what the MSI's EnrolCheck runs with the installed exe before
 * StopServices on a repair or upgrade given an activation code, so that a refused enrolment leaves
 * the running service alone. Nothing is written and the endpoint is not contacted.
 */
describe('enrol --check-only', () => {
  let stateDir: string;
  beforeEach(() => {
    stateDir = mkdtempSync(path.join(tmpdir(), 'so-enrol-check-'));
  });
  afterEach(() => rmSync(stateDir, { recursive: true, force: true }));
  const options = (extra: Partial<Parameters<typeof enrolConnector>[0]> = {}) => ({
    // Nothing listens on port 1: contacting it would fail the check.
    endpoint: 'ws://127.0.0.1:1',
    code: 'acme:ABCDE-FGHJK-LMNPQ-RSTUV',
    config: path.join(stateDir, 'config.json'),
    stateDir,
    connectorVersion: '0.1.0',
    archive: [{ name: 'SO_ARC', path: stateDir }],
    checkOnly: true,
    ...extra,
  });

  test('GIVEN a server not enrolled yet THEN the check passes without contacting the endpoint and writes nothing', async () => {
    await expect(enrolConnector(options())).resolves.toMatchObject({ tenantId: 'acme' });
    expect(readdirSync(stateDir)).toEqual([]);
  });

  test('GIVEN an enrolled server (identity.json exists) THEN "enrolled already" is the reason, even when the other arguments are incomplete (an MSI repair passes no ARCHIVE)', async () => {
    writeFileSync(path.join(stateDir, 'identity.json'), '{}');
    await expect(enrolConnector(options({ archive: undefined }))).rejects.toThrow(
      `${path.join(stateDir, 'identity.json')} exists: this server is enrolled already`,
    );
    expect(existsSync(path.join(stateDir, 'config.json'))).toBe(false);
  });

  test('GIVEN no endpoint (the MSI passes ENDPOINT as it is, empty when not given) THEN the error names it', async () => {
    await expect(enrolConnector(options({ endpoint: '' }))).rejects.toThrow(
      'no endpoint: give the wss:// endpoint from the operator (--endpoint, or the MSI property ENDPOINT)',
    );
  });
});
