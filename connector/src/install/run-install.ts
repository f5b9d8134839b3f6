import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadConnectorConfig } from '../config';
import { ConnectorError } from '../errors';
import { describePlan, executePlan, installPlan, type InstallStep, type OsOperations, type Platform, uninstallPlan } from './install-plan';

export interface InstallCommandOptions {
  config: string;
  account?: string;
  name: string;
  serviceWrapper?: string;
  dryRun?: boolean;
}

const realOs: OsOperations = {
  writeFile: async (file, content, mode) => {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, content, { mode });
  },
  run: async (command, args) => {
    const result = spawnSync(command, args, { encoding: 'utf8' });
    if (result.status !== 0) throw new ConnectorError('INSTALL_FAILED', `${command} ${args.join(' ')} failed: ${result.error?.message ?? result.stderr.trim()}`);
  },
};

function platform(): Platform {
  if (process.platform === 'win32' || process.platform === 'linux') return process.platform;
  throw new ConnectorError('INSTALL_UNSUPPORTED', `installing as a service is supported on Windows and Linux, not ${process.platform}`, { permanent: true });
}

/** `so-connector install`: the plan for this platform, printed (--dry-run) or carried out. */
export async function installService(options: InstallCommandOptions, os: OsOperations = realOs): Promise<{ plan: InstallStep[]; text: string }> {
  const config = loadConnectorConfig(options.config);
  const plan = installPlan(platform(), {
    name: options.name, nodePath: process.execPath, scriptPath: path.resolve(process.argv[1] ?? 'so-connector.js'), configFile: path.resolve(options.config),
    writablePaths: [config.stateDir, ...(config.sql ? [config.sql.stagingFolder] : [])], account: options.account, logDir: path.join(config.stateDir, 'logs'),
  }, options.serviceWrapper);
  if (!options.dryRun) await executePlan(plan, os);
  return { plan, text: describePlan(plan) };
}

export async function uninstallService(options: Pick<InstallCommandOptions, 'name' | 'serviceWrapper' | 'dryRun'>, os: OsOperations = realOs): Promise<{ plan: InstallStep[]; text: string }> {
  const plan = uninstallPlan(platform(), { name: options.name, scriptPath: path.resolve(process.argv[1] ?? 'so-connector.js') }, options.serviceWrapper);
  if (!options.dryRun) await executePlan(plan, os);
  return { plan, text: describePlan(plan) };
}
