import path from 'node:path';
import { type DestinationStream, pino } from 'pino';
import type { BandwidthSetting } from '../../protocol';
import { loadBandwidthLimiter, writeTenantSettings } from './bandwidth';
import { loadConnectorConfig } from './config';
import { ConnectorService } from './connector-service';
import { type Check, runDoctor } from './doctor/doctor';
import { loadIdentity } from './identity';
import { ConnectorKeys } from './key-rotation';
import { Link } from './link/link';
import { Outbox } from './link/outbox';
import { PresenceController } from './link/presence-controller';
import { MssqlDatabaseServer } from './sql';
import { credentialsOverLink, storeOnRunCredentials } from './store/run-credentials';
import { runRestoreDrill } from './restore/restore-drill';

/** A running connector. */
export interface RunningConnector {
  /** Stops cleanly: a running job checkpoints (resumed at the next start), then the link closes. */
  stop(reason: string): Promise<void>;
}

export interface RunConnectorOptions {
  /** Where the logs go. @default stdout */
  readonly destination?: DestinationStream;
  /** Stop on SIGTERM/SIGINT and exit the process afterwards (the console and systemd). @default true */
  readonly handleSignals?: boolean;
}

/** `so-connector run` (and the Windows service): wires the link, keys, SQL Server and S3 to the service and runs until stopped. */
export async function runConnector(
  configFile: string,
  connectorVersion: string,
  options: RunConnectorOptions = {},
): Promise<RunningConnector> {
  const config = loadConnectorConfig(configFile);
  const base = { level: config.logLevel, base: { service: 'so-connector', tenantId: config.tenantId } };
  const logger = options.destination ? pino(base, options.destination) : pino(base);
  const identity = await loadIdentity(config.identityFile);
  const keys = new ConnectorKeys(identity, config.identityFile, logger);
  const link = new Link({
    endpoint: config.endpoint,
    connectorVersion,
    logger,
    authorization: () => keys.authorization(),
    outbox: new Outbox(path.join(config.stateDir, 'outbox')),
    heartbeatMs: config.heartbeatSeconds * 1000,
    maxConnectionMs: config.reconnectAfterMinutes * 60_000,
  });
  keys.attach(link);
  keys.rotateWhenDue(link, config.keyRotationDays);
  // One limit for all of this process's transfers; the tenant's setting comes after each connect and on every change.
  const bandwidth = await loadBandwidthLimiter(config, {
    onChange: (limit, description) =>
      logger.info(
        { bandwidth: { bytesPerSecond: limit.bytesPerSecond, source: limit.source, period: limit.period } },
        `bandwidth limit: ${description}`,
      ),
  });
  bandwidth.follow();
  const tenantBandwidth = (setting: BandwidthSetting | null, fromJob = false) => {
    if (fromJob && JSON.stringify(setting) === JSON.stringify(bandwidth.settings.tenant ?? null)) return;
    bandwidth.setTenantSetting(setting);
    writeTenantSettings(config.stateDir, setting).catch((error: unknown) =>
      logger.warn({ err: (error as Error).message }, "could not keep the tenant's settings in the state folder"),
    );
  };
  link.on('settings', (settings) => tenantBandwidth(settings.bandwidth));
  // Registered before the service's own listener: the job's setting applies before it sends anything.
  link.on('job', (job) => {
    if (job.bandwidth !== undefined) tenantBandwidth(job.bandwidth, true);
  });
  const databaseServer = config.sql ? new MssqlDatabaseServer(config.sql.connectionString) : undefined;
  const service = new ConnectorService({
    config,
    connectorVersion,
    link,
    logger,
    databaseServer,
    bandwidth,
    openStore: (job) =>
      storeOnRunCredentials(job.target, job.credentials, credentialsOverLink(link, { runId: job.runId }), {
        checkpointDir: path.join(config.stateDir, 'uploads'),
        bandwidth,
      }),
    runDrill: (drill) =>
      runRestoreDrill(drill, {
        // A drill of a large database can outlast its one-hour credentials: renewed for this drill over the session, as a backup's are.
        store: storeOnRunCredentials(
          drill.target,
          drill.credentials,
          credentialsOverLink(link, { runId: drill.runId, drillId: drill.drillId }),
          {
            bandwidth,
          },
        ),
        databaseServer,
        stagingFolder: config.sql?.stagingFolder ?? path.join(config.stateDir, 'drill'),
      }),
  });
  // When to stay connected: the settings are asked for after the first connect (a change is pushed
  // while connected, and every backup job carries the current bandwidth, so an always-connected
  // connector's reconnects cost no extra message), and in check-in mode at every connect.
  const presence = new PresenceController({
    link,
    working: () => service.busy || keys.awaitingRegistration(),
    logger,
    startupHoldMinutes: config.startupHoldMinutes,
    stateDir: config.stateDir,
  });
  service.on('work-ended', () => presence.evaluate());
  let stopping: Promise<void> | undefined;
  const stop = (reason: string) => {
    stopping ??= (async () => {
      logger.info({ reason }, 'stopping');
      await service.stop();
      await presence.stop();
      await link.stop();
      bandwidth.stop();
      await databaseServer?.close();
      logger.info('stopped');
    })();
    return stopping;
  };
  if (options.handleSignals ?? true) {
    const onSignal = (signal: string) => void stop(signal).then(() => process.exit(0));
    process.on('SIGTERM', () => onSignal('SIGTERM'));
    process.on('SIGINT', () => onSignal('SIGINT'));
  }
  link.start();
  await service.resumePending();
  logger.info(
    {
      endpoint: config.endpoint,
      version: connectorVersion,
      keyId: keys.keyId,
      pid: process.pid,
      node: process.version,
      nodeOptions: process.execArgv,
    },
    'so-connector started',
  );
  return { stop };
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
