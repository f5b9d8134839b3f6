// `npm run local`: one complete daily backup on this machine, every part real and on loopback.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
import { Command, InvalidArgumentError } from 'commander';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { localPorts, runLocalMode, stopLocalMode } from '../local-mode';
import { REPO_ROOT } from '../daemons';
import { dataLockHolder } from '../data-lock';
import { DATABASE_STATES, parseDatabaseStates } from '../local-checks';
import { DEFAULT_LOCAL_PORT_BASE } from '../ports';
import { plural } from '../../cli/src/render';
import { App } from 'aws-cdk-lib';
import { stackPropsFromContext } from '../../infra/lib/stack-props-from-context';
import { SoBackupStack } from '../../infra/lib/so-backup-stack';

/** `--context KEY=VALUE …` as CDK context (values are strings, as `cdk -c` gives them). */
function parseContext(pairs: readonly string[]): Record<string, string> {
  return Object.fromEntries(
    pairs.map((pair) => {
      const at = pair.indexOf('=');
      if (at <= 0) throw new InvalidArgumentError(`--context takes KEY=VALUE (e.g. checkInMinutes=1), not "${pair}"`);
      return [pair.slice(0, at), pair.slice(at + 1)];
    }),
  );
}

const port = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1024 || n > 65_000) throw new InvalidArgumentError('must be a whole number from 1024 to 65000');
  return n;
};

/** Set by Ctrl-C/SIGTERM: the run's errors while its services stop are expected. */
let interrupted = false;

const program = new Command('local')
  .description(
    "run one complete daily backup locally: Ceph RGW (S3), dynalite (DynamoDB), the stack's state machines and functions, the SQL Server stand-in and the real connector",
  )
  .option('--data <dir>', 'folder for all local state (S3 data, tables, connector state)', path.join(REPO_ROOT, '.local'))
  .option(
    '--port-base <n>',
    "first of the local ports (S3 is base+80); all 100 must lie below the kernel's ephemeral range",
    port,
    DEFAULT_LOCAL_PORT_BASE,
  )
  .option('--fresh', 'forget all local state and start over')
  .option('--keep', 'leave the local services running afterwards (stop them with --down and the same --data)')
  .option('--archive <dir>', 'back up this folder as SO_ARC instead of the generated sample')
  .option('--sql <connection string>', 'back up a real SQL Server instead of the stand-in (env SO_BACKUP_SQL_CONNECTION_STRING)')
  .option('--database <name...>', 'databases to back up', ['SuperOffice'])
  .option(
    '--database-state <NAME=STATE...>',
    `the state the SQL Server stand-in reports for a database: ${Object.keys(DATABASE_STATES).join(', ')} (e.g. 2two=OFFLINE, SuperOffice=TDE)`,
    [],
  )
  .option(
    '--context <KEY=VALUE...>',
    'stack context, as `cdk deploy -c KEY=VALUE` takes it (infra/lib/stack-props-from-context.ts), e.g. checkInMinutes=1 or connectorPresence=always',
    [],
  )
  .option('--summary <file>', 'also write the summary as JSON to this file')
  .option('--down', 'only stop the services a --keep run left running');

program.action(
  async (options: {
    data: string;
    portBase: number;
    fresh?: boolean;
    keep?: boolean;
    archive?: string;
    sql?: string;
    database: string[];
    databaseState: string[];
    summary?: string;
    context: string[];
    down?: boolean;
  }) => {
    const dataDir = path.resolve(options.data);
    if (options.down) {
      if (!existsSync(dataDir)) {
        console.error(`nothing to stop: ${dataDir} does not exist (give the --data folder of the run you kept)`);
        process.exitCode = 2;
        return;
      }
      const holder = dataLockHolder(dataDir);
      await stopLocalMode(dataDir);
      console.log(
        `stopped the local services of ${dataDir}${holder ? ` (local mode pid ${holder.pid} was using them and will now fail)` : ''}`,
      );
      return;
    }
    // Ctrl-C or a kill in the middle: stop what this run started (its daemons run in their own
    // sessions and do not get the terminal's signal), unless --keep asked to leave them running.
    for (const [signal, code] of [
      ['SIGINT', 130],
      ['SIGTERM', 143],
    ] as const) {
      process.once(signal, () => {
        interrupted = true;
        if (options.keep) {
          console.error(`\n${signal}: the local services keep running (--keep); stop them with: npm run local -- --down --data ${dataDir}`);
          process.exit(code);
        }
        console.error(`\n${signal}: stopping the local services of ${dataDir}…`);
        stopLocalMode(dataDir)
          .then(
            () => console.error('stopped (a run it interrupted is marked failed at the next start)'),
            (error: unknown) =>
              console.error(
                `could not stop every service: ${error instanceof Error ? error.message : String(error)}; run npm run local -- --down --data ${dataDir}`,
              ),
          )
          .finally(() => process.exit(code));
      });
    }
    const sqlConnectionString = options.sql ?? process.env.SO_BACKUP_SQL_CONNECTION_STRING;
    if (sqlConnectionString && options.databaseState.length > 0)
      throw new Error("--database-state sets the stand-in's database states; with --sql (a real SQL Server) the server reports its own");
    const standInDatabaseStates = parseDatabaseStates(options.databaseState, options.database);
    const stack = stackPropsFromContext(new App({ context: parseContext(options.context) }).node);
    // The stack's own checks (ranges, checkInMinutes against offlineAfterHours …) before anything starts: constructing it runs them, without bundling.
    new SoBackupStack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'SoBackup', stack);
    const summary = await runLocalMode({
      dataDir,
      portBase: options.portBase,
      fresh: options.fresh,
      keep: options.keep,
      schedules: options.keep ? 'timed' : 'manual',
      archiveDir: options.archive ? path.resolve(options.archive) : undefined,
      sqlConnectionString,
      sqlDatabases: options.database,
      standInDatabaseStates,
      stack,
      log: (line) => console.log(line),
    });
    console.log('\nRun history (Step Functions, executed locally from the synthesized definitions):');
    for (const line of summary.history) console.log(`  ${line}`);
    console.log('\nSummary');
    console.log(`  run         ${summary.runId}`);
    console.log(`  status      ${summary.status}${summary.validated ? ' (validated)' : ' (NOT validated)'}`);
    if (summary.failure) console.log(`  failure     ${summary.failure.error}: ${summary.failure.cause}`);
    for (const f of summary.failures) console.log(`  FAILED      ${f.kind} ${f.name}: ${f.code}: ${f.message}`);
    for (const db of summary.databases)
      console.log(
        `  database    ${db.database}: ${(db.size / 1048576).toFixed(1)} MiB → ${db.key} (version ${db.versionId})${db.carriedFrom ? ` — failed today; the last validated backup, from run ${db.carriedFrom}, is kept` : ''}`,
      );
    if (summary.archive) {
      const a = summary.archive;
      console.log(
        `  archive     ${plural(a.files, 'file')}, ${(a.bytes / 1048576).toFixed(1)} MiB; sent ${plural(a.uploadedFiles, 'new/changed file')} (${(a.uploadedBytes / 1048576).toFixed(1)} MiB), ${a.deletedFiles} deleted`,
      );
    }
    if (summary.manifestKey)
      console.log(
        `  manifest    ${summary.manifestKey}${summary.stagedManifestKey && summary.stagedManifestKey !== summary.manifestKey ? ` (promoted from ${summary.stagedManifestKey})` : ''}`,
      );
    console.log(`  duration    ${summary.durationSeconds} s`);
    if (options.summary) writeFileSync(options.summary, JSON.stringify(summary, null, 2));
    if (options.keep) {
      const ports = localPorts(options.portBase);
      console.log(
        "\nServices left running; the stack's schedules fire on their own. Inspect S3 with the AWS CLI, as the operator through the AWS endpoint (IAM-checked):",
      );
      console.log(`  AWS_SHARED_CREDENTIALS_FILE=${summary.awsCredentialsFile} \\`);
      console.log(
        `    aws --endpoint-url ${summary.awsEndpoint} --ca-bundle ${summary.caBundle} --region us-east-1 s3api list-object-versions --bucket ${summary.bucket}`,
      );
      console.log(
        `  AWS endpoint (IAM-checked; the operator key is in ${path.join(dataDir, 'operator.json')}): https://127.0.0.1:${ports.aws}   gateway: ws://127.0.0.1:${ports.gateway}`,
      );
      console.log(
        `  Refused calls: ${path.join(dataDir, 'logs', 'access-denied.log')}   function output: ${path.join(dataDir, 'logs', 'lambda-*.log')}`,
      );
      console.log(`  Stop them with: npm run local:down -- --data ${JSON.stringify(dataDir)}`);
    }
    process.exitCode = (summary.status === 'SUCCEEDED' || summary.status === 'SUCCEEDED_WITH_WARNINGS') && summary.validated ? 0 : 1;
  },
);

program.parseAsync().catch((error: unknown) => {
  if (interrupted) return; // the run fails as its services stop: not news
  console.error(`local mode failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
