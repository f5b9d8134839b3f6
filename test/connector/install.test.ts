import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describePlan, executePlan, installPlan, type InstallStep, uninstallPlan } from '../../connector/src/install/install-plan';
import { installService, uninstallService } from '../../connector/src/install/run-install';
import { EXE_NODE_OPTIONS, NODE_OPTIONS, systemdUnit, windowsServiceCommand } from '../../connector/src/install/service-definition';
import { USER_NODE } from '../../local/daemons';
import { writeConnectorConfigFile } from '../helpers/connector-config';

const windows = {
  name: 'so-connector',
  nodePath: 'C:\\Program Files\\so-backup connector\\so-connector.exe',
  scriptPath: 'C:\\Program Files\\so-backup connector\\so-connector.exe',
  configFile: 'C:\\ProgramData\\so-backup\\config.json',
  writablePaths: ['C:\\ProgramData\\so-backup', 'D:\\staging'],
  logDir: 'C:\\ProgramData\\so-backup\\logs',
};
const linux = {
  name: 'so-connector',
  nodePath: '/usr/bin/node',
  scriptPath: '/opt/so-connector/so-connector.js',
  configFile: '/etc/so-backup/config.json',
  writablePaths: ['/var/lib/so-backup', '/srv/staging'],
  logDir: '/var/lib/so-backup/logs',
};

describe('service definitions', () => {
  test('the Windows service runs the exe as built: its Node options are inside it, never program arguments', () => {
    const command = windowsServiceCommand({ exePath: windows.nodePath, configFile: windows.configFile, name: 'so-connector' });
    expect(command).toBe(
      '"C:\\Program Files\\so-backup connector\\so-connector.exe" service-host --config "C:\\ProgramData\\so-backup\\config.json" --name so-connector',
    );
    expect(command).not.toContain('--max-semi-space-size');
    expect(EXE_NODE_OPTIONS).toEqual([...NODE_OPTIONS, '--use-system-ca']);
  });

  test('the systemd unit restarts forever and may write only its own folders', () => {
    const unit = systemdUnit(linux);
    expect(unit).toMatch(
      /^ExecStart=\/usr\/bin\/node --max-semi-space-size=8 --heap-growing-percent=50 \/opt\/so-connector\/so-connector.js run --config \/etc\/so-backup\/config.json$/m,
    );
    expect(unit).toMatch(/^Restart=always$/m);
    expect(unit).toMatch(/^User=so-backup$/m);
    expect(unit).toMatch(/^ProtectSystem=strict$/m);
    expect(unit).toMatch(/^ReadWritePaths=\/var\/lib\/so-backup \/srv\/staging \/var\/lib\/so-backup\/logs$/m);
  });
});

describe('install plans', () => {
  test('Windows: register the exe as its own service with sc.exe, then service-setup; uninstall stops (not running is fine) then removes', async () => {
    const steps: string[] = [];
    await executePlan(installPlan('win32', { ...windows, account: 'ACME\\svc-backup' }), {
      writeFile: async (p) => void steps.push(`write ${p}`),
      run: async (c, a) => void steps.push([c, ...a].join(' | ')),
      setupService: async (setup) => void steps.push(`setup ${JSON.stringify(setup)}`),
    });
    expect(steps).toEqual([
      'sc.exe | create | so-connector | binPath= | "C:\\Program Files\\so-backup connector\\so-connector.exe" service-host --config "C:\\ProgramData\\so-backup\\config.json" --name so-connector | start= | auto | DisplayName= | so-backup connector | obj= | ACME\\svc-backup',
      'sc.exe | description | so-connector | Backs up SuperOffice (SQL Server and SO_ARC) to so-backup. Dials out only.',
      `setup ${JSON.stringify({ name: 'so-connector', config: 'C:\\ProgramData\\so-backup\\config.json', account: 'ACME\\svc-backup', startIfEnrolled: true })}`,
    ]);
    expect(describePlan(installPlan('win32', windows))).toContain(
      '3. delayed automatic start, restart on failure, the state folder for the service account only, and start it: so-connector service-setup --name so-connector --config C:\\ProgramData\\so-backup\\config.json --account "NT SERVICE\\so-connector" --start-if-enrolled',
    );
    expect(installPlan('win32', windows)[0]).toMatchObject({ args: expect.arrayContaining(['obj=', 'NT SERVICE\\so-connector']) });
    const uninstall = uninstallPlan('win32', windows);
    expect(uninstall.map((s: InstallStep) => (s.kind === 'run' ? s.args.join(' ') : s.kind))).toEqual([
      'stop so-connector',
      'delete so-connector',
    ]);
    expect(uninstall[0]).toMatchObject({ okStatus: [1062] });
  });

  test('Windows: install refuses to register anything but the exe (Node.js is not needed there)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'so-install-'));
    const config = writeConnectorConfigFile(dir);
    const recorded: string[] = [];
    const os = {
      writeFile: async () => undefined,
      run: async (c: string) => void recorded.push(c),
      setupService: async () => void recorded.push('setup'),
    };
    await expect(installService({ config, name: 'so-connector' }, os, 'win32', false)).rejects.toThrow(/install it with the MSI/);
    const { text } = await installService({ config, name: 'so-connector', dryRun: true }, os, 'win32', true);
    expect(text).toMatch(/^1\. register the Windows service, running as NT SERVICE\\so-connector: sc.exe create so-connector binPath= /);
    expect(recorded).toEqual([]);
    expect((await uninstallService({ name: 'so-connector', dryRun: true }, os, 'win32')).text).toContain(
      '2. remove the Windows service (the state folder stays): sc.exe delete so-connector',
    );
  });

  test('Linux: write the unit, reload, enable and start', () => {
    expect(
      installPlan('linux', linux).map((s) =>
        s.kind === 'write-file' ? `write ${s.path}` : s.kind === 'run' ? [s.command, ...s.args].join(' ') : s.kind,
      ),
    ).toEqual(['write /etc/systemd/system/so-connector.service', 'systemctl daemon-reload', 'systemctl enable --now so-connector.service']);
  });
});

describe('npm run build:connector', () => {
  test('produces one self-contained file that runs with plain node', () => {
    const root = path.resolve(__dirname, '..', '..');
    const dir = mkdtempSync(path.join(tmpdir(), 'so-connector-bundle-'));
    const out = path.join(dir, 'dist');
    execFileSync(USER_NODE, ['--import', 'tsx', path.join(root, 'scripts', 'build-connector.ts'), '--out', out, '--no-windows'], {
      cwd: root,
    });
    const bundle = path.join(out, 'so-connector.js');
    expect(existsSync(path.join(out, 'INSTALL.md'))).toBe(true);
    const config = path.join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ endpoint: 'http://example', tenantId: 'X', extra: 1 }));
    expect(execFileSync(USER_NODE, [bundle, '--version'], { cwd: dir, encoding: 'utf8' }).trim()).toBe('0.1.0');
    let stderr = '';
    try {
      execFileSync(USER_NODE, [bundle, 'doctor', '--config', config], { cwd: dir, encoding: 'utf8', stdio: 'pipe' });
    } catch (error) {
      stderr = String((error as { stderr: string }).stderr);
      expect((error as { status: number }).status).toBe(2);
    }
    expect(stderr).toMatch(/endpoint: endpoint must be wss:\/\//);
    expect(stderr).toMatch(/tenantId: a tenant id is/);
    expect(stderr).toMatch(/Unrecognized key: "extra"/);
  });
});
