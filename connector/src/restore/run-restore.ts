import { hostname, userInfo } from 'node:os';
import { createInterface } from 'node:readline/promises';
import { pino } from 'pino';
import { loadConnectorConfig } from '../config';
import { ConnectorError } from '../errors';
import { loadIdentity } from '../identity';
import { ConnectorKeys } from '../key-rotation';
import { MssqlDatabaseServer } from '../sql';
import { loadBandwidthLimiter } from '../bandwidth';
import { storeOnRunCredentials } from '../store/run-credentials';
import { type RestoreConnection, requestRestore, restoreCredentialSource } from './request-restore';
import type { RestoreRequest } from '../../../protocol';
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
  if (options.at !== undefined && options.run !== 'latest')
    throw new ConnectorError('RESTORE_ARGUMENTS', 'give either --run ID or --at DATE, not both', { permanent: true });
  const at = options.at === undefined ? undefined : parseRestoreDate(options.at);
  const choices: RestoreChoices = {
    ...options,
    stagingFolder: options.staging ?? config.sql?.stagingFolder,
    liveRoots: config.archive?.roots ?? [],
  };
  await checkRestoreChoices(choices);
  if (options.replace)
    await confirm(`Overwrite the existing database "${options.databaseName}" with the backup?`, options.databaseName ?? '', options.yes);
  if (options.intoLive)
    await confirm(
      `Put the restored files back into the live archive (${choices.liveRoots.map((r) => `${r.name}: ${r.path}`).join(', ')}), replacing files of the same name?`,
      'overwrite',
      options.yes,
    );

  const keys = new ConnectorKeys(await loadIdentity(config.identityFile), config.identityFile, pino({ level: 'silent' }));
  const requestedBy = `${userInfo().username}@${hostname()}`;
  const wants = restoreWants(options);
  const connection = (): RestoreConnection => ({ endpoint: config.endpoint, authorization: keys.authorization(), connectorVersion });
  const grant = await requestRestore(connection(), {
    run: options.run === 'latest' ? 'latest' : options.run,
    at: options.run === 'latest' ? at : undefined,
    requestedBy,
    wants,
  });
  process.stderr.write(`Restoring run ${grant.runId} (taken ${grant.startedAt}, validated).\n`);
  const databaseServer = config.sql && options.databaseName ? new MssqlDatabaseServer(config.sql.connectionString) : undefined;
  try {
    // Downloads keep to the connector's bandwidth limit, as its backups do.
    const bandwidth = await loadBandwidthLimiter(config);
    bandwidth.follow();
    // The grant's read-only credentials last an hour and a download over a slow link outlives them: renewed for this
    // grant shortly before they expire, or when S3 says they have (ExpiredToken; RGW's AccessDenied near their end).
    const store = storeOnRunCredentials(grant.target, grant.credentials, restoreCredentialSource(connection, grant), { bandwidth });
    return await restoreRun({ store, databaseServer, grant, progress: progressPrinter() }, choices);
  } finally {
    await databaseServer?.close();
    process.stderr.write('\n');
  }
}

/**
 * The parts a restore needs from its run. "latest" means the newest run that kept every one
 * (another part may have failed in a newer run: a database validated, the archive not); a run
 * named by id that lacks one is refused by the cloud before anything changes.
 */
export function restoreWants(
  options: Pick<RestoreChoices, 'databaseName' | 'sourceDatabase' | 'archiveTo' | 'intoLive'>,
): RestoreRequest['wants'] {
  return {
    ...(options.databaseName ? (options.sourceDatabase ? { database: options.sourceDatabase } : { anyDatabase: true }) : {}),
    ...(options.archiveTo || options.intoLive ? { archive: true } : {}),
  };
}

/**
 * `--at`: a calendar date (the end of that day, UTC) or a date and time with its time zone
 * (ISO 8601: `2026-11-20T14:00:00Z`, `2026-11-20T15:00+01:00`). Every field is checked: a day
 * the month does not have (2026-02-30) is refused, not carried into the next month as
 * JavaScript's Date would; a time without a zone is refused rather than guessed.
 * @returns the instant as an ISO string (UTC)
 * @throws ConnectorError RESTORE_ARGUMENTS naming what is wrong
 */
export function parseRestoreDate(text: string): string {
  const refuse = (why: string) =>
    new ConnectorError(
      'RESTORE_ARGUMENTS',
      `--at "${text}" ${why}: give 2026-11-20 (the end of that day, UTC) or 2026-11-20T14:00:00Z (a time with its zone, Z for UTC or +01:00)`,
      { permanent: true },
    );
  const match = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?$/.exec(text.trim());
  if (!match) throw refuse('is not a date');
  const [, year, month, day, hour, minute, second, fraction, zone] = match;
  const [y, mo, d] = [Number(year), Number(month), Number(day)];
  if (mo < 1 || mo > 12) throw refuse(`has no month ${month}`);
  const daysInMonth = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  if (d < 1 || d > daysInMonth) throw refuse(`is not a day: ${year}-${month} has ${daysInMonth} days`);
  if (hour === undefined) return new Date(Date.UTC(y, mo - 1, d, 23, 59, 59, 999)).toISOString();
  if (zone === undefined) throw refuse('has a time but no time zone');
  if (Number(hour) > 23 || Number(minute) > 59 || Number(second ?? 0) > 59) throw refuse('is not a time of day');
  if (zone !== 'Z' && (Number(zone.slice(1, 3)) > 23 || Number(zone.slice(4)) > 59)) throw refuse(`has no time zone ${zone}`);
  const ms = Date.parse(`${year}-${month}-${day}T${hour}:${minute}:${second ?? '00'}${(fraction ?? '').slice(0, 4)}${zone}`);
  if (!Number.isFinite(ms)) throw refuse('is not a date');
  return new Date(ms).toISOString();
}

async function confirm(question: string, expected: string, yes: boolean | undefined): Promise<void> {
  if (yes) return;
  if (!process.stdin.isTTY)
    throw new ConnectorError('RESTORE_NOT_CONFIRMED', `${question} Confirm with --yes (there is no terminal to ask on)`, {
      permanent: true,
    });
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  const answer = await rl.question(`${question} Type "${expected}" to confirm: `);
  rl.close();
  if (answer.trim() !== expected)
    throw new ConnectorError('RESTORE_NOT_CONFIRMED', 'not confirmed; nothing was changed', { permanent: true });
}

/** A progress bar on a terminal; one line per phase otherwise (service logs, pipes). */
function progressPrinter(): (phase: string, percent?: number) => void {
  let last = '';
  return (phase, percent) => {
    if (process.stderr.isTTY) {
      const filled = Math.round(((percent ?? 0) / 100) * 30);
      process.stderr.write(
        `\r[${'#'.repeat(filled)}${'-'.repeat(30 - filled)}] ${percent === undefined ? '   ' : String(Math.round(percent)).padStart(3)}%  ${phase}\u001b[K`,
      );
    } else if (phase !== last) {
      process.stderr.write(`… ${phase}\n`);
    }
    last = phase;
  };
}
