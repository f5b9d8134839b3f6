#!/usr/bin/env node
// so-connector: the on-premises agent. `enrol` once, then `run` is what the service manager starts.
import { Command, InvalidArgumentError, Option } from 'commander';
import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { SoBackupError } from '../../../protocol';
import { enrolConnector } from '../enrol';
import { formatChecks } from '../doctor/doctor';
import { installService, uninstallService } from '../install/run-install';
import { doctor, runConnector } from '../run-connector';
import { type RestoreCommandOptions, runRestore } from '../restore/run-restore';
import { CONNECTOR_VERSION } from '../version';
import { runServiceHost, setupService, waitForServiceStop, windowsServiceManager } from '../windows';

export { CONNECTOR_VERSION };
/** Restore refusals (exit 2): each is decided before anything is changed (the cloud's refusals of the run included). */
const RESTORE_USAGE = new Set([
  'RESTORE_NOTHING',
  'RESTORE_ARGUMENTS',
  'RESTORE_NOT_CONFIRMED',
  'RESTORE_INTO_LIVE_ARCHIVE',
  'RESTORE_FOLDER_NOT_EMPTY',
  'RESTORE_TARGET_EXISTS',
  'RESTORE_WHICH_DATABASE',
  'DATABASE_NAME_INVALID',
  'RESTORE_NO_ARCHIVE',
  'RESTORE_FILE_NOT_IN_RUN',
  'RESTORE_FILE_AMBIGUOUS',
  'RESTORE_NO_SQL',
  'RESTORE_NO_STAGING',
  'RESTORE_NO_FOLDER',
  'NO_VALIDATED_RUN',
  'RUN_UNKNOWN',
  'RUN_NOT_RESTORABLE',
  'RUN_LACKS_PART',
]);

// An empty value is the same as leaving the option out, so that an installer (the MSI) can pass
// its properties as they are, set or not.
const databases = (value: string, previous: string[] = []) => [
  ...previous,
  ...value
    .split(',')
    .map((d) => d.trim())
    .filter(Boolean),
];
const archiveRoot = (value: string, previous: Array<{ name: string; path: string }> = []) => {
  if (!value.trim()) return previous;
  const at = value.indexOf('=');
  if (at <= 0) throw new InvalidArgumentError('use NAME=PATH, e.g. SO_ARC=D:\\SO_ARC');
  return [...previous, { name: value.slice(0, at), path: value.slice(at + 1) }];
};

/**
 * Runs a command's work and, with --log-file, also appends what it said (or the error) to that file:
 * an installer's custom action has no console, so the MSI names a log the customer can read.
 */
async function reported(logFile: string | undefined, work: () => Promise<string>): Promise<void> {
  const append = (text: string) => {
    if (!logFile) return;
    mkdirSync(path.dirname(logFile), { recursive: true });
    appendFileSync(logFile, `${new Date().toISOString()} so-connector ${CONNECTOR_VERSION}: ${text.trim()}\n`);
  };
  try {
    const text = await work();
    process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
    append(text);
  } catch (error) {
    append(`failed: ${error instanceof Error ? error.message : String(error)}`);
    throw error;
  }
}

const program = new Command('so-connector')
  .description('so-backup connector: backs up SQL Server and SO_ARC on request of the so-backup cloud')
  .version(CONNECTOR_VERSION);

program
  .command('enrol')
  .description('register this server with a one-time activation code and write the configuration')
  .requiredOption('--endpoint <url>', 'the wss:// endpoint (stack output ConnectorEndpoint)')
  // The code and the connection string's password are secrets: from the environment, they stay off
  // the command line, which every local user can read (ps, /proc/<pid>/cmdline) while enrol runs.
  .addOption(
    new Option('--code <tenant:code>', 'the activation code from the operator, e.g. acme:ABCDE-FGHJK-LMNPQ-RSTUV')
      .env('SO_CONNECTOR_ACTIVATION_CODE')
      .makeOptionMandatory(),
  )
  .requiredOption('--config <file>', 'where to write the configuration file')
  .requiredOption('--state-dir <dir>', "folder for the connector's identity, index and outbox")
  .addOption(new Option('--sql <connection string>', 'SQL Server connection string').env('SO_CONNECTOR_SQL'))
  .option('--database <name>', 'database to back up (repeatable, or comma-separated)', databases)
  .option('--staging <dir>', 'folder SQL Server writes the .bak to')
  .option('--archive <name=path>', 'archive root (repeatable), e.g. SO_ARC=D:\\SO_ARC', archiveRoot)
  .option('--ca-file <pem>', "extra certificate authorities to trust (PEM), e.g. a TLS-inspecting proxy's")
  .option('--log-file <file>', 'also append the outcome to this file (the MSI uses C:\\ProgramData\\so-backup\\logs\\install.log)')
  .option(
    '--check-only',
    'only check what needs no endpoint (code format, configuration, not enrolled already); write nothing, keep the code unused (the MSI runs this before it stops a running service)',
  )
  .action(
    (options: {
      endpoint: string;
      code: string;
      config: string;
      stateDir: string;
      sql?: string;
      database?: string[];
      staging?: string;
      archive?: Array<{ name: string; path: string }>;
      caFile?: string;
      logFile?: string;
      checkOnly?: boolean;
    }) =>
      reported(options.logFile, async () => {
        const result = await enrolConnector({ ...options, caFile: options.caFile || undefined, connectorVersion: CONNECTOR_VERSION });
        if (options.checkOnly) return `enrolment of tenant "${result.tenantId}" checked: not enrolled yet, the configuration is valid`;
        return `enrolled tenant "${result.tenantId}" with key ${result.keyId}; configuration written to ${result.configFile}`;
      }),
  );

program
  .command('doctor')
  .description('check everything the connector needs and print a fix for each problem')
  .requiredOption('-c, --config <file>', 'configuration file (JSON)')
  .option('--json', 'print the checks as JSON')
  .action(async (options: { config: string; json?: boolean }) => {
    const checks = await doctor(options.config);
    process.stdout.write(
      options.json ? `${JSON.stringify({ ok: checks.every((c) => c.ok), checks }, null, 2)}\n` : `${formatChecks(checks)}\n`,
    );
    if (!checks.every((c) => c.ok)) process.exitCode = 4;
  });

program
  .command('install')
  .description('install the connector as a service (Windows: so-connector.exe as its own service, what the MSI does; Linux: systemd unit)')
  .requiredOption('-c, --config <file>', 'configuration file (JSON)')
  .option('--account <account>', 'service account (Windows "DOMAIN\\user", default a virtual account; Linux user, default so-backup)')
  .option('--name <name>', 'service name', 'so-connector')
  .option('--dry-run', 'print what would be done, change nothing')
  .action(async (options: { config: string; account?: string; name: string; dryRun?: boolean }) => {
    const { text } = await installService(options);
    process.stdout.write(`${options.dryRun ? 'would do' : 'done'}:\n${text}\n`);
  });

program
  .command('uninstall')
  .description('stop and remove the service (the state folder stays)')
  .option('--name <name>', 'service name', 'so-connector')
  .option('--dry-run', 'print what would be done, change nothing')
  .action(async (options: { name: string; dryRun?: boolean }) => {
    const { text } = await uninstallService(options);
    process.stdout.write(`${options.dryRun ? 'would do' : 'done'}:\n${text}\n`);
  });

program
  .command('service-host')
  .description('Windows: what the so-connector service runs (started by the Service Control Manager; in a console use `run`)')
  .requiredOption('-c, --config <file>', 'configuration file (JSON)')
  .option('--name <name>', 'service name', 'so-connector')
  .action(async (options: { config: string; name: string }) => {
    process.exit(await runServiceHost(options, CONNECTOR_VERSION));
  });

program
  .command('service-setup')
  .description(
    "Windows: set the registered service's delayed start and restart on failure, give its account the state folder, start it when enrolled (the MSI runs this)",
  )
  .requiredOption('-c, --config <file>', 'configuration file (JSON)')
  .option('--name <name>', 'service name', 'so-connector')
  .option(
    '--account <account>',
    "the service's account, granted modify on the state folder (default: the virtual account NT SERVICE\\<name>)",
  )
  .option('--start-if-enrolled', 'start the service when the configuration exists, and wait until it runs')
  .option('--log-file <file>', 'also append the outcome to this file')
  .action((options: { config: string; name: string; account?: string; startIfEnrolled?: boolean; logFile?: string }) =>
    reported(options.logFile, async () => {
      const lines = await setupService(
        { ...options, account: options.account?.trim() || `NT SERVICE\\${options.name}` },
        windowsServiceManager(),
      );
      return lines.join('\n');
    }),
  );

program
  .command('service-wait')
  .description(
    'Windows: wait until the stopping service has stopped and its process has ended (the MSI runs this before removing the program)',
  )
  .option('--name <name>', 'service name', 'so-connector')
  .option('--log-file <file>', 'also append the outcome to this file')
  .action((options: { name: string; logFile?: string }) =>
    reported(options.logFile, async () => {
      // The program to wait for is this exe (the installed one the MSI runs); not node.exe run by hand.
      const image = /^node(\.exe)?$/i.test(path.basename(process.execPath)) ? undefined : process.execPath;
      const lines = await waitForServiceStop(
        { ...options, image },
        { manager: windowsServiceManager(), sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) },
      );
      return lines.join('\n');
    }),
  );

program
  .command('restore')
  .description('restore a validated backup: the database under a new name, the archive into a folder, or one file')
  .requiredOption('-c, --config <file>', 'configuration file (JSON)')
  .option('--run <id|latest>', 'the run to restore', 'latest')
  .option('--at <date>', 'the newest validated run at or before this date (2026-11-20 or 2026-11-20T14:00:00Z)')
  .option('--database-name <name>', 'restore the database backup as this (new) database')
  .option('--source-database <name>', 'which database of the run, when it backed up several')
  .option('--replace', 'overwrite an existing database of that name (asks for confirmation)')
  .option('--data-folder <dir>', "folder for the data files (default: the instance's default)")
  .option('--log-folder <dir>', "folder for the log file (default: the instance's default)")
  .option('--staging <dir>', 'where the .bak is downloaded (default: sql.stagingFolder); SQL Server must be able to read it')
  .option('--archive-to <dir>', 'restore the archive into this new or empty folder')
  .option(
    '--file <path>',
    'only this archive file or link ("SO_ARC/ANNA/offer.docx"); into --archive-to DIR (which may hold other files) or --into-live',
  )
  .option(
    '--file-bytes <base64>',
    'only the file or link whose "<root>/<path>" is exactly these bytes (for names that are not text; a --file that names several prints them)',
  )
  .option(
    '--into-live',
    'put the archive (or one --file) back into the live roots it came from, replacing files of the same name (asks for confirmation)',
  )
  .option('--yes', 'do not ask for confirmation')
  .option('--json', 'print the result as JSON')
  .action(async (options: RestoreCommandOptions & { json?: boolean }) => {
    const summary = await runRestore(options, CONNECTOR_VERSION);
    const lines = [`Restored run ${summary.runId} (taken ${summary.startedAt}).`];
    if (summary.database)
      lines.push(
        `Database ${summary.database.source} restored as ${summary.database.restoredAs}: ${summary.database.files.map((f) => `${f.logicalName} → ${f.to}`).join(', ')}.`,
      );
    const archive = summary.archive;
    if (archive) {
      lines.push(
        `Archive: ${archive.files} file(s), ${archive.bytes} bytes, verified, in ${archive.folder}${archive.links ? `; ${archive.links} link(s)` : ''}${archive.unchanged ? `; ${archive.unchanged} already there exactly (checked, left as they were)` : ''}.`,
      );
      if (archive.seeding)
        lines.push(
          `The archive was still being seeded when this backup ran (its backup window ended first): it holds ${archive.seeding.files} of ${archive.seeding.of} files, ${archive.seeding.bytes} of ${archive.seeding.bytesOf} bytes (${archive.seeding.percent} %, by bytes). ${archive.seeding.pendingFiles} file(s), ${archive.seeding.pendingBytes} bytes, were not yet sent at their current content: new ones are not restored, changed ones came back in their previous version; later runs go on sending them.`,
        );
      if (archive.renamed.length > 0)
        lines.push(
          `${archive.renamed.length} restored under another name (this file system cannot hold or tell apart the exact names):`,
          ...archive.renamed.slice(0, 50).map((p) => `  ${p.path} → ${p.restoredAs}: ${p.reason}`),
        );
      if (archive.failed.length > 0)
        lines.push(
          `${archive.failed.length} NOT restored (nothing partial was left; the others were):`,
          ...archive.failed.slice(0, 50).map((p) => `  ${p.path}: ${p.reason}`),
        );
      const more = Math.max(0, archive.renamed.length - 50) + Math.max(0, archive.failed.length - 50);
      if (more > 0) lines.push(`  … and ${more} more (--json lists them all)`);
      // Not every document came back exactly: a script must notice.
      if (archive.renamed.length > 0 || archive.failed.length > 0) process.exitCode = 1;
    }
    process.stdout.write(`${options.json ? JSON.stringify(summary, null, 2) : lines.join('\n')}\n`);
  });

program
  .command('run')
  .description('connect to the cloud and run backup jobs (what the service runs)')
  .requiredOption('-c, --config <file>', 'configuration file (JSON)')
  .action(async (options: { config: string }) => {
    await runConnector(options.config, CONNECTOR_VERSION);
  });

program.parseAsync().catch((error: unknown) => {
  const code = error instanceof SoBackupError ? error.code : 'UNEXPECTED';
  process.stderr.write(`so-connector: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(code === 'CONFIG_INVALID' || RESTORE_USAGE.has(code) ? 2 : code === 'ENROLMENT_REFUSED' ? 3 : 1);
});
