import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadConnectorConfig } from '../config';
import { setupService, windowsServiceManager } from '../windows';
import { ConnectorError } from '../errors';
import { describePlan, executePlan, installPlan, type InstallStep, type OsOperations, type Platform, uninstallPlan } from './install-plan';

export interface InstallCommandOptions {
  config: string;
  account?: string;
  name: string;
  dryRun?: boolean;
}

const realOs: OsOperations = {
  writeFile: async (file, content, mode) => {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, content, { mode });
  },
  run: async (command, args, okStatus = []) => {
    const result = spawnSync(command, args, { encoding: 'utf8', windowsHide: true });
    if (result.status === 0 || (result.status !== null && okStatus.includes(result.status))) return;
    throw new ConnectorError(
      'INSTALL_FAILED',
      `${command} ${args.join(' ')} failed: ${result.error?.message ?? `${result.stdout}${result.stderr}`.trim()}`,
    );
  },
  setupService: async (setup) => {
    for (const line of await setupService(setup, windowsServiceManager())) process.stdout.write(`   ${line}\n`);
  },
};

function platform(): Platform {
  if (process.platform === 'win32' || process.platform === 'linux') return process.platform;
  throw new ConnectorError('INSTALL_UNSUPPORTED', `installing as a service is supported on Windows and Linux, not ${process.platform}`, {
    permanent: true,
  });
}

/** True in so-connector.exe (a Node.js single-executable application). */
function isSingleExecutable(): boolean {
  try {
    return (require('node:sea') as { isSea(): boolean }).isSea();
  } catch {
    return false;
  }
}

/** `so-connector install`: the plan for this platform, printed (--dry-run) or carried out. */
export async function installService(
  options: InstallCommandOptions,
  os: OsOperations = realOs,
  on: Platform = platform(),
  fromExe = isSingleExecutable(),
): Promise<{ plan: InstallStep[]; text: string }> {
  const config = loadConnectorConfig(options.config);
  if (on === 'win32' && !fromExe) {
    throw new ConnectorError(
      'INSTALL_NEEDS_EXE',
      'on Windows the service runs so-connector.exe (no Node.js needed): install it with the MSI (see INSTALL.md), or run `so-connector.exe install` from its folder',
      { permanent: true },
    );
  }
  const plan = installPlan(on, {
    name: options.name,
    nodePath: process.execPath,
    scriptPath: path.resolve(process.argv[1] ?? 'so-connector.js'),
    configFile: path.resolve(options.config),
    writablePaths: [config.stateDir, ...(config.sql ? [config.sql.stagingFolder] : [])],
    account: options.account,
    logDir: path.join(config.stateDir, 'logs'),
  });
  if (!options.dryRun) await executePlan(plan, os);
  return { plan, text: describePlan(plan) };
}

export async function uninstallService(
  options: Pick<InstallCommandOptions, 'name' | 'dryRun'>,
  os: OsOperations = realOs,
  on: Platform = platform(),
): Promise<{ plan: InstallStep[]; text: string }> {
  const plan = uninstallPlan(on, { name: options.name });
  if (!options.dryRun) await executePlan(plan, os);
  return { plan, text: describePlan(plan) };
}
