import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SERVICE_STATE, type ServiceManager, type ServiceRecovery } from '../../../connector/src/windows/service-control-manager';
import { SERVICE_RECOVERY, setupService, stateFolderAcl } from '../../../connector/src/windows/service-setup';

function enrolledConfig(): { config: string; stateDir: string } {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'so-setup-'));
  const config = path.join(stateDir, 'config.json');
  writeFileSync(config, JSON.stringify({ endpoint: 'wss://example.com/prod', tenantId: 'acme', identityFile: path.join(stateDir, 'identity.json'), stateDir, archive: { roots: [{ name: 'SO_ARC', path: stateDir }] } }));
  return { config, stateDir };
}

class FakeManager implements ServiceManager {
  readonly calls: string[] = [];
  recovery?: ServiceRecovery;
  constructor(private readonly states: number[]) {}
  configure(name: string, recovery: ServiceRecovery): void {
    this.calls.push(`configure ${name}`);
    this.recovery = recovery;
  }
  start(name: string): void {
    this.calls.push(`start ${name}`);
  }
  query(): { state: number; win32ExitCode: number; serviceSpecificExitCode: number } {
    return { state: this.states.shift() ?? SERVICE_STATE.RUNNING, win32ExitCode: 1066, serviceSpecificExitCode: 2 };
  }
}

const os = (manager: ServiceManager, icacls = 0) => {
  const ran: string[][] = [];
  return { ran, os: { manager, run: (command: string, args: string[]) => (ran.push([command, ...args]), { status: icacls, output: icacls ? 'Access is denied.' : '' }), sleep: async () => undefined } };
};

describe('so-connector service-setup (what the MSI runs after registering the service)', () => {
  test('the recovery settings: delayed automatic start, restart after 10 s, 60 s, 5 min (also after an error exit), a day to reset, a minute to stop at shutdown', async () => {
    expect(SERVICE_RECOVERY).toEqual({ delayedAutoStart: true, restartDelaysMs: [10_000, 60_000, 300_000], resetPeriodSeconds: 86_400, restartOnErrorExit: true, preshutdownTimeoutMs: 60_000 });
  });

  test('GIVEN no configuration yet (installed without ACTIVATIONCODE) THEN it configures the service, does not start it, and says how to go on', async () => {
    const manager = new FakeManager([]);
    const { os: setupOs, ran } = os(manager);
    const lines = await setupService({ name: 'so-connector', config: path.join(tmpdir(), 'nowhere', 'config.json'), account: 'NT SERVICE\\so-connector', startIfEnrolled: true }, setupOs);
    expect(manager.calls).toEqual(['configure so-connector']);
    expect(ran).toEqual([]);
    expect(lines.join('\n')).toMatch(/not enrolled yet .* enrol with so-connector enrol, then start the service/);
  });

  test('GIVEN an enrolled connector THEN the state folder is for SYSTEM, Administrators and the service account only, and the service is started and waited for', async () => {
    const { config, stateDir } = enrolledConfig();
    const manager = new FakeManager([SERVICE_STATE.START_PENDING, SERVICE_STATE.RUNNING]);
    const { os: setupOs, ran } = os(manager);
    const lines = await setupService({ name: 'so-connector', config, account: 'NT SERVICE\\so-connector', startIfEnrolled: true }, setupOs);
    expect(ran).toEqual([['icacls', stateDir, '/inheritance:r', '/grant:r', '*S-1-5-18:(OI)(CI)F', '*S-1-5-32-544:(OI)(CI)F', 'NT SERVICE\\so-connector:(OI)(CI)M', '/T', '/Q']]);
    expect(stateFolderAcl('C:\\ProgramData\\so-backup', 'ACME\\svc')).toContain('ACME\\svc:(OI)(CI)M');
    expect(manager.calls).toEqual(['configure so-connector', 'start so-connector']);
    expect(lines.at(-1)).toBe('service "so-connector" is running');
  });

  test('LocalSystem needs no grant; without --start-if-enrolled nothing is started', async () => {
    const { config } = enrolledConfig();
    const manager = new FakeManager([]);
    const { os: setupOs, ran } = os(manager);
    await setupService({ name: 'so-connector', config, account: 'LocalSystem' }, setupOs);
    expect(ran).toEqual([]);
    expect(manager.calls).toEqual(['configure so-connector']);
  });

  test('GIVEN a service that stops right after starting, or an icacls that fails THEN a clear error that names the logs or the account', async () => {
    const { config, stateDir } = enrolledConfig();
    await expect(setupService({ name: 'so-connector', config, account: 'NT SERVICE\\so-connector', startIfEnrolled: true }, os(new FakeManager([SERVICE_STATE.STOPPED])).os))
      .rejects.toThrow(`the service "so-connector" stopped right after starting (exit code 2); see ${stateDir}\\logs`);
    await expect(setupService({ name: 'so-connector', config, account: 'ACME\\svc' }, os(new FakeManager([]), 5).os))
      .rejects.toThrow(`could not give ACME\\svc access to ${stateDir}: icacls said Access is denied.`);
    await expect(setupService({ name: 'so-connector', config, startIfEnrolled: true, startTimeoutMs: -1 }, os(new FakeManager([SERVICE_STATE.START_PENDING])).os))
      .rejects.toThrow(/did not reach RUNNING within/);
  });
});
