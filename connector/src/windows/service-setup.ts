/**
 * `so-connector service-setup`: what the MSI (and `so-connector install` on Windows) runs after
 * the service is registered — the settings wixl's MSI tables cannot hold (delayed automatic
 * start, restart on failure, time to stop cleanly at shutdown), access for the service account to
 * the state folder, and a start when the connector is enrolled.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadConnectorConfig } from '../config';
import { ConnectorError } from '../errors';
import { SERVICE_STATE, type ServiceManager, type ServiceRecovery } from './service-control-manager';

/** Restarted after 10 s, 60 s, then every 5 min; the count resets after a day without failure. */
export const SERVICE_RECOVERY: ServiceRecovery = {
  delayedAutoStart: true,
  restartDelaysMs: [10_000, 60_000, 300_000],
  resetPeriodSeconds: 86_400,
  restartOnErrorExit: true,
  // A running job needs a moment to checkpoint its upload before Windows shuts down.
  preshutdownTimeoutMs: 60_000,
};

export interface ServiceSetupOptions {
  readonly name: string;
  readonly config: string;
  /** The account the service runs as; granted Modify on the state folder. Empty or LocalSystem: nothing to grant. */
  readonly account?: string;
  /** Start the service when the configuration exists (enrolled), and wait until it runs. */
  readonly startIfEnrolled?: boolean;
  /** How long to wait for RUNNING. @default 60000 */
  readonly startTimeoutMs?: number;
}

/** The icacls arguments that give only SYSTEM, Administrators and the service account the state folder. */
export function stateFolderAcl(stateDir: string, account: string): string[] {
  return [stateDir, '/inheritance:r', '/grant:r', '*S-1-5-18:(OI)(CI)F', '*S-1-5-32-544:(OI)(CI)F', `${account}:(OI)(CI)M`, '/T', '/Q'];
}

const isSystemAccount = (account?: string) => !account || /^(LocalSystem|\.\\LocalSystem|NT AUTHORITY\\SYSTEM)$/i.test(account);

export interface SetupOs {
  readonly manager: ServiceManager;
  run(command: string, args: string[]): { status: number | null; output: string };
  sleep(ms: number): Promise<void>;
}

const realOs = (manager: ServiceManager): SetupOs => ({
  manager,
  run: (command, args) => {
    const result = spawnSync(command, args, { encoding: 'utf8', windowsHide: true });
    return { status: result.status, output: `${result.stdout ?? ''}${result.stderr ?? ''}${result.error?.message ?? ''}`.trim() };
  },
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
});

/** Lines saying what was done, for the MSI log and the console. */
export async function setupService(options: ServiceSetupOptions, os: SetupOs | ServiceManager): Promise<string[]> {
  const { manager, run, sleep } = 'manager' in os ? os : realOs(os);
  const done: string[] = [];
  manager.configure(options.name, SERVICE_RECOVERY);
  done.push(
    `service "${options.name}": delayed automatic start; restarts after ${SERVICE_RECOVERY.restartDelaysMs.map((ms) => `${ms / 1000} s`).join(', ')}; ${SERVICE_RECOVERY.preshutdownTimeoutMs / 1000} s to stop at shutdown`,
  );
  if (!existsSync(options.config)) {
    done.push(`not enrolled yet (${options.config} does not exist): enrol with so-connector enrol, then start the service`);
    return done;
  }
  const config = loadConnectorConfig(options.config);
  if (!isSystemAccount(options.account)) {
    const acl = run('icacls', stateFolderAcl(config.stateDir, options.account!));
    if (acl.status !== 0)
      throw new ConnectorError(
        'INSTALL_FAILED',
        `could not give ${options.account} access to ${config.stateDir}: icacls said ${acl.output}`,
        { permanent: true },
      );
    done.push(`${config.stateDir}: only SYSTEM, Administrators and ${options.account} (modify) have access`);
  }
  if (!options.startIfEnrolled) return done;
  manager.start(options.name);
  const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
  for (;;) {
    const status = manager.query(options.name);
    if (!status) throw new ConnectorError('SERVICE_START_FAILED', `the service "${options.name}" is not installed`, { permanent: true });
    if (status.state === SERVICE_STATE.RUNNING) break;
    if (status.state === SERVICE_STATE.STOPPED) {
      throw new ConnectorError(
        'SERVICE_START_FAILED',
        `the service "${options.name}" stopped right after starting (exit code ${status.serviceSpecificExitCode || status.win32ExitCode}); see ${config.stateDir}\\logs`,
        { permanent: true },
      );
    }
    if (Date.now() > deadline)
      throw new ConnectorError(
        'SERVICE_START_FAILED',
        `the service "${options.name}" did not reach RUNNING within ${(options.startTimeoutMs ?? 60_000) / 1000} s; see ${config.stateDir}\\logs`,
        { permanent: true },
      );
    await sleep(500);
  }
  done.push(`service "${options.name}" is running`);
  return done;
}

/**
 * `so-connector service-wait`: waits until a service that is stopping has stopped and every
 * process of its program has ended — not only until it reports SERVICE_STOPPED, after which its
 * process may still hold the exe for a moment. It never stops a service itself. The MSI runs it
 * right after StopServices whenever the program is there to be replaced or removed (uninstall,
 * upgrade, repair), before InstallFiles and RemoveFiles: Wine's msiexec does not wait for a
 * service to stop at all, and Windows Installer waits for SERVICE_STOPPED only, so without it the
 * exe is still in use when it is replaced (msiexec then exits 3010 and the old version keeps running).
 * `image` is the program's full path (the exe that runs this: the installed one).
 */
export async function waitForServiceStop(
  options: { name: string; image?: string; timeoutMs?: number },
  os: Pick<SetupOs, 'manager' | 'sleep'>,
): Promise<string[]> {
  const { manager, sleep } = os;
  const timeoutMs = options.timeoutMs ?? 90_000;
  const deadline = Date.now() + timeoutMs;
  const first = manager.query(options.name);
  if (!first) return [`service "${options.name}" is not installed: nothing to wait for`];
  if (first.state !== SERVICE_STATE.STOP_PENDING && first.state !== SERVICE_STATE.STOPPED) {
    return [`service "${options.name}" is not stopping: nothing to wait for`];
  }
  let processId = first.processId;
  for (;;) {
    const status = manager.query(options.name);
    if (!status || status.state !== SERVICE_STATE.STOP_PENDING) break;
    processId = status.processId || processId;
    if (Date.now() > deadline)
      throw new ConnectorError('SERVICE_STOP_FAILED', `the service "${options.name}" did not stop within ${timeoutMs / 1000} s`, {
        permanent: true,
      });
    await sleep(250);
  }
  const ended: number[] = [];
  if (processId) {
    if (!manager.waitForProcessExit(processId, Math.max(0, deadline - Date.now()))) {
      throw new ConnectorError(
        'SERVICE_STOP_FAILED',
        `the service "${options.name}" reported it stopped, but its process ${processId} still runs after ${timeoutMs / 1000} s`,
        { permanent: true },
      );
    }
    ended.push(processId);
  }
  // Once SERVICE_STOPPED is reported the SCM no longer names the process (Windows Installer's
  // StopServices returns then): find what still runs the program by its path.
  if (options.image) {
    for (const pid of manager.processesOf(options.image)) {
      if (!manager.waitForProcessExit(pid, Math.max(0, deadline - Date.now()))) {
        throw new ConnectorError(
          'SERVICE_STOP_FAILED',
          `process ${pid} still runs ${options.image} after ${timeoutMs / 1000} s, so it cannot be replaced or removed: end it (Task Manager, or taskkill /pid ${pid}) and run the installer again`,
          { permanent: true },
        );
      }
      ended.push(pid);
    }
  }
  return [
    `service "${options.name}" stopped${ended.length > 0 ? `; ${ended.length === 1 ? 'its process' : 'the processes of its program'} ${ended.join(', ')} ${ended.length === 1 ? 'has' : 'have'} ended` : ''}`,
  ];
}
