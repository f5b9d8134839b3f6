import { ApiGatewayManagementApiClient, GetConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { DescribeExecutionCommand, GetExecutionHistoryCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { type Manifest, parseManifest } from '../protocol';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { awsErrorKind, ConnectionStore, createActivationCode, newTenant, type RunRecord, RunStore, TenantStore } from '../core';
import type { z } from 'zod';
import type { connectorConfigSchema } from '../connector/src/config';
import { LOCAL_BUCKET, LOCAL_REGION, readLocalDeployment } from './cloud/local-deployment';
import type { LocalCloudConfig } from './cloud/local-cloud-config';
import { ensureLocalTls } from './cloud/local-tls';
import { localOutputs, writeLocalOutputs } from './cloud/local-outputs';
import { provisionLocalResources } from './cloud/provision';
import { synthesizeStack } from './cloud/synthesize-template';
import { readIamModel } from './iam/iam-model';
import { Daemons, lambdaTsxCommand, portOpen, runScript, sleep, tsxCommand, USER_NODE } from './daemons';
import { generateSampleArchive } from './sample-archive';
import { acquireDataLock } from './data-lock';
import { startCephRgw } from './ceph-rgw';
import { dynaliteArgs, socketOpen } from './dynamodb-socket';
import { assertOutsideEphemeral, LOCAL_PORT_SPAN, portHolder } from './ports';
import { markRunFailed } from '../functions/src/mark-run-failed/mark-run-failed';
import { connectorKeyProblem, databaseNamesProblem } from './local-checks';
import { makePrivateFolder, writePrivateFile } from './private-folder';
import type { SqlServerStandInOptions } from './tds/sql-server-stand-in';
import type { StandInDatabase } from './tds/database-states';
import type { SoBackupStackProps } from '../infra/lib/so-backup-stack';

export const LOCAL_TENANT = 'local';
const SQL_USER = 'so_backup';

export interface LocalModeOptions {
  dataDir: string;
  /** Ports: S3 base+80 (DynamoDB has none: a Unix socket in the data folder), gateway base+2 (TLS base+5), the AWS endpoint base+3, SQL stand-in base+4, Ceph mon base+10. */
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
  /** `timed`: the stack's schedules fire on their own (a kept local mode); `manual`: never by themselves. @default manual */
  schedules?: 'timed' | 'manual';
  /** The stack's properties (tests synthesize variants). @default the stack's defaults */
  stack?: SoBackupStackProps;
  /** Shorter limits and slower parts, for tests of what happens mid-backup. */
  tuning?: {
    gatewayIdleTimeoutMs?: number;
    gatewayMaxConnectionMs?: number;
    sqlBackupChunkDelayMs?: number;
    /** While this file exists, the stand-in's BACKUP holds mid-way. */
    sqlBackupHoldFile?: string;
    /** The gateway loses the next N result messages (the connector must send them again). */
    gatewayDropResults?: number;
  };
  log(line: string): void;
}

/**
 * The SQL Server stand-in's login of a local-mode folder: a random password made once and kept in
 * `<data>/sql-login.json` (0600), so that no other local user can log in to the stand-in on its port
 * (a constant in the repository would let anyone).
 */
export function standInLogin(dataDir: string): { user: string; password: string } {
  const file = path.join(dataDir, 'sql-login.json');
  if (!existsSync(file))
    writePrivateFile(file, JSON.stringify({ user: SQL_USER, password: `Local-${randomBytes(18).toString('base64url')}` }));
  chmodSync(file, 0o600);
  return JSON.parse(readFileSync(file, 'utf8')) as { user: string; password: string };
}

/** How a connector reaches the SQL Server stand-in of the local mode in dataDir. */
export function standInConnectionString(portBase: number, dataDir: string): string {
  const login = standInLogin(dataDir);
  return `Server=127.0.0.1,${localPorts(portBase).sql};Database=master;User Id=${login.user};Password=${login.password};Encrypt=false`;
}

/**
 * `so-connector enrol` as local mode runs it, as customer IT would. The activation code and the
 * connection string (with the stand-in's per-folder password) go in the child's environment
 * (SO_CONNECTOR_ACTIVATION_CODE, SO_CONNECTOR_SQL — the CLI reads them like --code and --sql),
 * never on its command line: /proc/<pid>/cmdline (ps) is readable by every local user,
 * /proc/<pid>/environ only by the process's own user.
 */
export function connectorEnrolCommand(enrol: {
  endpoint: string;
  activationCode: string;
  config: string;
  stateDir: string;
  connectionString: string;
  databases: string[];
  staging: string;
  archiveRoot: string;
}): { command: string; args: string[]; env: Record<string, string> } {
  return {
    ...tsxCommand('connector/src/bin/so-connector.ts', [
      'enrol',
      '--endpoint',
      enrol.endpoint,
      '--config',
      enrol.config,
      '--state-dir',
      enrol.stateDir,
      ...enrol.databases.flatMap((d) => ['--database', d]),
      '--staging',
      enrol.staging,
      '--archive',
      `SO_ARC=${enrol.archiveRoot}`,
    ]),
    env: { SO_CONNECTOR_ACTIVATION_CODE: enrol.activationCode, SO_CONNECTOR_SQL: enrol.connectionString },
  };
}

/** `aws` is the AWS endpoint (DynamoDB, S3 for functions, Step Functions, SNS, STS) that authorizes every call. */
export interface LocalPorts {
  s3: number;
  gateway: number;
  gatewayTls: number;
  aws: number;
  sql: number;
  mon: number;
}

export function localPorts(base: number): LocalPorts {
  return { s3: base + 80, gateway: base + 2, gatewayTls: base + 5, aws: base + 3, sql: base + 4, mon: base + 10 };
}

/** What a client of local mode needs: the endpoints, the CA that signs their certificates, and the operator's key. */
export interface LocalAccess {
  awsEndpoint: string;
  s3Endpoint: string;
  gatewayEndpoint: string;
  caFile: string;
  operator: { accessKeyId: string; secretAccessKey: string };
  /** The operator's key for the AWS CLI (`AWS_SHARED_CREDENTIALS_FILE`), mode 0600. */
  awsCredentialsFile: string;
}

/** SDK client settings for local mode's TLS endpoints (the local CA, no retries that would hide a refusal). */
export function localClientConfig(access: Pick<LocalAccess, 'caFile'>, credentials: { accessKeyId: string; secretAccessKey: string }) {
  // A copy: the SDK marks the credentials object it is given.
  return {
    region: LOCAL_REGION,
    credentials: { accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey },
    requestHandler: { httpsAgent: new https.Agent({ ca: readFileSync(access.caFile) }) },
  };
}

/** The operator's key of a local-mode folder, made once and kept (mode 0600). */
function operatorKey(dataDir: string): { accessKeyId: string; secretAccessKey: string } {
  const file = path.join(dataDir, 'operator.json');
  if (!existsSync(file)) {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
    const key = {
      accessKeyId: `AKIA${Array.from(randomBytes(16), (b) => alphabet[b % 32]).join('')}`,
      secretAccessKey: randomBytes(30).toString('base64'),
    };
    writePrivateFile(file, JSON.stringify(key));
  }
  chmodSync(file, 0o600);
  return JSON.parse(readFileSync(file, 'utf8')) as { accessKeyId: string; secretAccessKey: string };
}

export interface LocalRunSummary {
  runId: string;
  status: string;
  validated: boolean;
  bucket: string;
  s3Endpoint: string;
  /** The AWS endpoint (IAM-checked), where the operator's key reaches S3. */
  awsEndpoint: string;
  /** The operator's key as an AWS CLI credentials file (0600; AWS_SHARED_CREDENTIALS_FILE). */
  awsCredentialsFile: string;
  /** The CA of local mode's TLS endpoints (for `aws --ca-bundle`). */
  caBundle: string;
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
  makePrivateFolder(dataDir);
  let releaseLock = acquireDataLock(dataDir);
  if (options.fresh) {
    await stopLocalMode(dataDir);
    releaseLock();
    rmSync(dataDir, { recursive: true, force: true });
    makePrivateFolder(dataDir);
    releaseLock = acquireDataLock(dataDir);
  }
  // Every port first, so that a taken one is named now rather than minutes into the start.
  assertLocalPortsFree(dataDir, options.portBase);
  const s3Endpoint = `https://127.0.0.1:${ports.s3}`;
  // Only the AWS endpoint reaches DynamoDB: dynalite checks no signature, so it listens on a socket in the 0700 data folder.
  const dynamodbSocket = path.join(path.resolve(dataDir), 'run', 'dynamodb.sock');
  const started = Date.now();
  const tls = ensureLocalTls(path.join(dataDir, 'tls'));
  const access: LocalAccess = {
    awsEndpoint: `https://127.0.0.1:${ports.aws}`,
    s3Endpoint,
    gatewayEndpoint: `https://127.0.0.1:${ports.gatewayTls}/prod`,
    caFile: tls.caFile,
    operator: operatorKey(dataDir),
    awsCredentialsFile: path.join(dataDir, 'aws-credentials'),
  };
  writePrivateFile(
    access.awsCredentialsFile,
    `[default]\naws_access_key_id = ${access.operator.accessKeyId}\naws_secret_access_key = ${access.operator.secretAccessKey}\n`,
  );

  try {
    log('• S3: Ceph RADOS Gateway (TLS, STS)');
    runScript('ceph-chroot.sh', []);
    // Idempotent: a running cluster of this data folder is reused; taken ports are named.
    // The bucket owner's key is RGW's own, made per data folder (ceph/owner-key.json, 0600): only the AWS endpoint forwards with it.
    const owner = startCephRgw(path.join(dataDir, 'ceph'), { s3: ports.s3, mon: ports.mon }, { SO_BACKUP_RGW_TLS_DIR: tls.dir });
    log(`  ${s3Endpoint}`);

    log('• DynamoDB: dynalite');
    await daemons.ensure({
      name: 'dynalite',
      command: USER_NODE,
      args: dynaliteArgs(dynamodbSocket, path.join(dataDir, 'dynamodb')),
      sockets: [dynamodbSocket],
      ready: () => socketOpen(dynamodbSocket),
    });

    log('• Cloud stack: cdk synth (functions bundled), then its tables, bucket, bucket policy and roles');
    const { template, assemblyDir } = synthesizeStack(options.stack);
    const templateFile = path.join(dataDir, 'template.json');
    writeFileSync(templateFile, JSON.stringify(template));
    const deployment = readLocalDeployment(template);
    await provisionLocalResources(
      deployment,
      readIamModel(template),
      { dynamodbSocket },
      { endpoint: s3Endpoint, ca: tls.ca, credentials: { ...owner } },
    );

    log(
      '• Local cloud: the AWS endpoint (IAM on every call), WebSocket gateway, Step Functions, Lambda (bundles on Node 24), schedules, alarms',
    );
    const cloudConfig: LocalCloudConfig = {
      templateFile,
      assemblyDir,
      alertsFile: path.join(dataDir, 'alerts.jsonl'),
      logDir: path.join(dataDir, 'logs'),
      gatewayPort: ports.gateway,
      gatewayTlsPort: ports.gatewayTls,
      awsPort: ports.aws,
      dynamodbSocket,
      s3: { endpoint: s3Endpoint, accessKeyId: owner.accessKeyId, secretAccessKey: owner.secretAccessKey },
      tlsDir: tls.dir,
      operator: { accessKeyId: access.operator.accessKeyId, secretAccessKey: access.operator.secretAccessKey },
      schedules: options.schedules ?? 'manual',
      idleTimeoutMs: options.tuning?.gatewayIdleTimeoutMs,
      maxConnectionMs: options.tuning?.gatewayMaxConnectionMs,
      dropResults: options.tuning?.gatewayDropResults,
    };
    const cloudConfigFile = path.join(dataDir, 'cloud.json');
    writePrivateFile(cloudConfigFile, JSON.stringify(cloudConfig, null, 2));
    const cloud = lambdaTsxCommand('local/bin/local-cloud.ts', [cloudConfigFile]);
    await daemons.ensure({
      name: 'cloud',
      ...cloud,
      fingerprint: JSON.stringify(cloudConfig),
      ports: [ports.gateway, ports.gatewayTls, ports.aws],
      ready: () => portOpen(ports.aws),
    });
    const endpoint = `ws://127.0.0.1:${ports.gateway}`;
    // What the operator CLI reads (`so-backup --local DIR`): the stack's outputs and the endpoints, never local mode's modules.
    writeLocalOutputs(
      dataDir,
      localOutputs(template, deployment, {
        connectorEndpoint: endpoint,
        awsEndpoint: access.awsEndpoint,
        connectionsEndpoint: access.gatewayEndpoint,
        caFile: access.caFile,
        operator: { accessKeyId: access.operator.accessKeyId, secretAccessKey: access.operator.secretAccessKey },
      }),
    );
    // Local mode acts as the operator from here on: every call goes through the AWS endpoint with the operator's key.
    const operator = localClientConfig(access, access.operator);
    const tableName = (suffix: string) => deployment.tables.find((t) => t.name.includes(suffix))!.name;
    const db = DynamoDBDocumentClient.from(new DynamoDBClient({ ...operator, endpoint: access.awsEndpoint }), {
      marshallOptions: { removeUndefinedValues: true },
    });
    const tenants = new TenantStore(db, tableName('Tenants'));
    const runs = new RunStore(db, tableName('Runs'));
    const connections = new ConnectionStore(db, tableName('Connections'));
    const management = new ApiGatewayManagementApiClient({ ...operator, endpoint: access.gatewayEndpoint });

    const connectorDir = path.join(dataDir, 'connector');
    const stateDir = path.join(connectorDir, 'state');
    const identityFile = path.join(stateDir, 'identity.json');
    const connectorConfigFile = path.join(connectorDir, 'config.json');
    let connectionString = options.sqlConnectionString;
    const databases = options.sqlDatabases ?? ['SuperOffice'];
    if (!connectionString) {
      log('• SQL Server: the TDS stand-in');
      const standIn: SqlServerStandInOptions = {
        port: ports.sql,
        login: standInLogin(dataDir),
        serverName: 'SO-SQL01',
        engineEdition: 2,
        databases: databases.map((name) => ({
          name,
          sizeBytes: options.databaseSizeBytes ?? 24 * 1024 * 1024,
          ...options.standInDatabaseStates?.[name],
        })),
        backupChunkDelayMs: options.tuning?.sqlBackupChunkDelayMs,
        backupHoldFile: options.tuning?.sqlBackupHoldFile,
        // Where RESTORE DATABASE puts new data and log files by default.
        defaultDataPath: path.join(path.resolve(dataDir), 'sql-data'),
        defaultLogPath: path.join(path.resolve(dataDir), 'sql-data'),
      };
      mkdirSync(path.join(dataDir, 'sql-data'), { recursive: true });
      const standInFile = path.join(dataDir, 'sql-stand-in.json');
      writePrivateFile(standInFile, JSON.stringify(standIn, null, 2)); // the stand-in's login
      await daemons.ensure({
        name: 'sql-server',
        ...tsxCommand('local/bin/sql-server-stand-in.ts', [standInFile]),
        fingerprint: JSON.stringify(standIn),
        ports: [ports.sql],
        ready: () => portOpen(ports.sql),
      });
      connectionString = standInConnectionString(options.portBase, dataDir);
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
      const enrol = connectorEnrolCommand({
        endpoint,
        activationCode: `${LOCAL_TENANT}:${code}`,
        config: connectorConfigFile,
        stateDir,
        connectionString,
        databases,
        staging,
        archiveRoot: path.resolve(archiveRoot),
      });
      execFileSync(enrol.command, enrol.args, {
        stdio: 'pipe',
        env: { ...process.env, ...enrol.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', NODE_EXTRA_CA_CERTS: tls.caFile },
      });
      log(`  connector enrolled for tenant "${LOCAL_TENANT}" with a one-time activation code`);
    } else {
      // An enrolled connector whose key the tenant no longer holds (revoked, re-enrolled elsewhere) would never connect: say so and what to do.
      const keyProblem = connectorKeyProblem(
        readJson<{ current: { keyId: string }; pending?: { keyId: string; registered: boolean } }>(identityFile),
        (await tenants.get(LOCAL_TENANT))?.keys ?? [],
        dataDir,
        identityFile,
      );
      if (keyProblem) throw new Error(keyProblem);
    }

    const connectorConfig: z.input<typeof connectorConfigSchema> = {
      endpoint,
      tenantId: LOCAL_TENANT,
      identityFile,
      stateDir,
      sql: { connectionString, databases, stagingFolder: staging },
      archive: { roots: [{ name: 'SO_ARC', path: path.resolve(archiveRoot) }] },
    };
    writePrivateFile(connectorConfigFile, JSON.stringify(connectorConfig, null, 2));

    log('• Connector: so-connector run');
    await daemons.ensure({
      name: 'connector',
      ...tsxCommand('connector/src/bin/so-connector.ts', ['run', '--config', connectorConfigFile]),
      // The customer's server trusts S3's certificate; here that is local mode's CA.
      env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', NODE_EXTRA_CA_CERTS: tls.caFile },
      fingerprint: JSON.stringify(connectorConfig),
      ready: () => liveConnection(connections, management),
    });
    // A reused connector may still be reconnecting to a restarted cloud.
    for (const end = Date.now() + 60_000; !(await liveConnection(connections, management)); await sleep(200)) {
      if (Date.now() > end) throw new Error(`the connector did not connect; see ${daemons.logFile('connector')}`);
    }

    const sfn = new SFNClient({ ...operator, endpoint: access.awsEndpoint });
    for (const orphan of await failOrphanedRuns(runs, sfn))
      log(`  run ${orphan} was left RUNNING by a local mode that was stopped during it: marked FAILED`);

    log('• Running DailyBackups');
    const daily = deployment.stateMachines.find((m) => m.name === 'DailyBackups')!;
    const backupRun = deployment.stateMachines.find((m) => m.name === 'BackupRun')!;
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: daily.arn, input: JSON.stringify({ trigger: 'schedule', everyTenant: true }) }),
    );
    const dailyResult = await waitForExecution(sfn, executionArn!);
    // DailyBackups starts each tenant's BackupRun and does not wait for it: local mode waits for its own.
    const startedRuns = (JSON.parse(dailyResult.output ?? '{}') as { page?: { startedRuns?: string[] } }).page?.startedRuns ?? [];
    const mine = startedRuns.find((name) => name.startsWith(`${LOCAL_TENANT}-`));
    if (!mine)
      throw new Error(
        `DailyBackups ${dailyResult.status} without a run for tenant "${LOCAL_TENANT}": ${dailyResult.error ?? ''} ${dailyResult.cause ?? ''}`,
      );
    const childArn = `${backupRun.arn.replace(':stateMachine:', ':execution:')}:${mine}`;
    await waitForExecution(sfn, childArn);
    const history = [...(await historyLines(sfn, executionArn!, 'DailyBackups')), ...(await historyLines(sfn, childArn, mine))];
    const run = await runs.get(mine);
    db.destroy();
    sfn.destroy();
    management.destroy();
    // What the run kept (validated and promoted), else what the connector uploaded to staging.
    const pointer = run?.validatedManifest ?? run?.manifest;
    const manifest = pointer ? await readManifest(access, pointer) : undefined;
    return summarize(run, manifest, mine, history, access, (Date.now() - started) / 1000);
  } finally {
    if (!options.keep) await stopLocalMode(dataDir);
    releaseLock();
  }
}

/**
 * Local Step Functions keeps its executions in the cloud daemon's memory: when local mode is stopped
 * in the middle of a run (Ctrl-C, --down, a crash), the run's record stays RUNNING with no execution
 * behind it, and the tenant's one-run-at-a-time rule would refuse every new run for hours. Such runs
 * are marked FAILED, as the Step Functions catch would have done.
 * @returns the run ids marked failed.
 */
async function failOrphanedRuns(runs: RunStore, sfn: SFNClient): Promise<string[]> {
  const orphans: string[] = [];
  for (const run of await runs.forTenant(LOCAL_TENANT, 20)) {
    if (run.status !== 'RUNNING') continue;
    const known = await sfn.send(new DescribeExecutionCommand({ executionArn: run.executionArn })).then(
      () => true,
      (error: Error) => {
        if (awsErrorKind(error) === 'execution-missing') return false;
        throw error;
      },
    );
    if (known) continue;
    await markRunFailed({ runs }, run.runId, run.tenantId, {
      error: 'LocalModeStopped',
      cause: 'local mode was stopped while this run was in progress; its execution ended with it',
    });
    orphans.push(run.runId);
  }
  return orphans;
}

/**
 * Refuses to start when any port local mode binds (its services' and Ceph's daemons' range) is held
 * by a program other than this data folder's own running services, naming the port and its holder.
 * @throws Error with the port, the holder and `--port-base` as the way out.
 */
function assertLocalPortsFree(dataDir: string, portBase: number): void {
  const ports = localPorts(portBase);
  const ours = new Set(
    [...new Daemons(dataDir).names().map((name) => new Daemons(dataDir).pid(name)), ...cephPids(dataDir)].filter(
      (pid) => pid !== undefined,
    ),
  );
  const all = [...Object.values(ports), ...Array.from({ length: 40 }, (_, i) => ports.mon + 1 + i)];
  for (const port of all) {
    const holder = portHolder(port);
    if (!holder) continue;
    const pids = [...holder.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1]));
    if (pids.length > 0 && pids.every((pid) => ours.has(pid))) continue;
    throw new Error(
      `local mode cannot listen on 127.0.0.1:${port}: the port is taken by ${holder}. Stop that program, or choose another --port-base (local mode uses ${portBase}…${portBase + LOCAL_PORT_SPAN - 1}).`,
    );
  }
}

function cephPids(dataDir: string): number[] {
  const run = path.join(dataDir, 'ceph', 'run');
  if (!existsSync(run)) return [];
  return readdirSync(run)
    .filter((f) => f.endsWith('.pid'))
    .map((f) => Number(readFileSync(path.join(run, f), 'utf8').trim()))
    .filter(Number.isInteger);
}

/** True when the tenant has a connection the gateway still knows (records can outlive a restarted gateway). */
async function liveConnection(connections: ConnectionStore, management: ApiGatewayManagementApiClient): Promise<boolean> {
  for (const connection of await connections.forTenant(LOCAL_TENANT).catch(() => [])) {
    const found = await management.send(new GetConnectionCommand({ ConnectionId: connection.connectionId })).then(
      () => true,
      () => false,
    );
    if (found) return true;
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
    const failure = event.executionFailedEventDetails
      ? `  ${event.executionFailedEventDetails.error}: ${(event.executionFailedEventDetails.cause ?? '').slice(0, 300)}`
      : '';
    return `${label}  ${time}  ${(event.type ?? '').padEnd(22)} ${name}${failure}`;
  });
}

/** Reads the run's manifest from S3 at its exact version, as the operator through the AWS endpoint (for the summary only; validation did the checking). */
async function readManifest(access: LocalAccess, pointer: { key: string; versionId: string }): Promise<Manifest> {
  const s3 = new S3Client({ ...localClientConfig(access, access.operator), endpoint: access.awsEndpoint, forcePathStyle: true });
  const out = await s3.send(new GetObjectCommand({ Bucket: LOCAL_BUCKET, Key: pointer.key, VersionId: pointer.versionId }));
  const manifest = parseManifest(await out.Body!.transformToString());
  s3.destroy();
  return manifest;
}

function summarize(
  run: RunRecord | undefined,
  manifest: Manifest | undefined,
  runId: string,
  history: string[],
  access: LocalAccess,
  durationSeconds: number,
): LocalRunSummary {
  const databases = (manifest?.databases ?? []).map((d) => ({
    database: d.database,
    key: d.artifact.key,
    versionId: d.artifact.versionId,
    size: d.artifact.size,
    ...(d.carriedFrom ? { carriedFrom: d.carriedFrom } : {}),
  }));
  const archive = manifest?.archive;
  return {
    runId,
    status: run?.status ?? 'UNKNOWN',
    validated: run?.validation?.ok === true,
    bucket: LOCAL_BUCKET,
    s3Endpoint: access.s3Endpoint,
    caBundle: access.caFile,
    awsEndpoint: access.awsEndpoint,
    awsCredentialsFile: access.awsCredentialsFile,
    durationSeconds: Math.round(durationSeconds * 10) / 10,
    databases,
    archive: archive && {
      files: archive.files,
      bytes: archive.bytes,
      uploadedFiles: archive.uploadedFiles,
      uploadedBytes: archive.uploadedBytes,
      deletedFiles: archive.deletedFiles,
      snapshotKey: archive.snapshot.key,
    },
    manifestKey: (run?.validatedManifest ?? run?.manifest)?.key,
    stagedManifestKey: run?.manifest?.key,
    kept: run?.kept,
    failures: (run?.failures ?? []).map((f) => ({ kind: f.kind, name: f.name, code: f.error.code, message: f.error.message })),
    artifactKeys: [
      ...databases.map((d) => d.key),
      ...(archive ? [archive.snapshot.key] : []),
      ...((run?.validatedManifest ?? run?.manifest) ? [(run?.validatedManifest ?? run?.manifest)!.key] : []),
    ],
    failure: run?.failure,
    history,
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
