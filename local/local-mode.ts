import { DescribeExecutionCommand, GetExecutionHistoryCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { type Manifest, manifestSchema } from '../protocol';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import {
  ConnectionStore, createActivationCode, newTenant, type RunRecord, RunStore, TenantStore,
} from '../functions/src/shared';
import type { z } from 'zod';
import { connectorConfigSchema } from '../connector/src/config';
import { LOCAL_BUCKET, readLocalDeployment } from './cloud/local-deployment';
import type { LocalCloudConfig } from './cloud/local-cloud-config';
import { provisionLocalResources } from './cloud/provision';
import { synthesizeTemplate } from './cloud/synthesize-template';
import { Daemons, portOpen, REPO_ROOT, runScript, sleep, tsxCommand } from './daemons';
import { generateSampleArchive } from './sample-archive';
import { connectorKeyProblem, databaseNamesProblem } from './local-checks';
import { assertOutsideEphemeral, LOCAL_PORT_SPAN } from './ports';
import type { SqlServerStandInOptions } from './tds/sql-server-stand-in';
import type { StandInDatabase } from './tds/database-states';

export const LOCAL_TENANT = 'local';
export const LOCAL_S3_KEYS = { accessKeyId: 'SOBACKUPLOCALACCESS0', secretAccessKey: 'so-backup-local-secret-key-not-for-production' } as const;
const SQL_LOGIN = { user: 'so_backup', password: 'Local-Stand-In-1' } as const;

export interface LocalModeOptions {
  dataDir: string;
  /** Ports: S3 base+80, DynamoDB base+1, gateway base+2, Step Functions base+3, SQL stand-in base+4, Ceph mon base+10. */
  portBase: number;
  fresh?: boolean;
  keep?: boolean;
  /** Back up this folder instead of the generated sample archive. */
  archiveDir?: string;
  /** Back up a real SQL Server instead of the stand-in. */
  sqlConnectionString?: string;
  sqlDatabases?: string[];
  /** Size of the stand-in's SuperOffice database. @default 24 MiB */
  databaseSizeBytes?: number;
  /** The state the stand-in reports for some of its databases (OFFLINE, TDE, an AG secondary …), by name. */
  standInDatabaseStates?: Record<string, Omit<StandInDatabase, 'name' | 'sizeBytes'>>;
  /** Shorter limits and slower parts, for tests of what happens mid-backup. */
  tuning?: {
    gatewayIdleTimeoutMs?: number;
    gatewayMaxConnectionMs?: number;
    sqlBackupChunkDelayMs?: number;
    /** While this file exists, the stand-in's BACKUP holds mid-way. */
    sqlBackupHoldFile?: string;
  };
  log(line: string): void;
}

/** How a connector reaches local mode's SQL Server stand-in. */
export function standInConnectionString(portBase: number): string {
  return `Server=127.0.0.1,${localPorts(portBase).sql};Database=master;User Id=${SQL_LOGIN.user};Password=${SQL_LOGIN.password};Encrypt=false`;
}

export interface LocalPorts { s3: number; dynamodb: number; gateway: number; stepFunctions: number; sql: number; mon: number }

export function localPorts(base: number): LocalPorts {
  return { s3: base + 80, dynamodb: base + 1, gateway: base + 2, stepFunctions: base + 3, sql: base + 4, mon: base + 10 };
}

export interface LocalRunSummary {
  runId: string;
  status: string;
  validated: boolean;
  bucket: string;
  s3Endpoint: string;
  s3AccessKeyId: string;
  s3SecretAccessKey: string;
  durationSeconds: number;
  /** `carriedFrom`: failed in this run; its latest validated backup, from that run, is still kept. */
  databases: Array<{ database: string; key: string; versionId: string; size: number; carriedFrom?: string }>;
  archive?: { files: number; bytes: number; uploadedFiles: number; uploadedBytes: number; deletedFiles: number; snapshotKey: string };
  /** The daily manifest naming what the run kept (or, if it kept nothing, its staged manifest). */
  manifestKey?: string;
  /** The connector's own manifest, in the run's staging prefix. */
  stagedManifestKey?: string;
  /** What the run kept (validated and promoted), and what failed with why. */
  kept?: { databases: string[]; archive: boolean };
  failures: Array<{ kind: string; name: string; code: string; message: string }>;
  artifactKeys: string[];
  failure?: { error: string; cause: string };
  history: string[];
}

/**
 * Local mode: brings up every part on 127.0.0.1 (Ceph RGW, dynalite, the local cloud with the
 * stack's own functions and state machines, the SQL Server stand-in, the real connector), runs
 * one daily backup through DailyBackups, and reports it. State persists in dataDir, so the next
 * invocation is the next day's (incremental) run.
 */
export async function runLocalMode(options: LocalModeOptions): Promise<LocalRunSummary> {
  const { dataDir, log } = options;
  assertOutsideEphemeral(options.portBase, LOCAL_PORT_SPAN, 'local mode');
  // Names the connector would refuse are named now, before anything starts (not as a connector that never becomes ready).
  const namesProblem = databaseNamesProblem(options.sqlDatabases ?? ['SuperOffice']);
  if (namesProblem) throw new Error(namesProblem);
  const ports = localPorts(options.portBase);
  const daemons = new Daemons(dataDir);
  if (options.fresh) {
    await stopLocalMode(dataDir);
    rmSync(dataDir, { recursive: true, force: true });
  }
  mkdirSync(dataDir, { recursive: true });
  const s3Endpoint = `http://127.0.0.1:${ports.s3}`;
  const dynamodbEndpoint = `http://127.0.0.1:${ports.dynamodb}`;
  const started = Date.now();

  try {
    log('• S3: Ceph RADOS Gateway');
    runScript('ceph-chroot.sh', []);
    // Idempotent: a running cluster of this data folder is reused; taken ports are named.
    runScript('ceph-rgw.sh', ['start', path.join(dataDir, 'ceph'), String(ports.s3), String(ports.mon), LOCAL_S3_KEYS.accessKeyId, LOCAL_S3_KEYS.secretAccessKey]);
    log(`  ${s3Endpoint}`);

    log('• DynamoDB: dynalite');
    await daemons.ensure({
      name: 'dynalite', command: process.execPath,
      args: [path.join(REPO_ROOT, 'node_modules', 'dynalite', 'cli.js'), '--port', String(ports.dynamodb), '--host', '127.0.0.1', '--path', path.join(dataDir, 'dynamodb'), '--createTableMs', '0', '--deleteTableMs', '0', '--updateTableMs', '0'],
      ports: [ports.dynamodb], ready: () => portOpen(ports.dynamodb),
    });

    log('• Cloud stack: synthesizing the CDK stack and provisioning its tables and bucket');
    const template = synthesizeTemplate();
    const templateFile = path.join(dataDir, 'template.json');
    writeFileSync(templateFile, JSON.stringify(template));
    const deployment = readLocalDeployment(template);
    await provisionLocalResources(deployment, { dynamodb: dynamodbEndpoint, s3: s3Endpoint }, LOCAL_S3_KEYS);
    const tableName = (suffix: string) => deployment.tables.find((t) => t.name.includes(suffix))!.name;
    const db = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: dynamodbEndpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }));
    const tenants = new TenantStore(db, tableName('Tenants'));
    const runs = new RunStore(db, tableName('Runs'));
    const connections = new ConnectionStore(db, tableName('Connections'));

    log('• Local cloud: WebSocket gateway, Step Functions, Lambda handlers');
    const cloudConfig: LocalCloudConfig = {
      templateFile, alertsFile: path.join(dataDir, 'alerts.jsonl'), gatewayPort: ports.gateway, stepFunctionsPort: ports.stepFunctions,
      dynamodbEndpoint, s3Endpoint, s3AccessKeyId: LOCAL_S3_KEYS.accessKeyId, s3SecretAccessKey: LOCAL_S3_KEYS.secretAccessKey,
      idleTimeoutMs: options.tuning?.gatewayIdleTimeoutMs, maxConnectionMs: options.tuning?.gatewayMaxConnectionMs,
    };
    const cloudConfigFile = path.join(dataDir, 'cloud.json');
    writeFileSync(cloudConfigFile, JSON.stringify(cloudConfig, null, 2));
    const cloud = tsxCommand('local/bin/local-cloud.ts', [cloudConfigFile]);
    await daemons.ensure({ name: 'cloud', ...cloud, fingerprint: JSON.stringify(cloudConfig), ports: [ports.gateway, ports.stepFunctions], ready: () => portOpen(ports.stepFunctions) });
    const endpoint = `ws://127.0.0.1:${ports.gateway}`;

    const connectorDir = path.join(dataDir, 'connector');
    const stateDir = path.join(connectorDir, 'state');
    const identityFile = path.join(stateDir, 'identity.json');
    const connectorConfigFile = path.join(connectorDir, 'config.json');
    let connectionString = options.sqlConnectionString;
    const databases = options.sqlDatabases ?? ['SuperOffice'];
    if (!connectionString) {
      log('• SQL Server: the TDS stand-in');
      const standIn: SqlServerStandInOptions = {
        port: ports.sql, login: SQL_LOGIN, serverName: 'SO-SQL01', engineEdition: 2,
        databases: databases.map((name) => ({ name, sizeBytes: options.databaseSizeBytes ?? 24 * 1024 * 1024, ...options.standInDatabaseStates?.[name] })),
        backupChunkDelayMs: options.tuning?.sqlBackupChunkDelayMs, backupHoldFile: options.tuning?.sqlBackupHoldFile,
        // Where RESTORE DATABASE puts new data and log files by default.
        defaultDataPath: path.join(path.resolve(dataDir), 'sql-data'), defaultLogPath: path.join(path.resolve(dataDir), 'sql-data'),
      };
      mkdirSync(path.join(dataDir, 'sql-data'), { recursive: true });
      const standInFile = path.join(dataDir, 'sql-stand-in.json');
      writeFileSync(standInFile, JSON.stringify(standIn, null, 2));
      await daemons.ensure({ name: 'sql-server', ...tsxCommand('local/bin/sql-server-stand-in.ts', [standInFile]), fingerprint: JSON.stringify(standIn), ports: [ports.sql], ready: () => portOpen(ports.sql) });
      connectionString = standInConnectionString(options.portBase);
    } else {
      log('• SQL Server: the configured connection string');
    }

    let archiveRoot = options.archiveDir;
    if (!archiveRoot) {
      archiveRoot = path.join(dataDir, 'sample-so-arc');
      if (!existsSync(archiveRoot)) {
        const sample = generateSampleArchive(archiveRoot);
        log(`• Sample archive generated: ${sample.files} files, ${(sample.bytes / 1048576).toFixed(1)} MiB in ${archiveRoot}`);
      }
    }
    const staging = path.join(dataDir, 'staging');
    mkdirSync(staging, { recursive: true });
    if (!(await tenants.get(LOCAL_TENANT))) await tenants.put(newTenant(LOCAL_TENANT, 'Local mode'));
    if (!existsSync(identityFile)) {
      // Enrol as customer IT would: a one-time code from the operator, then `so-connector enrol`.
      const { code } = await createActivationCode(tenants, LOCAL_TENANT);
      const enrol = tsxCommand('connector/src/bin/so-connector.ts', ['enrol', '--endpoint', endpoint, '--code', `${LOCAL_TENANT}:${code}`, '--config', connectorConfigFile, '--state-dir', stateDir,
        '--sql', connectionString, ...databases.flatMap((d) => ['--database', d]), '--staging', staging, '--archive', `SO_ARC=${path.resolve(archiveRoot)}`]);
      execFileSync(enrol.command, enrol.args, { stdio: 'pipe', env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' } });
      log(`  connector enrolled for tenant "${LOCAL_TENANT}" with a one-time activation code`);
    } else {
      // An enrolled connector whose key the tenant no longer holds (revoked, re-enrolled elsewhere) would never connect: say so and what to do.
      const keyProblem = connectorKeyProblem(readJson<{ current: { keyId: string }; pending?: { keyId: string; registered: boolean } }>(identityFile), (await tenants.get(LOCAL_TENANT))?.keys ?? [], dataDir, identityFile);
      if (keyProblem) throw new Error(keyProblem);
    }

    const connectorConfig: z.input<typeof connectorConfigSchema> = {
      endpoint, tenantId: LOCAL_TENANT, identityFile, stateDir,
      sql: { connectionString, databases, stagingFolder: staging },
      archive: { roots: [{ name: 'SO_ARC', path: path.resolve(archiveRoot) }] },
    };
    writeFileSync(connectorConfigFile, JSON.stringify(connectorConfig, null, 2), { mode: 0o600 });

    log('• Connector: so-connector run');
    await daemons.ensure({
      name: 'connector', ...tsxCommand('connector/src/bin/so-connector.ts', ['run', '--config', connectorConfigFile]),
      env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
      fingerprint: JSON.stringify(connectorConfig),
      ready: () => liveConnection(connections, ports.gateway),
    });
    // A reused connector may still be reconnecting to a restarted cloud.
    for (const end = Date.now() + 60_000; !(await liveConnection(connections, ports.gateway)); await sleep(200)) {
      if (Date.now() > end) throw new Error(`the connector did not connect; see ${daemons.logFile('connector')}`);
    }

    log('• Running DailyBackups');
    const sfn = new SFNClient({ endpoint: `http://127.0.0.1:${ports.stepFunctions}`, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
    const daily = deployment.stateMachines.find((m) => m.name === 'DailyBackups')!;
    const backupRun = deployment.stateMachines.find((m) => m.name === 'BackupRun')!;
    const { executionArn } = await sfn.send(new StartExecutionCommand({ stateMachineArn: daily.arn, input: JSON.stringify({ trigger: 'schedule', everyTenant: true }) }));
    const dailyResult = await waitForExecution(sfn, executionArn!);
    const results = (JSON.parse(dailyResult.output ?? '{}') as { results?: Array<{ executionName: string; status: string }> }).results ?? [];
    const mine = results.find((r) => r.executionName.startsWith(`${LOCAL_TENANT}-`));
    if (!mine) throw new Error(`DailyBackups ${dailyResult.status} without a run for tenant "${LOCAL_TENANT}": ${dailyResult.error ?? ''} ${dailyResult.cause ?? ''}`);
    const childArn = `${backupRun.arn.replace(':stateMachine:', ':execution:')}:${mine.executionName}`;
    const history = [
      ...(await historyLines(sfn, executionArn!, 'DailyBackups')),
      ...(await historyLines(sfn, childArn, mine.executionName)),
    ];
    const run = await runs.get(mine.executionName);
    db.destroy();
    // What the run kept (validated and promoted), else what the connector uploaded to staging.
    const pointer = run?.validatedManifest ?? run?.manifest;
    const manifest = pointer ? await readManifest(s3Endpoint, pointer) : undefined;
    return summarize(run, manifest, mine.executionName, history, s3Endpoint, (Date.now() - started) / 1000);
  } finally {
    if (!options.keep) await stopLocalMode(dataDir);
  }
}

/** True when the tenant has a connection the gateway still knows (records can outlive a restarted gateway). */
async function liveConnection(connections: ConnectionStore, gatewayPort: number): Promise<boolean> {
  for (const connection of await connections.forTenant(LOCAL_TENANT)) {
    const response = await fetch(`http://127.0.0.1:${gatewayPort}/prod/@connections/${encodeURIComponent(connection.connectionId)}`).catch(() => undefined);
    if (response?.status === 200) return true;
  }
  return false;
}

async function waitForExecution(sfn: SFNClient, executionArn: string) {
  for (;;) {
    const out = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    if (out.status !== 'RUNNING') return out;
    await sleep(250);
  }
}

async function historyLines(sfn: SFNClient, executionArn: string, label: string): Promise<string[]> {
  const { events = [] } = await sfn.send(new GetExecutionHistoryCommand({ executionArn }));
  return events.map((event) => {
    const time = event.timestamp ? event.timestamp.toISOString().slice(11, 23) : '';
    const name = event.stateEnteredEventDetails?.name ?? event.stateExitedEventDetails?.name ?? '';
    const failure = event.executionFailedEventDetails ? `  ${event.executionFailedEventDetails.error}: ${(event.executionFailedEventDetails.cause ?? '').slice(0, 300)}` : '';
    return `${label}  ${time}  ${(event.type ?? '').padEnd(22)} ${name}${failure}`;
  });
}

/** Reads the run's manifest from S3 at its exact version (for the summary only; validation did the checking). */
async function readManifest(s3Endpoint: string, pointer: { key: string; versionId: string }): Promise<Manifest> {
  const s3 = new S3Client({ endpoint: s3Endpoint, region: 'us-east-1', forcePathStyle: true, credentials: LOCAL_S3_KEYS });
  const out = await s3.send(new GetObjectCommand({ Bucket: LOCAL_BUCKET, Key: pointer.key, VersionId: pointer.versionId }));
  const manifest = manifestSchema.parse(JSON.parse(await out.Body!.transformToString()));
  s3.destroy();
  return manifest;
}

function summarize(run: RunRecord | undefined, manifest: Manifest | undefined, runId: string, history: string[], s3Endpoint: string, durationSeconds: number): LocalRunSummary {
  const databases = (manifest?.databases ?? []).map((d) => ({ database: d.database, key: d.artifact.key, versionId: d.artifact.versionId, size: d.artifact.size, ...(d.carriedFrom ? { carriedFrom: d.carriedFrom } : {}) }));
  const archive = manifest?.archive;
  return {
    runId, status: run?.status ?? 'UNKNOWN', validated: run?.validation?.ok === true, bucket: LOCAL_BUCKET, s3Endpoint,
    s3AccessKeyId: LOCAL_S3_KEYS.accessKeyId, s3SecretAccessKey: LOCAL_S3_KEYS.secretAccessKey, durationSeconds: Math.round(durationSeconds * 10) / 10,
    databases,
    archive: archive && {
      files: archive.files, bytes: archive.bytes, uploadedFiles: archive.uploadedFiles, uploadedBytes: archive.uploadedBytes,
      deletedFiles: archive.deletedFiles, snapshotKey: archive.snapshot.key,
    },
    manifestKey: (run?.validatedManifest ?? run?.manifest)?.key,
    stagedManifestKey: run?.manifest?.key,
    kept: run?.kept,
    failures: (run?.failures ?? []).map((f) => ({ kind: f.kind, name: f.name, code: f.error.code, message: f.error.message })),
    artifactKeys: [...databases.map((d) => d.key), ...(archive ? [archive.snapshot.key] : []), ...((run?.validatedManifest ?? run?.manifest) ? [(run?.validatedManifest ?? run?.manifest)!.key] : [])],
    failure: run?.failure, history,
  };
}

/** Stops every local-mode daemon of this data folder (Ceph included). */
export async function stopLocalMode(dataDir: string): Promise<void> {
  const daemons = new Daemons(dataDir);
  for (const name of ['connector', 'cloud', 'sql-server', 'dynalite']) await daemons.stop(name);
  if (existsSync(path.join(dataDir, 'ceph'))) runScript('ceph-rgw.sh', ['stop', path.join(dataDir, 'ceph')]);
}

export function readJson<T>(file: string): T {
  return JSON.parse(readFileSync(file, 'utf8')) as T;
}
