import { type ServiceOptions, systemdUnit, windowsServiceCommand } from './service-definition';

/** What `so-connector service-setup` takes (connector/src/windows/service-setup.ts). */
export interface ServiceSetupStep {
  readonly name: string;
  readonly config: string;
  readonly account: string;
  readonly startIfEnrolled: boolean;
}

/** One step of an installation, as data: printed by --dry-run, executed by executePlan. */
export type InstallStep =
  | { kind: 'write-file'; path: string; content: string; mode: number; why: string }
  /** `okStatus`: exit codes besides 0 that mean the step's goal holds already (e.g. "not running"). */
  | { kind: 'run'; command: string; args: string[]; why: string; okStatus?: number[] }
  /** `service-setup`, run in this process (a Node.js child with piped output dies under Wine). */
  | { kind: 'service-setup'; setup: ServiceSetupStep; why: string };

export type Platform = 'win32' | 'linux';

/** sc.exe's exit code when the service to stop is not running (ERROR_SERVICE_NOT_ACTIVE). */
const SERVICE_NOT_ACTIVE = 1062;

/**
 * The steps that install the connector as a service on this platform. Windows: so-connector.exe
 * registered as its own service with sc.exe (as the MSI's ServiceInstall does), then
 * `service-setup` for delayed start, restart on failure, the state folder's access and the start.
 */
export function installPlan(platform: Platform, options: ServiceOptions): InstallStep[] {
  if (platform === 'linux') {
    const unitPath = `/etc/systemd/system/${options.name}.service`;
    return [
      { kind: 'write-file', path: unitPath, content: systemdUnit(options), mode: 0o644, why: 'the systemd unit' },
      { kind: 'run', command: 'systemctl', args: ['daemon-reload'], why: 'load the unit' },
      { kind: 'run', command: 'systemctl', args: ['enable', '--now', `${options.name}.service`], why: 'start now and at every boot' },
    ];
  }
  const account = options.account ?? `NT SERVICE\\${options.name}`;
  return [
    {
      kind: 'run',
      command: 'sc.exe',
      why: `register the Windows service, running as ${account}${/^NT (SERVICE|AUTHORITY)\\/i.test(account) ? '' : " (set its password in services.msc, or install with the MSI's SERVICEPASSWORD)"}`,
      args: [
        'create',
        options.name,
        'binPath=',
        windowsServiceCommand({ exePath: options.nodePath, configFile: options.configFile, name: options.name }),
        'start=',
        'auto',
        'DisplayName=',
        'so-backup connector',
        'obj=',
        account,
      ],
    },
    {
      kind: 'run',
      command: 'sc.exe',
      args: ['description', options.name, 'Backs up SuperOffice (SQL Server and SO_ARC) to so-backup. Dials out only.'],
      why: 'describe it',
    },
    {
      kind: 'service-setup',
      setup: { name: options.name, config: options.configFile, account, startIfEnrolled: true },
      why: 'delayed automatic start, restart on failure, the state folder for the service account only, and start it',
    },
  ];
}

export function uninstallPlan(platform: Platform, options: Pick<ServiceOptions, 'name'>): InstallStep[] {
  if (platform === 'linux') {
    return [
      { kind: 'run', command: 'systemctl', args: ['disable', '--now', `${options.name}.service`], why: 'stop and disable' },
      { kind: 'run', command: 'rm', args: ['-f', `/etc/systemd/system/${options.name}.service`], why: 'remove the unit' },
      { kind: 'run', command: 'systemctl', args: ['daemon-reload'], why: 'forget the unit' },
    ];
  }
  return [
    {
      kind: 'run',
      command: 'sc.exe',
      args: ['stop', options.name],
      why: 'stop the service (a running job checkpoints)',
      okStatus: [SERVICE_NOT_ACTIVE],
    },
    { kind: 'run', command: 'sc.exe', args: ['delete', options.name], why: 'remove the Windows service (the state folder stays)' },
  ];
}

/** The operating-system calls a plan needs; tests pass a recorder. */
export interface OsOperations {
  writeFile(path: string, content: string, mode: number): Promise<void>;
  /** Runs a command; rejects unless it exits with 0 or one of `okStatus`. */
  run(command: string, args: string[], okStatus?: number[]): Promise<void>;
  /** Windows: configures and starts the registered service. */
  setupService(setup: ServiceSetupStep): Promise<void>;
}

export async function executePlan(plan: InstallStep[], os: OsOperations): Promise<void> {
  for (const step of plan) {
    if (step.kind === 'write-file') await os.writeFile(step.path, step.content, step.mode);
    else if (step.kind === 'service-setup') await os.setupService(step.setup);
    else await os.run(step.command, step.args, step.okStatus);
  }
}

export function describePlan(plan: InstallStep[]): string {
  const what = (step: InstallStep) => {
    if (step.kind === 'write-file') return `write ${step.path}`;
    if (step.kind === 'run') return [step.command, ...step.args].join(' ');
    const { name, config, account, startIfEnrolled } = step.setup;
    return `so-connector service-setup --name ${name} --config ${config} --account "${account}"${startIfEnrolled ? ' --start-if-enrolled' : ''}`;
  };
  return plan.map((step, i) => `${i + 1}. ${step.why}: ${what(step)}`).join('\n');
}
