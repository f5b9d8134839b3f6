import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { connectorEnrolCommand } from '../../local/local-mode';

const run = promisify(execFile);

/**
 * Local mode enrols its connector with a one-time activation code and a connection string that
 * holds the stand-in's password: neither may be on the command line, which every local user can
 * read in ps or /proc/<pid>/cmdline while enrol runs (issue 14, re-check N4).
 */
describe("local mode's so-connector enrol keeps its secrets off the command line", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'so-enrol-command-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const secrets = { code: 'local:ABCDE-FGHJK-LMNPQ-RSTUV', password: 'Local-s3cr3t-per-folder' };
  const command = () =>
    connectorEnrolCommand({
      // Nothing listens on port 1: --check-only never contacts it.
      endpoint: 'ws://127.0.0.1:1',
      activationCode: secrets.code,
      config: path.join(dir, 'config.json'),
      stateDir: dir,
      connectionString: `Server=127.0.0.1,16504;User Id=so_backup;Password=${secrets.password};Encrypt=false`,
      databases: ['SuperOffice'],
      staging: dir,
      archiveRoot: dir,
    });

  test('GIVEN the enrol command WHEN built THEN its arguments hold neither the code nor the password; its environment does', () => {
    const enrol = command();
    const line = [enrol.command, ...enrol.args].join(' ');
    expect(line).not.toContain(secrets.code);
    expect(line).not.toContain('ABCDE-FGHJK');
    expect(line).not.toContain(secrets.password);
    expect(enrol.env.SO_CONNECTOR_ACTIVATION_CODE).toBe(secrets.code);
    expect(enrol.env.SO_CONNECTOR_SQL).toContain(`Password=${secrets.password}`);
  });

  test('GIVEN that command and environment WHEN the real so-connector CLI runs it (--check-only) THEN it reads the code from the environment; without it the code is still required', async () => {
    const enrol = command();
    const env = { ...process.env, ...enrol.env };
    const checked = await run(enrol.command, [...enrol.args, '--check-only'], { env });
    expect(checked.stdout).toContain('enrolment of tenant "local" checked');
    expect(readdirSync(dir)).toEqual([]);
    const { SO_CONNECTOR_ACTIVATION_CODE: _code, ...withoutCode } = env;
    await expect(run(enrol.command, [...enrol.args, '--check-only'], { env: withoutCode })).rejects.toMatchObject({
      stderr: expect.stringContaining("required option '--code <tenant:code>' not specified"),
    });
  }, 60_000);
});
