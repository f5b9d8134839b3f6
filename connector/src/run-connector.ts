import path from 'node:path';
import { pino } from 'pino';
import { loadConnectorConfig } from './config';
import { ConnectorService } from './connector-service';
import { type Check, runDoctor } from './doctor/doctor';
import { loadIdentity } from './identity';
import { ConnectorKeys } from './key-rotation';
import { Link } from './link/link';
import { Outbox } from './link/outbox';
import { MssqlDatabaseServer } from './sql';
import { S3ObjectStore } from './store';
import { RunCredentials } from './store/run-credentials';
import { runRestoreDrill } from './restore/restore-drill';
import { renewingCredentials, requestRestore } from './restore/request-restore';

/** `so-connector run`: wires the link, keys, SQL Server and S3 to the service and runs until stopped. */
export async function runConnector(configFile: string, connectorVersion: string): Promise<void> {
  const config = loadConnectorConfig(configFile);
  const logger = pino({ level: config.logLevel, base: { service: 'so-connector', tenantId: config.tenantId } });
  const identity = await loadIdentity(config.identityFile);
  const keys = new ConnectorKeys(identity, config.identityFile, logger);
  const link = new Link({
    endpoint: config.endpoint, connectorVersion, logger,
    authorization: () => keys.authorization(),
    outbox: new Outbox(path.join(config.stateDir, 'outbox')),
    heartbeatMs: config.heartbeatSeconds * 1000,
    maxConnectionMs: config.reconnectAfterMinutes * 60_000,
  });
  keys.attach(link);
  link.once('connected', () => void keys.rotateIfDue(link, config.keyRotationDays));
  const databaseServer = config.sql ? new MssqlDatabaseServer(config.sql.connectionString) : undefined;
  const service = new ConnectorService({
    config, connectorVersion, link, logger, databaseServer,
    openStore: (job) => new S3ObjectStore(job.target, new RunCredentials(job, link).provider, { checkpointDir: path.join(config.stateDir, 'uploads') }),
    runDrill: (drill) => runRestoreDrill(drill, {
      // A drill of a large database can outlast its one-hour credentials: it asks for the run again, like a restore.
      store: new S3ObjectStore(drill.target, renewingCredentials(drill.credentials, () => requestRestore(
        { endpoint: config.endpoint, authorization: keys.authorization(), connectorVersion }, { run: drill.runId, requestedBy: `restore drill ${drill.drillId}` },
      ))),
      databaseServer, stagingFolder: config.sql?.stagingFolder ?? path.join(config.stateDir, 'drill'),
    }),
  });
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    await service.stop();
    await link.stop();
    await databaseServer?.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  link.start();
  await service.resumePending();
  logger.info({ endpoint: config.endpoint, version: connectorVersion, keyId: keys.keyId }, 'so-connector started');
}

/** `so-connector doctor`: the checks, with the same configuration and key as the service. */
export async function doctor(configFile: string): Promise<Check[]> {
  const config = loadConnectorConfig(configFile);
  const keys = new ConnectorKeys(await loadIdentity(config.identityFile), config.identityFile, pino({ level: 'silent' }));
  const databaseServer = config.sql ? new MssqlDatabaseServer(config.sql.connectionString) : undefined;
  try {
    return await runDoctor({ config, authorization: () => keys.authorization(), databaseServer });
  } finally {
    await databaseServer?.close();
  }
}
