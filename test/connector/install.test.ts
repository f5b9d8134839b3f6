import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { executePlan, installPlan, type InstallStep, uninstallPlan } from '../../connector/src/install/install-plan';
import { systemdUnit, winswServiceXml } from '../../connector/src/install/service-definition';

const windows = {
  name: 'so-connector', nodePath: 'C:\\Program Files\\nodejs\\node.exe', scriptPath: 'C:\\Program Files\\so-connector\\so-connector.js',
  configFile: 'C:\\ProgramData\\so-backup\\config.json', writablePaths: ['C:\\ProgramData\\so-backup', 'D:\\staging'], logDir: 'C:\\ProgramData\\so-backup\\logs',
};
const linux = { name: 'so-connector', nodePath: '/usr/bin/node', scriptPath: '/opt/so-connector/so-connector.js', configFile: '/etc/so-backup/config.json', writablePaths: ['/var/lib/so-backup', '/srv/staging'], logDir: '/var/lib/so-backup/logs' };

describe('service definitions', () => {
  test('the Windows service starts automatically, restarts on failure, rolls its logs, and runs as the given account', () => {
    const definition = winswServiceXml({ ...windows, account: 'ACME\\svc-backup' });
    expect(definition).toContain('<startmode>Automatic</startmode>');
    expect(definition.match(/<onfailure action="restart"/g)).toHaveLength(3);
    expect(definition).toContain('<arguments>--max-semi-space-size=8 --heap-growing-percent=50 "C:\\Program Files\\so-connector\\so-connector.js" run --config "C:\\ProgramData\\so-backup\\config.json"</arguments>');
    expect(definition).toContain('<username>ACME\\svc-backup</username>');
    expect(definition).toContain('<log mode="roll-by-size">');
    expect(winswServiceXml(windows)).toContain('<username>NT SERVICE\\so-connector</username>');
    expect(winswServiceXml({ ...windows, account: 'A&B<x>' })).toContain('<username>A&amp;B&lt;x&gt;</username>');
  });

  test('the systemd unit restarts forever and may write only its own folders', () => {
    const unit = systemdUnit(linux);
    expect(unit).toMatch(/^ExecStart=\/usr\/bin\/node --max-semi-space-size=8 --heap-growing-percent=50 \/opt\/so-connector\/so-connector.js run --config \/etc\/so-backup\/config.json$/m);
    expect(unit).toMatch(/^Restart=always$/m);
    expect(unit).toMatch(/^User=so-backup$/m);
    expect(unit).toMatch(/^ProtectSystem=strict$/m);
    expect(unit).toMatch(/^ReadWritePaths=\/var\/lib\/so-backup \/srv\/staging \/var\/lib\/so-backup\/logs$/m);
  });
});

describe('install plans', () => {
  test('Windows: write the WinSW definition, install, start; uninstall stops then removes', async () => {
    const steps: string[] = [];
    await executePlan(installPlan('win32', windows), { writeFile: async (p) => void steps.push(`write ${p}`), run: async (c, a) => void steps.push([c, ...a].join(' ')) });
    expect(steps).toEqual([
      'write C:\\Program Files\\so-connector\\so-connector-service.xml',
      'C:\\Program Files\\so-connector\\so-connector-service.exe install',
      'C:\\Program Files\\so-connector\\so-connector-service.exe start',
    ]);
    expect(uninstallPlan('win32', windows).map((s: InstallStep) => (s.kind === 'run' ? s.args[0] : s.kind))).toEqual(['stop', 'uninstall']);
  });

  test('Linux: write the unit, reload, enable and start', () => {
    expect(installPlan('linux', linux).map((s) => (s.kind === 'write-file' ? `write ${s.path}` : [s.command, ...s.args].join(' ')))).toEqual([
      'write /etc/systemd/system/so-connector.service', 'systemctl daemon-reload', 'systemctl enable --now so-connector.service',
    ]);
  });
});

describe('npm run build:connector', () => {
  test('produces one self-contained file that runs with plain node', () => {
    const root = path.resolve(__dirname, '..', '..');
    execFileSync(process.execPath, ['--import', 'tsx', path.join(root, 'scripts', 'build-connector.ts')], { cwd: root });
    const bundle = path.join(root, 'dist', 'so-connector', 'so-connector.js');
    expect(existsSync(path.join(root, 'dist', 'so-connector', 'INSTALL.md'))).toBe(true);
    const dir = mkdtempSync(path.join(tmpdir(), 'so-connector-bundle-'));
    const config = path.join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ endpoint: 'http://example', tenantId: 'X', extra: 1 }));
    expect(execFileSync(process.execPath, [bundle, '--version'], { cwd: dir, encoding: 'utf8' }).trim()).toBe('0.1.0');
    let stderr = '';
    try {
      execFileSync(process.execPath, [bundle, 'doctor', '--config', config], { cwd: dir, encoding: 'utf8', stdio: 'pipe' });
    } catch (error) {
      stderr = String((error as { stderr: string }).stderr);
      expect((error as { status: number }).status).toBe(2);
    }
    expect(stderr).toMatch(/endpoint: endpoint must be wss:\/\//);
    expect(stderr).toMatch(/tenantId: a tenant id is/);
    expect(stderr).toMatch(/Unrecognized key: "extra"/);
  });
});
