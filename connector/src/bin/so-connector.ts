#!/usr/bin/env node
// so-connector: the on-premises agent. `run` is what the service manager starts.
import { Command } from 'commander';
import { pino } from 'pino';
import { SoBackupError } from '../../../protocol';
import { loadConnectorConfig, readCredential } from '../config';
import { ConnectorService } from '../connector-service';
import { Link } from '../link/link';
import { MssqlDatabaseServer } from '../sql';
import { S3ObjectStore } from '../store';

export const CONNECTOR_VERSION = '0.1.0';

async function run(configFile: string): Promise<void> {
  const config = loadConnectorConfig(configFile);
  const logger = pino({ level: config.logLevel, base: { service: 'so-connector', tenantId: config.tenantId } });
  const link = new Link({ endpoint: config.endpoint, credential: readCredential(config), connectorVersion: CONNECTOR_VERSION, logger });
  const databaseServer = config.sql ? new MssqlDatabaseServer(config.sql.connectionString) : undefined;
  const service = new ConnectorService({
    config, connectorVersion: CONNECTOR_VERSION, link, logger, databaseServer,
    openStore: (job) => new S3ObjectStore(job.target, job.credentials),
  });
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    await service.stop();
    await link.drained(5000);
    await link.stop();
    await databaseServer?.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  link.start();
  logger.info({ endpoint: config.endpoint, version: CONNECTOR_VERSION }, 'so-connector started');
}

const program = new Command('so-connector').description('so-backup connector: backs up SQL Server and SO_ARC on request of the so-backup cloud').version(CONNECTOR_VERSION);
program.command('run').description('connect to the cloud and run backup jobs (what the service runs)')
  .requiredOption('-c, --config <file>', 'configuration file (JSON)')
  .action((options: { config: string }) => run(options.config));

program.parseAsync().catch((error: unknown) => {
  const code = error instanceof SoBackupError ? error.code : 'UNEXPECTED';
  process.stderr.write(`so-connector: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(code === 'CONFIG_INVALID' ? 2 : 1);
});
