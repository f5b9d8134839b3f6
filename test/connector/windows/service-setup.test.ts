import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SERVICE_STATE, type ServiceManager, type ServiceRecovery } from '../../../connector/src/windows/service-control-manager';
import { SERVICE_RECOVERY, setupService, stateFolderAcl, waitForServiceStop } from '../../../connector/src/windows/service-setup';
import { writeConnectorConfigFile } from '../../helpers/connector-config';

const EXE = 'C:\\Program Files\\so-backup connector\\so-connector.exe';

function enrolledConfig(): { config: string; stateDir: string } {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'so-setup-'));
  const config = writeConnectorConfigFile(stateDir);
  return { config, stateDir };
}

class FakeManager implements ServiceManager {
  readonly calls: string[] = [];
  recovery?: ServiceRecovery;
  constructor(
    private readonly states: Array<number | undefined>,
    private readonly processExits = true,
    private readonly running: number[] = [],
  ) {}
  processesOf(image: string): number[] {
    this.calls.push(`processes of ${image}`);
    return this.running;
  }
  configure(name: string, recovery: ServiceRecovery): void {
    this.calls.push(`configure ${name}`);
    this.recovery = recovery;
  }
  start(name: string): void {
    this.calls.push(`start ${name}`);
  }
  query(): { state: number; win32ExitCode: number; serviceSpecificExitCode: number; processId: number } | undefined {
    const state = this.states.length > 0 ? this.states.shift() : SERVICE_STATE.RUNNING;
    return state === undefined
      ? undefined
      : { state, win32ExitCode: 1066, serviceSpecificExitCode: 2, processId: state === SERVICE_STATE.STOPPED ? 0 : 4242 };
  }
  waitForProcessExit(processId: number): boolean {
    this.calls.push(`wait for ${processId}`);
    return this.processExits;
  }
}

const os = (manager: ServiceManager, icacls = 0) => {
  const ran: string[][] = [];
  return {
    ran,
    os: {
      manager,
      run: (command: string, args: string[]) => (
        ran.push([command, ...args]), { status: icacls, output: icacls ? 'Access is denied.' : '' }
      ),
      sleep: async () => undefined,
    },
  };
};

describe('so-connector service-setup (what the MSI runs after registering the service)', () => {
  test('the recovery settings: delayed automatic start, restart after 10 s, 60 s, 5 min (also after an error exit), a day to reset, a minute to stop at shutdown', async () => {
    expect(SERVICE_RECOVERY).toEqual({
      delayedAutoStart: true,
      restartDelaysMs: [10_000, 60_000, 300_000],
      resetPeriodSeconds: 86_400,
      restartOnErrorExit: true,
      preshutdownTimeoutMs: 60_000,
    });
  });

  test('GIVEN no configuration yet (installed without ACTIVATIONCODE) THEN it configures the service, does not start it, and says how to go on', async () => {
    const manager = new FakeManager([]);
    const { os: setupOs, ran } = os(manager);
    const lines = await setupService(
      {
        name: 'so-connector',
        config: path.join(tmpdir(), 'nowhere', 'config.json'),
        account: 'NT SERVICE\\so-connector',
        startIfEnrolled: true,
      },
      setupOs,
    );
    expect(manager.calls).toEqual(['configure so-connector']);
    expect(ran).toEqual([]);
    expect(lines.join('\n')).toMatch(/not enrolled yet .* enrol with so-connector enrol, then start the service/);
  });

  test('GIVEN an enrolled connector THEN the state folder is for SYSTEM, Administrators and the service account only, and the service is started and waited for', async () => {
    const { config, stateDir } = enrolledConfig();
    const manager = new FakeManager([SERVICE_STATE.START_PENDING, SERVICE_STATE.RUNNING]);
    const { os: setupOs, ran } = os(manager);
    const lines = await setupService({ name: 'so-connector', config, account: 'NT SERVICE\\so-connector', startIfEnrolled: true }, setupOs);
    expect(ran).toEqual([
      [
        'icacls',
        stateDir,
        '/inheritance:r',
        '/grant:r',
        '*S-1-5-18:(OI)(CI)F',
        '*S-1-5-32-544:(OI)(CI)F',
        'NT SERVICE\\so-connector:(OI)(CI)M',
        '/T',
        '/Q',
      ],
    ]);
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
    await expect(
      setupService(
        { name: 'so-connector', config, account: 'NT SERVICE\\so-connector', startIfEnrolled: true },
        os(new FakeManager([SERVICE_STATE.STOPPED])).os,
      ),
    ).rejects.toThrow(`the service "so-connector" stopped right after starting (exit code 2); see ${stateDir}\\logs`);
    await expect(setupService({ name: 'so-connector', config, account: 'ACME\\svc' }, os(new FakeManager([]), 5).os)).rejects.toThrow(
      `could not give ACME\\svc access to ${stateDir}: icacls said Access is denied.`,
    );
    await expect(
      setupService(
        { name: 'so-connector', config, startIfEnrolled: true, startTimeoutMs: -1 },
        os(new FakeManager([SERVICE_STATE.START_PENDING])).os,
      ),
    ).rejects.toThrow(/did not reach RUNNING within/);
  });

  test('service-wait (before the MSI removes the program): a stopping service is waited for until STOPPED and then until its process has ended; a running or stopped one is left alone', async () => {
    const sleep = async () => undefined;
    const manager = new FakeManager([SERVICE_STATE.STOP_PENDING, SERVICE_STATE.STOP_PENDING, SERVICE_STATE.STOPPED]);
    expect(await waitForServiceStop({ name: 'so-connector' }, { manager, sleep })).toEqual([
      'service "so-connector" stopped; its process 4242 has ended',
    ]);
    expect(manager.calls).toEqual(['wait for 4242']);

    expect(await waitForServiceStop({ name: 'so-connector' }, { manager: new FakeManager([undefined]), sleep })).toEqual([
      'service "so-connector" is not installed: nothing to wait for',
    ]);
    const running = new FakeManager([SERVICE_STATE.RUNNING]);
    expect(await waitForServiceStop({ name: 'so-connector', image: EXE }, { manager: running, sleep })).toEqual([
      'service "so-connector" is not stopping: nothing to wait for',
    ]);
    expect(running.calls).toEqual([]);
  });

  test("GIVEN Windows Installer's StopServices, which returns once the service reports STOPPED (no process id any more) WHEN service-wait runs THEN it waits for every process still running the installed exe", async () => {
    const sleep = async () => undefined;
    const stopped = new FakeManager([SERVICE_STATE.STOPPED, SERVICE_STATE.STOPPED], true, [5150]);
    expect(await waitForServiceStop({ name: 'so-connector', image: EXE }, { manager: stopped, sleep })).toEqual([
      'service "so-connector" stopped; its process 5150 has ended',
    ]);
    expect(stopped.calls).toEqual([`processes of ${EXE}`, 'wait for 5150']);
    const stuck = new FakeManager([SERVICE_STATE.STOPPED, SERVICE_STATE.STOPPED], false, [5150]);
    await expect(waitForServiceStop({ name: 'so-connector', image: EXE }, { manager: stuck, sleep })).rejects.toThrow(
      `process 5150 still runs ${EXE} after 90 s, so it cannot be replaced or removed: end it (Task Manager, or taskkill /pid 5150) and run the installer again`,
    );
    const idle = new FakeManager([SERVICE_STATE.STOPPED, SERVICE_STATE.STOPPED]);
    expect(await waitForServiceStop({ name: 'so-connector', image: EXE }, { manager: idle, sleep })).toEqual([
      'service "so-connector" stopped',
    ]);
  });

  test('service-wait gives up with a clear error', async () => {
    const sleep = async () => undefined;
    await expect(
      waitForServiceStop(
        { name: 'so-connector' },
        { manager: new FakeManager([SERVICE_STATE.STOP_PENDING, SERVICE_STATE.STOPPED], false), sleep },
      ),
    ).rejects.toThrow('the service "so-connector" reported it stopped, but its process 4242 still runs after 90 s');
    await expect(
      waitForServiceStop(
        { name: 'so-connector', timeoutMs: -1 },
        { manager: new FakeManager([SERVICE_STATE.STOP_PENDING, SERVICE_STATE.STOP_PENDING]), sleep },
      ),
    ).rejects.toThrow('did not stop within');
  });
});
