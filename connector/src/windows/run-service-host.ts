/**
 * `so-connector service-host`: the command line the Windows service runs. Logs go to
 * `<state dir>\logs\so-connector.N.log` (10 MB each, the last 10 kept): a service has no console.
 */
import path from 'node:path';
import { pino } from 'pino';
import pinoRoll from 'pino-roll';
import { loadConnectorConfig } from '../config';
import { runConnector } from '../run-connector';
import { terminateThisProcess, windowsServiceDispatcher } from './service-control-manager';
import { hostService } from './service-host';

/** The log folder of a configuration; beside the file when it cannot be read (the log says why). */
export function serviceLogDir(configFile: string): string {
  try {
    return path.join(loadConnectorConfig(configFile).stateDir, 'logs');
  } catch {
    return path.join(path.dirname(path.resolve(configFile)), 'logs');
  }
}

export async function runServiceHost(options: { config: string; name: string }, connectorVersion: string): Promise<number> {
  const destination = await pinoRoll({
    file: path.join(serviceLogDir(options.config), 'so-connector'),
    extension: '.log',
    size: '10m',
    limit: { count: 10 },
    mkdir: true,
  });
  const logger = pino({ base: { service: 'so-connector', host: 'windows-service' } }, destination);
  const exitCode = await hostService({
    name: options.name,
    dispatcher: windowsServiceDispatcher(),
    log: (message, fields) => logger.info(fields ?? {}, message),
    flush: () => destination.flushSync(),
    exit: (code) => terminateThisProcess(code),
    start: async () => {
      try {
        return await runConnector(options.config, connectorVersion, { destination, handleSignals: false });
      } catch (error) {
        // The configuration's problems are the customer's to fix: exit code 2, as on the command line.
        throw Object.assign(error as Error, { exitCode: (error as { code?: string }).code === 'CONFIG_INVALID' ? 2 : 1 });
      }
    },
  });
  return exitCode;
}
