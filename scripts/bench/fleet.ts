// `npm run bench -- fleet --tenants N [--offline P]`: the nightly start of a whole fleet through
// local mode's real cloud side (the synthesized template's handlers and state machines, the local
// gateway with the stage's throttle, dynalite) and N simulated connectors: in-process protocol
// speakers that sign in with their own Ed25519 key, keep the connector's link (message budget,
// heartbeats, back-off, resends) and answer a backup job after a few seconds. Every tenant's slot
// is the same quarter hour (the worst case: nobody spread). Ends with one line:
//   fleet: N tenants, R requested within S s of the hour, offline O, dropped D, peak RSS M MiB
// The peer, in the same run, before the quarter hour: the same connectors asked straight through
// API Gateway's @connections API by one caller that looks up each tenant's connection in the
// connections table and POSTs one message (25 at a time; no schedule, Step Functions or Lambda):
// how fast the table and the transport alone reach the fleet.
import { type ChildProcess, spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { ApiGatewayManagementApiClient, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ListExecutionsCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { BatchWriteCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { pino } from 'pino';
import { Link } from '../../connector/src/link/link';
import { Outbox } from '../../connector/src/link/outbox';
import { localDay, localStamp, windowStart } from '../../core';
import { ConnectionStore, type RunRecord, RunStore, type TenantRecord } from '../../core';
import { LOCAL_REGION, readLocalDeployment } from '../../local/cloud/local-deployment';
import type { LocalCloudConfig } from '../../local/cloud/local-cloud-config';
import { ensureLocalTls } from '../../local/cloud/local-tls';
import { provisionLocalResources } from '../../local/cloud/provision';
import { readIamModel } from '../../local/iam/iam-model';
import { dynaliteArgs, dynaliteClientConfig, socketAgent, socketOpen } from '../../local/dynamodb-socket';
import { startCephRgw } from '../../local/ceph-rgw';
import { makePrivateFolder } from '../../local/private-folder';
import { synthesizeStack } from '../../local/cloud/synthesize-template';
import { lambdaTsxCommand, portOpen, REPO_ROOT, runScript, sleep } from '../../local/daemons';
import { assertOutsideEphemeral, LOCAL_PORT_SPAN } from '../../local/ports';
import { PROTOCOL_VERSION, signatureAuthorization } from '../../protocol';

export interface FleetOptions {
  tenants: number;
  /** Percent of tenants whose connector is offline (their runs wait out the offline window). */
  offlinePercent: number;
  portBase: number;
  /** Simulated connectors dialling per second while the fleet connects (below the stage's throttle). */
  connectRate: number;
  /** Give up waiting for requests and results after this long. */
  deadlineSeconds: number;
  /** Measure the hourly checks (stale tenants, offline connectors, restore drills) afterwards. */
  hourlyChecks: boolean;
}

interface SimulatedConnector {
  tenantId: string;
  link: Link;
  requestedAfterMs?: number;
  /** When the peer's direct message reached it. */
  probedAfterMs?: number;
}

/** The run id of the peer's message: a cancel-job for a run that does not exist, which a connector ignores. */
const probeRunId = (tenantId: string) => `${tenantId}-peer-probe`;

const BENCH_ERROR = 'BENCH_SIMULATED_CONNECTOR';

/** Peak resident memory of a process (VmHWM), in MiB. */
function peakRssMiB(pid: number | 'self'): number {
  try {
    return Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

/** Peak resident memory of a process and all its descendants (the cloud and its functions' processes), in MiB. */
function treeRssMiB(root: number): number {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      parents.set(
        Number(entry),
        Number(
          readFileSync(`/proc/${entry}/stat`, 'utf8')
            .replace(/^.*\) /s, '')
            .split(' ')[1],
        ),
      );
    } catch {
      // the process ended meanwhile
    }
  }
  const tree = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, ppid] of parents) {
      if (tree.has(ppid) && !tree.has(pid)) {
        tree.add(pid);
        grew = true;
      }
    }
  }
  return [...tree].reduce((sum, pid) => sum + peakRssMiB(pid), 0);
}

/** A counting proxy in front of DynamoDB: operations, and read capacity estimated from response sizes (4 KB units, eventually consistent). */
async function countingProxy(socket: string, target: string) {
  const agent = socketAgent(target);
  const counts = new Map<string, { calls: number; bytes: number; rru: number }>();
  const server = http.createServer((req, res) => {
    const op =
      String(req.headers['x-amz-target'] ?? '')
        .split('.')
        .pop() ?? '?';
    const upstream = http.request({ agent, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      const chunks: Buffer[] = [];
      answer.on('data', (c: Buffer) => chunks.push(c));
      answer.on('end', () => {
        const bytes = chunks.reduce((n, c) => n + c.length, 0);
        const entry = counts.get(op) ?? { calls: 0, bytes: 0, rru: 0 };
        entry.calls++;
        entry.bytes += bytes;
        if (['Scan', 'Query', 'GetItem', 'BatchGetItem'].includes(op))
          entry.rru += Math.max(1, Math.ceil(bytes / 4096)) * (op === 'GetItem' ? 1 : 0.5);
        counts.set(op, entry);
        res.writeHead(answer.statusCode ?? 500, answer.headers);
        res.end(Buffer.concat(chunks));
      });
    });
    req.pipe(upstream);
  });
  server.listen(socket);
  await new Promise((resolve) => server.once('listening', resolve));
  return { counts, reset: () => counts.clear(), stop: () => new Promise((resolve) => server.close(resolve)) };
}

function startProcess(name: string, command: string, args: string[], logDir: string, env: NodeJS.ProcessEnv = {}): ChildProcess {
  const log = createWriteStream(path.join(logDir, `${name}.log`));
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  return child;
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  for (const end = Date.now() + ms; !(await check()); await sleep(200))
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
}

export async function benchFleet(options: FleetOptions): Promise<number> {
  assertOutsideEphemeral(options.portBase, LOCAL_PORT_SPAN, 'the benchmark');
  const log = (line: string) => console.log(line);
  const dataDir = path.join(REPO_ROOT, '.local', 'bench', 'fleet');
  // A cluster a stopped run left behind is stopped before its folder goes.
  if (existsSync(path.join(dataDir, 'ceph'))) runScript('ceph-rgw.sh', ['stop', path.join(dataDir, 'ceph')]);
  rmSync(dataDir, { recursive: true, force: true });
  makePrivateFolder(dataDir); // dynalite's socket and the cloud's keys: its owner's only
  mkdirSync(path.join(dataDir, 'logs'), { recursive: true });
  const ports = {
    gateway: options.portBase + 2,
    gatewayTls: options.portBase + 3,
    aws: options.portBase + 4,
    mon: options.portBase + 10,
    s3: options.portBase + 80,
  };
  for (const port of Object.values(ports)) if (await portOpen(port)) throw new Error(`port ${port} is in use; pick another --port-base`);
  const children: ChildProcess[] = [];
  const links: SimulatedConnector[] = [];
  const stops: Array<() => Promise<unknown>> = [];
  try {
    // As in local mode: dynalite on a Unix socket in the benchmark's 0700 folder, reached by the cloud only through the AWS endpoint.
    const dynamodbSocket = path.join(dataDir, 'dynamodb.sock');
    log(`• dynalite (in memory) on ${dynamodbSocket}`);
    children.push(startProcess('dynalite', process.execPath, dynaliteArgs(dynamodbSocket), path.join(dataDir, 'logs')));
    await waitFor('dynalite', () => socketOpen(dynamodbSocket), 30_000);

    log('• the stack, synthesized with its shipped settings (stage throttle, schedule, quotas)');
    const { template, assemblyDir } = synthesizeStack();
    const templateFile = path.join(dataDir, 'template.json');
    writeFileSync(templateFile, JSON.stringify(template));
    const deployment = readLocalDeployment(template);
    // Ceph RGW over TLS, as local mode runs it: the upload role's STS credentials the runs mint come from it.
    const tls = ensureLocalTls(path.join(dataDir, 'tls'));
    const cephDir = path.join(dataDir, 'ceph');
    const s3Endpoint = `https://127.0.0.1:${ports.s3}`;
    log(`• Ceph RGW (TLS, STS) on ${ports.s3}`);
    runScript('ceph-chroot.sh', []);
    const owner = startCephRgw(cephDir, { s3: ports.s3, mon: ports.mon }, { SO_BACKUP_RGW_TLS_DIR: tls.dir });
    stops.push(async () => runScript('ceph-rgw.sh', ['stop', cephDir]));
    await provisionLocalResources(
      deployment,
      readIamModel(template),
      { dynamodbSocket },
      { endpoint: s3Endpoint, ca: tls.ca, credentials: { ...owner } },
    );
    const table = (suffix: string) => deployment.tables.find((t) => t.name.includes(suffix))!.name;
    const throttle = deployment.webSocket.throttle;
    log(`  stage throttle ${throttle?.rateLimit}/s, burst ${throttle?.burstLimit}`);

    // Every tenant in the same quarter hour: the fleet's worst case.
    const timeZone = deployment.functions.find((f) => f.handler === 'list-tenants')!.environment.SCHEDULE_TIME_ZONE ?? 'Europe/Oslo';
    const slot = windowStart(new Date(Date.now() + 15 * 60_000));
    const [hour, minute] = localStamp(slot, timeZone).slice(11).split(':').map(Number) as [number, number];
    const offline = Math.round((options.tenants * options.offlinePercent) / 100);
    log(
      `• ${options.tenants} tenants (${offline} with their connector offline), every one due at ${String(hour).padStart(2, '0')}:${String(minute).padStart(2, '0')} ${timeZone}`,
    );
    const db = DynamoDBDocumentClient.from(
      // The fleet's records are set up as provisioning makes the tables: over dynalite's socket, before the cloud starts.
      new DynamoDBClient(dynaliteClientConfig(dynamodbSocket)),
    );
    const keys: Array<{ tenantId: string; keyId: string; privateKeyPem: string; online: boolean }> = [];
    const records: TenantRecord[] = [];
    // Yesterday's validated run for each tenant, and its last restore drill spread over the past week, so
    // that the hourly drill check finds about one tenant in 168 due, as in steady operation.
    const yesterday = new Date(Date.now() - 86_400_000);
    const previousRuns: RunRecord[] = [];
    for (let i = 0; i < options.tenants; i++) {
      const tenantId = `customer-${String(i).padStart(5, '0')}`;
      const pair = generateKeyPairSync('ed25519');
      const keyId = `k${i}`;
      keys.push({
        tenantId,
        keyId,
        privateKeyPem: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
        online: i >= offline,
      });
      records.push({
        tenantId,
        displayName: `Customer ${i}`,
        enabled: true,
        createdAt: new Date().toISOString(),
        lastSuccessAt: new Date(Date.now() - 86_400_000).toISOString(),
        keys: [
          {
            keyId,
            publicKey: pair.publicKey.export({ type: 'spki', format: 'der' }).toString('base64url'),
            status: 'active',
            createdAt: new Date().toISOString(),
          },
        ],
        keysVersion: 1,
        backupHour: hour,
        backupMinute: minute,
        lastRunId: `${tenantId}-${localDay(yesterday, timeZone)}-daily`,
        lastDrill: {
          drillId: `${tenantId}-drill-0`,
          runId: `${tenantId}-${localDay(yesterday, timeZone)}-daily`,
          ok: true,
          at: new Date(Date.now() - ((i % 168) + 1) * 3_600_000).toISOString(),
          detail: 'database checked; archive 20 of 20 sampled files verified',
        },
      });
      previousRuns.push({
        runId: `${tenantId}-${localDay(yesterday, timeZone)}-daily`,
        tenantId,
        status: 'SUCCEEDED',
        trigger: 'schedule',
        requestedBy: 'schedule',
        executionArn: 'bench',
        startedAt: yesterday.toISOString(),
        manifest: { key: `manifests/daily/${tenantId}/manifest.json`, versionId: 'bench' },
        validation: { ok: true, checkedAt: yesterday.toISOString(), checks: 5, problems: [] },
      });
    }
    for (let i = 0; i < previousRuns.length; i += 25) {
      await db.send(
        new BatchWriteCommand({
          RequestItems: { [table('Runs')]: previousRuns.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })) },
        }),
      );
    }
    for (let i = 0; i < records.length; i += 25) {
      await db.send(
        new BatchWriteCommand({ RequestItems: { [table('Tenants')]: records.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })) } }),
      );
    }

    // The cloud reaches DynamoDB through a counting proxy (the hourly checks' reads are counted with it).
    const proxySocket = path.join(dataDir, 'dynamodb-counted.sock');
    const proxy = await countingProxy(proxySocket, dynamodbSocket);
    stops.push(() => proxy.stop());
    log(
      "• the local cloud as local mode runs it, in its own process: IAM on every call through the AWS endpoint, the functions' bundles in their own Node 24 processes, the gateway with the stage's throttle",
    );
    const operator = {
      accessKeyId: `AKIA${randomBytes(8).toString('hex').toUpperCase()}`,
      secretAccessKey: randomBytes(30).toString('base64'),
    };
    const cloudConfig: LocalCloudConfig = {
      templateFile,
      assemblyDir,
      alertsFile: path.join(dataDir, 'alerts.jsonl'),
      logDir: path.join(dataDir, 'logs', 'cloud'),
      gatewayPort: ports.gateway,
      gatewayTlsPort: ports.gatewayTls,
      awsPort: ports.aws,
      dynamodbSocket: proxySocket,
      s3: { endpoint: s3Endpoint, accessKeyId: owner.accessKeyId, secretAccessKey: owner.secretAccessKey },
      tlsDir: tls.dir,
      operator,
      schedules: 'manual',
    };
    const cloudFile = path.join(dataDir, 'cloud.json');
    writeFileSync(cloudFile, JSON.stringify(cloudConfig), { mode: 0o600 });
    const cloudCommand = lambdaTsxCommand('local/bin/local-cloud.ts', [cloudFile]);
    const cloud = startProcess(
      'cloud',
      cloudCommand.command,
      ['--max-old-space-size=8192', ...cloudCommand.args],
      path.join(dataDir, 'logs'),
      { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    );
    children.push(cloud);
    await waitFor('the local cloud', () => portOpen(ports.aws), 300_000);
    const firings = new Map<string, (line: string) => void>();
    createInterface({ input: cloud.stdout! }).on('line', (line) => {
      const fired = /^(fired|refused) (\S+)/.exec(line);
      if (fired) firings.get(fired[2]!)?.(line);
    });
    /** Fires one of the stack's schedules in the cloud process (local/bin/local-cloud.ts reads `fire <name>` on stdin). */
    const fire = (name: string) =>
      new Promise<string>((resolve) => {
        firings.set(name, resolve);
        cloud.stdin!.write(`fire ${name}\n`);
      });
    const operatorClient = { region: LOCAL_REGION, credentials: operator, requestHandler: { httpsAgent: new https.Agent({ ca: tls.ca }) } };

    const online = keys.filter((k) => k.online);
    log(`• ${online.length} simulated connectors dial in, ${options.connectRate}/s`);
    const silent = pino({ level: 'silent' });
    const linksDir = path.join(dataDir, 'connectors');
    let connected = 0;
    let hour0 = 0;
    let probe0 = 0;
    const throttledFrames = { count: 0 };
    const connectStarted = Date.now();
    for (const key of online) {
      const link = new Link({
        endpoint: `ws://127.0.0.1:${ports.gateway}`,
        connectorVersion: 'bench',
        logger: silent,
        authorization: () => signatureAuthorization(key.tenantId, key.keyId, key.privateKeyPem),
        outbox: new Outbox(path.join(linksDir, key.tenantId)),
      });
      const connector: SimulatedConnector = { tenantId: key.tenantId, link };
      link.once('connected', () => connected++);
      link.on('undelivered', () => throttledFrames.count++);
      link.on('cancel', (cancel) => {
        if (cancel.runId === probeRunId(key.tenantId)) connector.probedAfterMs ??= Date.now() - probe0;
      });
      link.on('job', (job) => {
        connector.requestedAfterMs ??= Date.now() - hour0;
        // The backup itself: a few seconds, one progress, then the result (this benchmark takes no real backup).
        setTimeout(
          () => link.sendIfConnected({ type: 'progress', v: PROTOCOL_VERSION, runId: job.runId, phase: 'database', percent: 50 }),
          1000 + Math.random() * 1000,
        );
        setTimeout(
          () =>
            void link.deliver({
              type: 'result',
              v: PROTOCOL_VERSION,
              runId: job.runId,
              outcome: 'failed',
              error: { code: BENCH_ERROR, message: 'a simulated connector: no backup taken' },
            }),
          3000 + Math.random() * 2000,
        );
      });
      links.push(connector);
      link.start();
      await sleep(1000 / options.connectRate);
    }
    await waitFor('every simulated connector to connect', () => connected === online.length, 30 * 60_000);
    log(`  connected in ${((Date.now() - connectStarted) / 1000).toFixed(0)} s`);

    // The peer: every connection asked straight through @connections, 25 at a time, by one caller.
    log(
      `• the peer: the same ${online.length} connectors asked straight through @connections by one caller (25 in flight; no schedule, Step Functions or Lambda)`,
    );
    const connectionStore = new ConnectionStore(db, table('Connections'));
    // A tenant's newest connection (a connector may have renewed its connection meanwhile; a gone one is looked up again).
    const newestConnection = async (tenantId: string) =>
      (await connectionStore.forTenant(tenantId)).sort((x, y) => y.connectedAt.localeCompare(x.connectedAt))[0]?.connectionId;
    const management = new ApiGatewayManagementApiClient({ ...operatorClient, endpoint: `https://127.0.0.1:${ports.gatewayTls}/prod` });
    probe0 = Date.now();
    let next = 0;
    const post = async () => {
      while (next < online.length) {
        const { tenantId } = online[next++]!;
        const message = {
          type: 'cancel-job',
          v: PROTOCOL_VERSION,
          runId: probeRunId(tenantId),
          reason: 'benchmark peer: a run that does not exist',
        };
        for (let attempt = 0; attempt < 3; attempt++) {
          const connectionId = await newestConnection(tenantId);
          if (!connectionId) break;
          const sent = await management
            .send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from(JSON.stringify(message)) }))
            .then(
              () => true,
              () => false,
            );
          if (sent) break;
        }
      }
    };
    await Promise.all(Array.from({ length: 25 }, post));
    await waitFor("the peer's messages", () => links.every((l) => l.probedAfterMs !== undefined), 120_000).catch(() => undefined);
    management.destroy();
    const probeTimes = links
      .map((l) => l.probedAfterMs)
      .filter((t): t is number => t !== undefined)
      .sort((a, b) => a - b);
    const peerSlowest = (probeTimes.at(-1) ?? 0) / 1000;
    log(
      `  peer: ${probeTimes.length} of ${links.length} reached; median ${((probeTimes[Math.floor(probeTimes.length / 2)] ?? 0) / 1000).toFixed(1)} s, slowest ${peerSlowest.toFixed(1)} s`,
    );

    const sfn = new SFNClient({ ...operatorClient, endpoint: `https://127.0.0.1:${ports.aws}` });
    const daily = deployment.stateMachines.find((m) => m.name === 'DailyBackups')!;
    const backupRun = deployment.stateMachines.find((m) => m.name === 'BackupRun')!;
    log(`• the quarter hour strikes: DailyBackups, as the scheduler starts it (scheduled time ${slot.toISOString()})`);
    hour0 = Date.now();
    await sfn.send(
      new StartExecutionCommand({
        stateMachineArn: daily.arn,
        name: `daily-bench-${Date.now()}`,
        input: JSON.stringify({ trigger: 'schedule', scheduledTime: slot.toISOString() }),
      }),
    );
    const deadline = hour0 + options.deadlineSeconds * 1000;
    let lastReport = 0;
    await waitFor(
      'every online tenant to be asked for its backup',
      () => {
        const requested = links.filter((l) => l.requestedAfterMs !== undefined).length;
        if (Date.now() - lastReport > 15_000) {
          lastReport = Date.now();
          log(`  ${((Date.now() - hour0) / 1000).toFixed(0)} s: ${requested} of ${links.length} asked`);
        }
        return requested === links.length || Date.now() > deadline;
      },
      options.deadlineSeconds * 1000 + 10_000,
    );
    const times = links
      .map((l) => l.requestedAfterMs)
      .filter((t): t is number => t !== undefined)
      .sort((a, b) => a - b);
    const slowest = Math.ceil((times.at(-1) ?? 0) / 1000);
    const slowestExact = (times.at(-1) ?? 0) / 1000;
    log(
      `  requested: ${times.length} of ${links.length}; median ${(times[Math.floor(times.length / 2)] ?? 0) / 1000} s, slowest ${slowestExact.toFixed(1)} s`,
    );
    log(
      `  against the peer (the same fleet asked straight through @connections): slowest ${slowestExact.toFixed(1)} s vs ${peerSlowest.toFixed(1)} s, ${(slowestExact / Math.max(peerSlowest, 0.001)).toFixed(1)}× the transport alone; the target's 300 s is ${(300 / Math.max(slowestExact, 0.001)).toFixed(1)}× the slowest`,
    );

    log("• waiting for every online tenant's run to end with its connector's answer");
    const day = localDay(slot, timeZone);
    const onlineRuns = new Set(online.map((k) => `${k.tenantId}-${day}-daily`));
    let outcomes = new Map<string, string>();
    await waitFor(
      'the runs to end',
      async () => {
        const { executions = [] } = await sfn.send(new ListExecutionsCommand({ stateMachineArn: backupRun.arn }));
        outcomes = new Map(executions.filter((e) => onlineRuns.has(e.name!)).map((e) => [e.name!, e.status!]));
        const closed = [...outcomes.values()].filter((s) => s !== 'RUNNING').length;
        if (Date.now() - lastReport > 15_000) {
          lastReport = Date.now();
          log(`  ${((Date.now() - hour0) / 1000).toFixed(0)} s: ${closed} of ${onlineRuns.size} runs ended`);
        }
        return closed === onlineRuns.size || Date.now() > deadline;
      },
      options.deadlineSeconds * 1000 + 60_000,
    );
    const outbox = (await Promise.all(links.map((l) => l.link.hasQueuedResult(`${l.tenantId}-${day}-daily`)))).filter(Boolean).length;
    const runs = new RunStore(db, table('Runs'));
    // The connector's answer reached the state machine: the run failed with the simulated connector's code.
    const answered = (
      await Promise.all([...onlineRuns].map(async (runId) => (await runs.get(runId))?.failure?.cause.includes(BENCH_ERROR) === true))
    ).filter(Boolean).length;
    const dropped = onlineRuns.size - answered + outbox;
    log(
      `  runs ended with the connector's answer: ${answered} of ${onlineRuns.size}; results still unacknowledged: ${outbox}; messages the gateway did not deliver (throttled or failed) and the connectors sent again: ${throttledFrames.count}`,
    );

    if (options.hourlyChecks) {
      log(
        `• the hourly checks at ${options.tenants} tenants, fired as their schedules (their DynamoDB reads counted through the proxy; the fleet stays connected)`,
      );
      const published = () =>
        existsSync(cloudConfig.alertsFile) ? readFileSync(cloudConfig.alertsFile, 'utf8').split('\n').filter(Boolean).length : 0;
      const alertsBefore = published();
      for (const check of ['check-stale-tenants', 'request-drills'] as const) {
        const fn = deployment.functions.find((f) => f.handler === check)!;
        const schedule = deployment.schedules.find((s) => s.targetArn === fn.arn);
        if (!schedule) throw new Error(`the stack has no schedule for ${check}`);
        proxy.reset();
        const began = Date.now();
        const answer = await fire(schedule.name);
        const ops = [...proxy.counts.entries()]
          .map(([op, c]) => `${op} ${c.calls} (${(c.bytes / 1048576).toFixed(1)} MiB${c.rru ? `, ~${Math.round(c.rru)} RRU` : ''})`)
          .join(', ');
        log(`  ${check}: ${((Date.now() - began) / 1000).toFixed(1)} s; DynamoDB ${ops}; ${answer.startsWith('fired') ? 'ok' : answer}`);
      }
      log(`  alerts published: ${published() - alertsBefore}`);
    }

    const rss = peakRssMiB('self') + treeRssMiB(cloud.pid!);
    const within = times.filter((t) => t <= options.deadlineSeconds * 1000).length;
    console.log(
      `fleet: ${options.tenants} tenants, ${within} requested within ${slowest} s of the hour, offline ${offline}, dropped ${dropped}, peak RSS ${Math.round(rss)} MiB`,
    );
    return within === online.length && slowest <= 300 && dropped === 0 ? 0 : 1;
  } finally {
    await Promise.all(links.map((l) => l.link.stop()));
    for (const child of children.reverse()) {
      child.kill('SIGTERM');
      await new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)));
    }
    for (const stop of stops) await stop();
  }
}
