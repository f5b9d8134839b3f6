import { hostname, userInfo } from 'node:os';
import { createInterface } from 'node:readline/promises';
import { pino } from 'pino';
import { loadConnectorConfig } from '../config';
import { ConnectorError } from '../errors';
import { loadIdentity } from '../identity';
import { ConnectorKeys } from '../key-rotation';
import { MssqlDatabaseServer } from '../sql';
import { S3ObjectStore } from '../store';
import { renewingCredentials, requestRestore } from './request-restore';
import { checkRestoreChoices, type RestoreChoices, type RestoreSummary, restoreRun } from './restore-run';

export interface RestoreCommandOptions extends Omit<RestoreChoices, 'liveRoots' | 'stagingFolder'> {
  config: string;
  run: string;
  at?: string;
  staging?: string;
  yes?: boolean;
}

/**
 * `so-connector restore`: checks the choices, asks before overwriting anything, gets the run and
 * read-only credentials from the cloud, and restores. Progress goes to stderr.
 */
export async function runRestore(options: RestoreCommandOptions, connectorVersion: string): Promise<RestoreSummary> {
  const config = loadConnectorConfig(options.config);
  if (options.at !== undefined && options.run !== 'latest') throw new ConnectorError('RESTORE_ARGUMENTS', 'give either --run ID or --at DATE, not both', { permanent: true });
  const at = options.at === undefined ? undefined : parseDate(options.at);
  const choices: RestoreChoices = {
    ...options,
    stagingFolder: options.staging ?? config.sql?.stagingFolder,
    liveRoots: config.archive?.roots ?? [],
  };
  await checkRestoreChoices(choices);
  if (options.replace) await confirm(`Overwrite the existing database "${options.databaseName}" with the backup?`, options.databaseName ?? '', options.yes);
  if (options.intoLive) await confirm(`Put the restored files back into the live archive (${choices.liveRoots.map((r) => `${r.name}: ${r.path}`).join(', ')}), replacing files of the same name?`, 'overwrite', options.yes);

  const keys = new ConnectorKeys(await loadIdentity(config.identityFile), config.identityFile, pino({ level: 'silent' }));
  const requestedBy = `${userInfo().username}@${hostname()}`;
  // "latest" means the newest run that kept what this restore needs (another part may have failed in a newer run).
  const wants = { ...(options.databaseName ? (options.sourceDatabase ? { database: options.sourceDatabase } : { anyDatabase: true }) : {}), ...(options.archiveTo ? { archive: true } : {}) };
  const ask = (run: string) => requestRestore({ endpoint: config.endpoint, authorization: keys.authorization(), connectorVersion }, { run, at: run === 'latest' ? at : undefined, requestedBy, wants });
  const grant = await ask(options.run === 'latest' ? 'latest' : options.run);
  // The grant's read-only credentials last an hour: a long download asks for the same run again before they run out.
  const provider = renewingCredentials(grant.credentials, () => ask(grant.runId));
  process.stderr.write(`Restoring run ${grant.runId} (taken ${grant.startedAt}, validated).\n`);
  const databaseServer = config.sql && options.databaseName ? new MssqlDatabaseServer(config.sql.connectionString) : undefined;
  try {
    return await restoreRun({ store: new S3ObjectStore(grant.target, provider), databaseServer, grant, progress: progressPrinter() }, choices);
  } finally {
    await databaseServer?.close();
    process.stderr.write('\n');
  }
}

function parseDate(text: string): string {
  const ms = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T23:59:59.999Z` : text);
  if (!Number.isFinite(ms)) throw new ConnectorError('RESTORE_ARGUMENTS', `--at "${text}" is not a date: give 2026-11-20 (the end of that day, UTC) or 2026-11-20T14:00:00Z`, { permanent: true });
  return new Date(ms).toISOString();
}

async function confirm(question: string, expected: string, yes: boolean | undefined): Promise<void> {
  if (yes) return;
  if (!process.stdin.isTTY) throw new ConnectorError('RESTORE_NOT_CONFIRMED', `${question} Confirm with --yes (there is no terminal to ask on)`, { permanent: true });
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  const answer = await rl.question(`${question} Type "${expected}" to confirm: `);
  rl.close();
  if (answer.trim() !== expected) throw new ConnectorError('RESTORE_NOT_CONFIRMED', 'not confirmed; nothing was changed', { permanent: true });
}

/** A progress bar on a terminal; one line per phase otherwise (service logs, pipes). */
function progressPrinter(): (phase: string, percent?: number) => void {
  let last = '';
  return (phase, percent) => {
    if (process.stderr.isTTY) {
      const filled = Math.round(((percent ?? 0) / 100) * 30);
      process.stderr.write(`\r[${'#'.repeat(filled)}${'-'.repeat(30 - filled)}] ${percent === undefined ? '   ' : String(Math.round(percent)).padStart(3)}%  ${phase}\u001b[K`);
    } else if (phase !== last) {
      process.stderr.write(`… ${phase}\n`);
    }
    last = phase;
  };
}
