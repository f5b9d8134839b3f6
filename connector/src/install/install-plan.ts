import path from 'node:path';
import { type ServiceOptions, systemdUnit, winswServiceXml } from './service-definition';

/** One step of an installation, as data: printed by --dry-run, executed by executePlan. */
export type InstallStep =
  | { kind: 'write-file'; path: string; content: string; mode: number; why: string }
  | { kind: 'run'; command: string; args: string[]; why: string };

export type Platform = 'win32' | 'linux';

/** The steps that install (or remove) the connector as a service on this platform. */
export function installPlan(platform: Platform, options: ServiceOptions, serviceWrapper?: string): InstallStep[] {
  if (platform === 'linux') {
    const unitPath = `/etc/systemd/system/${options.name}.service`;
    return [
      { kind: 'write-file', path: unitPath, content: systemdUnit(options), mode: 0o644, why: 'the systemd unit' },
      { kind: 'run', command: 'systemctl', args: ['daemon-reload'], why: 'load the unit' },
      { kind: 'run', command: 'systemctl', args: ['enable', '--now', `${options.name}.service`], why: 'start now and at every boot' },
    ];
  }
  const wrapper = serviceWrapper ?? path.win32.join(path.win32.dirname(options.scriptPath), `${options.name}-service.exe`);
  const xmlPath = wrapper.replace(/\.exe$/i, '.xml');
  return [
    { kind: 'write-file', path: xmlPath, content: winswServiceXml(options), mode: 0o644, why: 'the service definition (WinSW)' },
    { kind: 'run', command: wrapper, args: ['install'], why: 'register the Windows service (automatic start, restart on failure)' },
    { kind: 'run', command: wrapper, args: ['start'], why: 'start it now' },
  ];
}

export function uninstallPlan(platform: Platform, options: Pick<ServiceOptions, 'name' | 'scriptPath'>, serviceWrapper?: string): InstallStep[] {
  if (platform === 'linux') {
    return [
      { kind: 'run', command: 'systemctl', args: ['disable', '--now', `${options.name}.service`], why: 'stop and disable' },
      { kind: 'run', command: 'rm', args: ['-f', `/etc/systemd/system/${options.name}.service`], why: 'remove the unit' },
      { kind: 'run', command: 'systemctl', args: ['daemon-reload'], why: 'forget the unit' },
    ];
  }
  const wrapper = serviceWrapper ?? path.win32.join(path.win32.dirname(options.scriptPath), `${options.name}-service.exe`);
  return [
    { kind: 'run', command: wrapper, args: ['stop'], why: 'stop the service' },
    { kind: 'run', command: wrapper, args: ['uninstall'], why: 'remove the Windows service' },
  ];
}

/** The operating-system calls a plan needs; tests pass a recorder. */
export interface OsOperations {
  writeFile(path: string, content: string, mode: number): Promise<void>;
  run(command: string, args: string[]): Promise<void>;
}

export async function executePlan(plan: InstallStep[], os: OsOperations): Promise<void> {
  for (const step of plan) {
    if (step.kind === 'write-file') await os.writeFile(step.path, step.content, step.mode);
    else await os.run(step.command, step.args);
  }
}

export function describePlan(plan: InstallStep[]): string {
  return plan.map((step, i) => `${i + 1}. ${step.why}: ${step.kind === 'write-file' ? `write ${step.path}` : [step.command, ...step.args].join(' ')}`).join('\n');
}
