import { Command, InvalidArgumentError, Option } from 'commander';
import { createInterface } from 'node:readline/promises';
import { cancelBackup, checkInWaitText, errorName, listRuns, runPhase, showRun, startBackup, waitForRun } from '../src/backups';
import { CliError, EXIT, explainAwsError, usageError } from '../src/cli-error';
import { type Fleet, openFleet } from '../src/fleet';
import { fleetStatus } from '../src/fleet-status';
import {
  ago,
  archiveProgressText,
  bytes,
  duration,
  failureText,
  plural,
  progressBar,
  rateText,
  table,
  when,
  whenExact,
} from '../src/render';
import { parseExpiry, shareRun } from '../src/share';
import { renderVerification, verifyBackupFiles } from '../src/verify-backup';
import {
  addTenant,
  connectorStates,
  newActivationCode,
  parseWindowOption,
  removeTenant,
  requireTenant,
  revokeKey,
  setTenantEnabled,
  tenantView,
  updateTenant,
  windowText,
  parsePresenceOption,
  stackPresence,
  type TenantChanges,
} from '../src/tenants';
import { type BandwidthSetting, describeBandwidth, runIdSchema, tenantIdSchema } from '../../protocol';
import { describeSeeding, type PresenceMode, type PresenceSettings } from '../../core';

/** A tenant's presence setting in one line: its own, or the stack's. */
const presenceText = (own: PresenceMode | undefined, stack: PresenceSettings | undefined) =>
  own ? `${own} (the tenant's)` : stack ? `${stack.defaultMode} (the stack's)` : 'always (a stack older than check-in)';

/** A connector's state in one line: "connected", "checks in every 60 min, last seen 12 min ago", "OFFLINE (…)" when overdue. */
const connectorText = (c: { online: boolean; resting?: boolean; state?: string } | undefined) => {
  if (!c) return 'offline';
  const state = c.state ?? (c.online ? 'connected' : 'offline');
  return c.online || c.resting || state.startsWith('offline') ? state : `OFFLINE: ${state}`;
};

/** A tenant's central bandwidth setting in one line. */
const bandwidthText = (setting: BandwidthSetting | undefined) =>
  setting === undefined ? "not set (the connector's configuration file)" : describeBandwidth(setting);

/**
 * so-backup: the operators' and support's command line. Every command prints a table for people
 * or, with --json, the same data as JSON; the exit code says what happened (see EXIT).
 */
const program = new Command('so-backup')
  .description('Operate so-backup: tenants, connectors, support backups, runs, download links, fleet status')
  .addOption(new Option('--local [dir]', 'use local mode (its data folder, default .local)').env('SO_BACKUP_LOCAL'))
  .option('--stack <name>', 'the CloudFormation stack to operate', process.env.SO_BACKUP_STACK ?? 'SoBackup')
  .option('--region <region>', 'AWS region (default: your AWS configuration)')
  .option('--outputs <file>', 'stack outputs from `cdk deploy --outputs-file` instead of asking CloudFormation')
  .option('--json', 'print JSON instead of tables')
  .showHelpAfterError()
  .exitOverride();

interface GlobalOptions {
  local?: string | boolean;
  stack: string;
  region?: string;
  outputs?: string;
  json?: boolean;
}

/** Opens the fleet, runs the command, prints its result (`json` picks what --json prints) and sets the exit code. */
async function act<T>(
  work: (fleet: Fleet) => Promise<T>,
  human: (result: T) => string,
  exitCode: (result: T) => number = () => EXIT.ok,
  json: (result: T) => unknown = (r) => r,
): Promise<void> {
  const options = program.opts<GlobalOptions>();
  const fleet = await openFleet({
    local: options.local === undefined ? undefined : options.local === true ? '.local' : String(options.local),
    stackName: options.stack,
    region: options.region,
    outputsFile: options.outputs,
  });
  try {
    const result = await work(fleet).catch((error: unknown) => {
      throw explainAwsError(error, 'talking to so-backup');
    });
    process.stdout.write(`${options.json ? JSON.stringify(json(result), null, 2) : human(result)}\n`);
    process.exitCode = exitCode(result);
  } finally {
    fleet.close();
  }
}

const wholeNumber = (label: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`${label} must be a whole number`);
  return n;
};

/** Asks the operator to type `expected` back; --yes skips it (and is required without a terminal). */
async function confirm(question: string, expected: string, yes: boolean | undefined): Promise<void> {
  if (yes) return;
  if (!process.stdin.isTTY) throw usageError(`${question} Confirm with --yes (there is no terminal to ask on)`);
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  const answer = await rl.question(`${question} Type "${expected}" to confirm: `);
  rl.close();
  if (answer.trim() !== expected) throw new CliError('not confirmed; nothing was changed', EXIT.usage);
}

// Ids are checked before anything is asked of the cloud: an id that cannot exist (empty, too long,
// other characters) is a usage error naming the rule (exit 2), not a DynamoDB ValidationException.
const ID_ARGUMENTS: Record<string, { safeParse(value: unknown): { success: boolean; error?: { issues: Array<{ message: string }> } } }> = {
  tenant: tenantIdSchema,
  run: runIdSchema,
};
program.hook('preAction', (_program, action) => {
  action.registeredArguments.forEach((argument, i) => {
    const schema = ID_ARGUMENTS[argument.name()];
    const value: unknown = action.processedArgs[i];
    if (!schema || typeof value !== 'string') return;
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      const shown = value.length > 80 ? `${value.slice(0, 80)}… (${value.length} characters)` : value;
      throw usageError(`${argument.name()} id "${shown}" is not valid: ${parsed.error?.issues[0]?.message ?? 'see so-backup --help'}`);
    }
  });
});

// ---- tenants ----------------------------------------------------------------------------------
const tenants = program.command('tenants').description('enrol and manage tenants (customers)');

const enrolmentText = (e: { tenantId: string; activationCode: string; expiresAt: string; enrolCommand: string }) =>
  [
    `Activation code for ${e.tenantId}: ${e.activationCode}`,
    `Valid once, until ${e.expiresAt}. Give it to the customer's IT with this line (paths and SQL login are theirs):`,
    '',
    `  ${e.enrolCommand}`,
  ].join('\n');

tenants
  .command('add <tenant>')
  .description('create a tenant and print its one-time activation code and the so-connector enrol line')
  .requiredOption('--name <name>', "the customer's name")
  .option('--online', 'a SuperOffice Online customer: support takes backups on request')
  .option(
    '--backup-time <HH:MM>',
    "time of the daily backup (schedule time zone, on the quarter hour); default: a quarter hour of the stack's backup window",
  )
  .option('--backup-hour <hour>', 'hour of the daily backup (0-23, schedule time zone), at :00', wholeNumber('--backup-hour'))
  .action((tenantId: string, o: { name: string; online?: boolean; backupHour?: number; backupTime?: string }) =>
    act(
      (fleet) =>
        addTenant(fleet, { tenantId, name: o.name, online: o.online === true, backupHour: o.backupHour, backupTime: o.backupTime }),
      (r) => `Tenant ${r.tenant.tenantId} (${r.tenant.displayName}${r.tenant.online ? ', Online' : ''}) created.\n${enrolmentText(r)}`,
    ),
  );

tenants
  .command('code <tenant>')
  .description('issue a new one-time activation code (the previous one stops working)')
  .action((tenantId: string) => act((fleet) => newActivationCode(fleet, tenantId), enrolmentText));

tenants
  .command('set <tenant>')
  .description("change a tenant's name, Online flag, backup time, backup window, bandwidth limit or presence")
  .option('--name <name>', "the customer's name")
  .option('--online', 'a SuperOffice Online customer (support takes backups on request)')
  .option('--no-online', 'not an Online customer')
  .option(
    '--backup-time <HH:MM>',
    'time of the daily backup (schedule time zone, on the quarter hour), or "default" (the stack\'s backup window)',
  )
  .option('--backup-hour <hour>', 'hour of the daily backup (0-23, at :00), or "default"')
  .option(
    '--bandwidth <limit>',
    'the connector\'s bandwidth limit: a rate ("20 Mbit/s", "5 MB/s"), JSON with "default" and a "schedule" of {days, from, to, limit} in the server\'s local time, or "default" (the connector\'s configuration file alone); the stricter of this and the file\'s applies',
  )
  .option(
    '--backup-window <duration>',
    'how long after a run starts its archive may go on ("5h", "90m", "1h30m", "45s"); the databases always complete, the archive goes on the next night from where it stopped; "none" (until done) or "default" (the stack\'s)',
  )
  .option(
    '--presence <mode>',
    'when its connector stays connected: "check-in" (connects for its backups, drills and every check-in, then leaves: the cheap default), "always" (a support backup starts at once), or "default" (the stack\'s)',
  )
  .action((tenantId: string, o: TenantChanges) => {
    if (o.presence !== undefined) parsePresenceOption(o.presence);
    // A mistake in the window is named before the cloud is asked.
    // Its length is checked against the stack's limit once the stack outputs are read (updateTenant): one message.
    if (o.backupWindow !== undefined) parseWindowOption('--backup-window', o.backupWindow, { allowDefault: true, syntaxOnly: true });
    return act(
      async (fleet) => ({
        ...(await updateTenant(fleet, tenantId, o)),
        stackWindowSeconds: fleet.outputs.RunWindowSeconds,
        runTimeoutSeconds: fleet.outputs.RunTimeoutSeconds,
        stackPresence: stackPresence(fleet),
      }),
      (t) =>
        `Tenant ${t.tenantId}: ${t.name}${t.online ? ', Online' : ''}, daily backup at ${t.backupTime ?? "a quarter hour of the stack's backup window"}, backup window ${windowText(t.backupWindowSeconds, t.stackWindowSeconds, t.runTimeoutSeconds)}, bandwidth ${bandwidthText(t.bandwidth)}, presence ${presenceText(t.presence, t.stackPresence)}.` +
        (t.connectorsTold === undefined
          ? ''
          : t.connectorsTold > 0
            ? ' The connector has it now.'
            : ' The connector is not connected: it gets it when it next connects.'),
    );
  });

tenants
  .command('list')
  .description('every tenant: enabled, Online, last validated backup')
  .action(() =>
    act(
      async (fleet) => (await fleet.tenants.list()).map(tenantView),
      (rows) =>
        table(rows, [
          { header: 'TENANT', value: (t) => t.tenantId },
          { header: 'NAME', value: (t) => t.name },
          { header: 'ENABLED', value: (t) => (t.enabled ? 'yes' : 'no') },
          { header: 'ONLINE', value: (t) => (t.online ? 'yes' : 'no') },
          { header: 'LAST VALIDATED BACKUP', value: (t) => when(t.lastSuccessAt) },
        ]),
    ),
  );

tenants
  .command('show <tenant>')
  .description('one tenant: settings, connector keys, connector state, latest runs')
  .action((tenantId: string) =>
    act(
      async (fleet) => {
        const tenant = await requireTenant(fleet, tenantId);
        const [connector] = await connectorStates(fleet, [tenant]);
        return {
          ...tenantView(tenant),
          stackWindowSeconds: fleet.outputs.RunWindowSeconds,
          runTimeoutSeconds: fleet.outputs.RunTimeoutSeconds,
          stackPresence: stackPresence(fleet),
          connector,
          latestRuns: await listRuns(fleet, tenantId, 5),
        };
      },
      (t) =>
        [
          `${t.tenantId}  ${t.name}${t.online ? '  (Online)' : ''}${t.enabled ? '' : '  DISABLED'}`,
          `daily backup at: ${t.backupTime ?? "the stack's backup window"}    bandwidth: ${bandwidthText(t.bandwidth)}    created: ${when(t.createdAt)}    last validated backup: ${when(t.lastSuccessAt)}`,
          `backup window: ${windowText(t.backupWindowSeconds, t.stackWindowSeconds, t.runTimeoutSeconds)}    archive: ${t.seeding ? `${describeSeeding(t.seeding, new Date())} (since ${when(t.seeding.startedAt)}, last progress ${when(t.seeding.lastProgressAt)})` : 'complete'}`,
          `connector: ${connectorText(t.connector)}${t.connector?.online ? `, version ${t.connector.connectorVersion ?? '?'}, connected ${when(t.connector.connectedAt)}` : t.connector?.lastSeen ? ` (${when(t.connector.lastSeen)})` : ''}    presence: ${presenceText(t.presence, t.stackPresence)}`,
          `keys: ${t.connectorKeys.map((k) => `${k.keyId} (${k.status})`).join(', ') || 'none: not enrolled yet'}`,
          `restore drill: ${t.lastDrill ? `${drillText(t.lastDrill)}, run ${t.lastDrill.runId}: ${t.lastDrill.detail}` : 'none yet'}`,
          '',
          table(t.latestRuns, [
            { header: 'RUN', value: (r) => r.runId },
            { header: 'STATUS', value: (r) => r.status },
            { header: 'BY', value: (r) => r.requestedBy },
          ]),
        ].join('\n'),
    ),
  );

for (const [name, enabled] of [
  ['enable', true],
  ['disable', false],
] as const) {
  tenants
    .command(`${name} <tenant>`)
    .description(enabled ? 'back the tenant up again' : "stop backing the tenant up and close its connector's connections")
    .action((tenantId: string) =>
      act(
        (fleet) => setTenantEnabled(fleet, tenantId, enabled),
        (r) => `Tenant ${r.tenantId} ${enabled ? 'enabled' : `disabled; ${r.connectionsClosed} connection(s) closed`}.`,
      ),
    );
}

tenants
  .command('revoke-key <tenant> <keyId>')
  .description('remove a connector key and close every open session that authenticated with it (asks to confirm)')
  .option('--yes', 'do not ask for confirmation')
  .action(async (tenantId: string, keyId: string, o: { yes?: boolean }) => {
    await confirm(
      `Revoke key ${keyId} of tenant ${tenantId}? A connector using it is disconnected and can no longer connect.`,
      keyId,
      o.yes,
    );
    await act(
      (fleet) => revokeKey(fleet, tenantId, keyId),
      (r) =>
        `Key ${r.keyId} of ${r.tenantId} revoked; ${r.connectionsClosed} open session(s) closed.${
          r.keysLeft === 0
            ? ` The tenant has no key left: its connector must enrol again with a new code (\`so-backup tenants code ${r.tenantId}\`).`
            : ''
        }`,
    );
  });

tenants
  .command('remove <tenant>')
  .description('remove the tenant (its backups stay in S3 under the retention rules)')
  .option('--yes', 'do not ask for confirmation')
  .action(async (tenantId: string, o: { yes?: boolean }) => {
    await confirm(
      `Remove tenant ${tenantId}? Its connector can no longer connect; its backups stay in S3 until retention expires them.`,
      tenantId,
      o.yes,
    );
    await act(
      (fleet) => removeTenant(fleet, tenantId),
      (r) => `Tenant ${r.tenantId} removed; ${r.connectionsClosed} connection(s) closed. Its backups stay in S3 under the retention rules.`,
    );
  });

// ---- connectors -------------------------------------------------------------------------------
program
  .command('connectors')
  .description('per tenant: connector online or offline, its version, when last seen')
  .action(() =>
    act(
      async (fleet) => connectorStates(fleet, await fleet.tenants.list()),
      (rows) =>
        table(rows, [
          { header: 'TENANT', value: (c) => c.tenantId },
          { header: 'CONNECTOR', value: (c) => (c.online ? 'online' : c.resting ? 'resting' : 'offline') },
          { header: 'PRESENCE', value: (c) => c.state },
          { header: 'VERSION', value: (c) => c.connectorVersion ?? '-' },
          { header: 'CONNECTED', value: (c) => when(c.connectedAt) },
          { header: 'LAST SEEN', value: (c) => when(c.lastSeen) },
        ]),
    ),
  );

// ---- backup -----------------------------------------------------------------------------------
program
  .command('backup <tenant>')
  .description('take a backup now (support for Online customers, or an operator), recorded with who and why')
  .option('--reason <text>', 'why the backup is taken (recorded with the run; required)')
  .addOption(
    new Option('--trigger <trigger>', 'record as support or operator (default: support for Online tenants)').choices([
      'support',
      'operator',
    ]),
  )
  .option(
    '--window <duration>',
    'this run\'s backup window: how long its archive may go on ("5h", "90m", "45s"), or "none"; default: the tenant\'s',
  )
  .option('--wait', 'follow the backup with a progress bar until it is validated (Ctrl-C detaches, the backup goes on)')
  .option('--cancel', "cancel the tenant's running backup instead (asks for confirmation)")
  .option('--yes', 'with --cancel: do not ask for confirmation')
  .action(
    async (
      tenantId: string,
      o: { reason?: string; trigger?: 'support' | 'operator'; window?: string; wait?: boolean; cancel?: boolean; yes?: boolean },
    ) => {
      if (o.cancel) {
        await confirm(`Cancel the running backup of ${tenantId}?`, tenantId, o.yes);
        return act(
          (fleet) => cancelBackup(fleet, tenantId, o.reason ?? ''),
          (r) =>
            `Backup ${r.runId} cancelled by ${r.cancelledBy}; ${r.connectorsTold ? 'the connector was told to stop' : 'no connector is connected to tell'}.`,
        );
      }
      // A mistake in the window is named before the cloud is asked.
      if (o.window !== undefined) parseWindowOption('--window', o.window, { syntaxOnly: true });
      if (o.reason === undefined)
        throw usageError(
          '--reason is required: say why this backup is taken, e.g. --reason "customer asked before upgrading, ticket 4711"',
        );
      return act(
        async (fleet) => {
          const started = await startBackup(fleet, tenantId, { reason: o.reason!, trigger: o.trigger, window: o.window });
          if (!o.wait) return { ...started, status: 'RUNNING' as string, detached: false, validated: false };
          const human = !program.opts<GlobalOptions>().json && process.stderr.isTTY;
          process.stderr.write(
            `Backup ${started.runId} started (${started.trigger}, by ${started.requestedBy}). Ctrl-C detaches; the backup goes on.\n`,
          );
          if (started.waitsForCheckIn) process.stderr.write(`${checkInWaitText(started.waitsForCheckIn)}\n`);
          const detach = new AbortController();
          const onSigint = () => detach.abort();
          process.once('SIGINT', onSigint);
          let lastPhase = '';
          const retrySeconds = stackPresence(fleet)?.offlineRetrySeconds;
          const outcome = await waitForRun(fleet, started, {
            detach: detach.signal,
            onProgress: (run) => {
              const phase = runPhase(run, retrySeconds);
              if (human) process.stderr.write(`\r${progressBar(run?.progress?.percent, phase + rateText(run?.progress))}\u001b[K`);
              else if (phase !== lastPhase) process.stderr.write(`… ${phase}\n`);
              lastPhase = phase;
            },
          });
          process.removeListener('SIGINT', onSigint);
          if (human) process.stderr.write('\n');
          if (outcome.detached) {
            process.stderr.write(
              `Detached: the backup ${started.runId} is NOT cancelled and goes on. Follow it with \`so-backup run show ${started.runId}\`; stop it with \`so-backup backup ${tenantId} --cancel\`.\n`,
            );
            return { ...started, status: outcome.run?.status ?? 'RUNNING', detached: true, validated: false };
          }
          const run = outcome.run;
          return {
            ...started,
            status: run.status,
            detached: false,
            validated: run.validation?.ok === true,
            summary: run.summary,
            failure: run.failure,
            archiveProgress: run.archiveProgress,
            seeding: run.archiveProgress?.pendingFiles ? (await fleet.tenants.get(tenantId))?.seeding : undefined,
          };
        },
        (r) => {
          if (r.detached || r.status === 'RUNNING')
            return `Backup ${r.runId} is running. Follow it: so-backup run show ${r.runId}${r.waitsForCheckIn && !r.detached ? `\n${checkInWaitText(r.waitsForCheckIn)}` : ''}`;
          const s = 'summary' in r ? r.summary : undefined;
          if (r.status.startsWith('SUCCEEDED')) {
            const progress = 'archiveProgress' in r ? r.archiveProgress : undefined;
            const seeding = 'seeding' in r ? r.seeding : undefined;
            return `Backup ${r.runId} ${r.status}, validated: ${r.validated ? 'yes' : 'no'}. ${plural(Number(s?.databases ?? 0), 'database')}, ${bytes(Number(s?.databaseBytes ?? 0))}; archive ${plural(Number(s?.archiveFiles ?? 0), 'file')}, ${Number(s?.uploadedFiles ?? 0).toLocaleString('en-US')} sent; took ${duration(Number(s?.durationSeconds))}.${
              progress?.pendingFiles
                ? `\nArchive: ${archiveProgressText(progress)}${seeding ? `; ${describeSeeding(seeding, new Date())}` : ''}.`
                : ''
            }`;
          }
          const failure = 'failure' in r ? r.failure : undefined;
          return `Backup ${r.runId} ${r.status}: ${failure ? failureText(failure) : 'see so-backup run show'}`;
        },
        (r) => (r.detached ? EXIT.detached : r.status === 'FAILED' ? EXIT.failed : EXIT.ok),
      );
    },
  );

// ---- runs -------------------------------------------------------------------------------------
/** "passed 2d 3h ago" / "FAILED 5h ago" / "-". */
function drillText(drill: { at: string; ok: boolean } | undefined): string {
  return drill ? `${drill.ok ? 'passed' : 'FAILED'} ${duration((Date.now() - Date.parse(drill.at)) / 1000)} ago` : '-';
}

program
  .command('runs <tenant>')
  .description("a tenant's runs, newest first: started, trigger, who, status, duration, bytes, validated")
  .option('--limit <n>', 'how many', wholeNumber('--limit'), 20)
  .action((tenantId: string, o: { limit: number }) =>
    act(
      async (fleet) => ({
        runs: await listRuns(fleet, tenantId, o.limit),
        lastDrill: (await fleet.tenants.get(tenantId))?.lastDrill,
      }),
      ({ runs, lastDrill }) =>
        `${table(runs, [
          { header: 'RUN', value: (r) => r.runId },
          { header: 'STARTED', value: (r) => when(r.startedAt) },
          { header: 'TRIGGER', value: (r) => r.trigger },
          { header: 'BY', value: (r) => r.requestedBy },
          { header: 'STATUS', value: (r) => r.status },
          { header: 'TOOK', value: (r) => duration(r.durationSeconds), right: true },
          { header: 'SENT', value: (r) => bytes(r.uploadedBytes), right: true },
          { header: 'VALIDATED', value: (r) => (r.validated ? 'yes' : 'no') },
          { header: 'KEPT', value: (r) => r.kept },
        ])}\nLast restore drill: ${lastDrill ? `${drillText(lastDrill)} (run ${lastDrill.runId}): ${lastDrill.detail}` : 'none yet'}`,
      () => EXIT.ok,
      (r) => r.runs,
    ),
  );

program
  .command('run')
  .description('one run')
  .command('show <run>')
  .description("the run's steps, validation report, artifacts with sizes and versions, who and why, shares")
  .action((runId: string) =>
    act(
      (fleet) => showRun(fleet, runId),
      (r) =>
        [
          `${r.runId}: ${r.status}${r.validated ? ', validated' : ''}`,
          `trigger ${r.trigger}, by ${r.requestedBy}${r.reason ? `, because: ${r.reason}` : ''}`,
          `started ${when(r.startedAt)}, took ${duration(r.durationSeconds)}, backup window ${r.windowEndsAt ? `until ${whenExact(r.windowEndsAt)}` : 'none'}${r.failure ? `\nfailed: ${failureText(r.failure)}` : ''}`,
          ...(r.archiveProgress ? [`archive: ${archiveProgressText(r.archiveProgress)}`] : []),
          ...(r.seeding ? [`tenant's archive: ${r.seeding}`] : []),
          ...(r.status === 'RUNNING' && r.progress
            ? [
                `now: ${r.phase ?? r.progress.phase}${r.progress.percent === undefined ? '' : ` ${r.progress.percent.toFixed(0)} %`}${rateText(r.progress)}, reported ${when(r.progress.at)}`,
              ]
            : r.status === 'RUNNING' && r.phase
              ? [`now: ${r.phase}`]
              : []),
          '',
          r.historyKept ? 'Steps' : "Steps (Step Functions no longer keeps this execution's history)",
          table(r.steps, [
            { header: 'STEP', value: (s) => s.name },
            { header: 'AT', value: (s) => s.enteredAt.slice(11, 19) },
            { header: 'TOOK', value: (s) => duration(s.seconds), right: true },
            // The error's name only: the whole reason is printed once, above ("failed: …").
            { header: 'OUTCOME', value: (s) => s.outcome + (s.error ? ` (${errorName(s.error)})` : '') },
          ]),
          '',
          `Validation: ${r.validation ? `${r.validation.ok ? 'passed' : 'FAILED'}, ${r.validation.checks} checks${r.validation.problems.length ? `\n  ${r.validation.problems.join('\n  ')}` : ''}` : 'not done'}`,
          ...(r.parts.length
            ? [
                '',
                'Parts',
                table(r.parts, [
                  { header: 'PART', value: (p) => `${p.kind} ${p.name}` },
                  {
                    header: 'OUTCOME',
                    value: (p) =>
                      (p.outcome === 'kept' ? 'kept (validated)' : p.outcome.toUpperCase()) +
                      (p.carriedFrom ? `; last good kept: ${p.carriedFrom}` : ''),
                  },
                  { header: 'WHY', value: (p) => (p.detail ?? '').slice(0, 200) },
                ]),
              ]
            : []),
          ...(r.actions.length
            ? [
                '',
                'ACTION NEEDED (the backup cannot be restored after a server loss until this is done)',
                ...r.actions.map((a) => `  ${a}`),
              ]
            : []),
          ...(r.notes.length ? ['', 'Notes', ...r.notes.map((n) => `  ${n}`)] : []),
          '',
          r.artifactsAre === 'kept' ? 'Artifacts (validated, in the daily tier)' : 'Artifacts (as uploaded to staging; not kept)',
          table(r.artifacts, [
            { header: 'WHAT', value: (a) => `${a.kind} ${a.name}` },
            { header: 'KEY', value: (a) => a.key },
            { header: 'VERSION', value: (a) => a.versionId },
            { header: 'SIZE', value: (a) => bytes(a.size), right: true },
          ]),
          ...(r.tierCopies.length ? ['', `Copied to: ${r.tierCopies.map((c) => c.tier).join(', ')}`] : []),
          '',
          'Restores',
          table(r.restores, [
            { header: 'BY', value: (s) => s.by },
            { header: 'AT', value: (s) => when(s.at) },
          ]),
          '',
          'Shares',
          table(r.shares, [
            { header: 'BY', value: (s) => s.by },
            { header: 'AT', value: (s) => when(s.at) },
            { header: 'EXPIRES', value: (s) => when(s.expiresAt) },
            { header: 'REASON', value: (s) => s.reason ?? '-' },
          ]),
        ].join('\n'),
    ),
  );

// ---- share ------------------------------------------------------------------------------------
program
  .command('share <run>')
  .description("time-limited download links to a validated run's database backups, recorded with the run")
  .requiredOption('--expires <duration>', 'how long the links work: 90m, 72h, 7d (at most 7 days)')
  .option('--reason <text>', 'why (recorded)')
  .action((runId: string, o: { expires: string; reason?: string }) => {
    // A bad --expires is refused before anything is asked of the cloud.
    parseExpiry(o.expires);
    return act(
      (fleet) => shareRun(fleet, runId, o),
      (r) =>
        [
          `Links valid until ${r.expiresAt} (recorded: shared by ${r.by}${r.reason ? `, ${r.reason}` : ''}):`,
          ...r.links.map((l) => `\n${l.name} (${bytes(l.size)}, SHA-256 ${l.sha256}):\n${l.url}`),
        ].join('\n'),
    );
  });

// ---- status -----------------------------------------------------------------------------------
program
  .command('status')
  .description(
    'the fleet, worst first: age of the last validated backup, stale flag, connector, an archive being seeded over several nights, last failure or action needed (a TDE certificate never backed up)',
  )
  .option('--stale-after <hours>', 'a tenant without a validated backup for this long is stale', wholeNumber('--stale-after'), 26)
  .action((o: { staleAfter: number }) =>
    act(
      async (fleet) => {
        const all = await fleet.tenants.list(true);
        const [connectors, latest] = await Promise.all([
          connectorStates(fleet, all),
          // The latest finished run: one running now says nothing yet, and must not hide the last failure or action.
          Promise.all(
            all.map(async (t) => [t.tenantId, (await fleet.runs.forTenant(t.tenantId, 5)).find((r) => r.status !== 'RUNNING')] as const),
          ),
        ]);
        return fleetStatus(all, connectors, new Map(latest), new Date(), o.staleAfter);
      },
      (rows) =>
        table(rows, [
          { header: 'TENANT', value: (t) => t.tenantId },
          { header: 'HEALTH', value: (t) => t.health },
          {
            header: 'LAST BACKUP',
            value: (t) => ago(t.lastSuccessAt === undefined ? undefined : (Date.now() - Date.parse(t.lastSuccessAt)) / 1000),
            right: true,
          },
          { header: 'STALE', value: (t) => (t.stale ? 'STALE' : '') },
          {
            header: 'CONNECTOR',
            value: (t) => connectorText({ online: t.connector === 'online', resting: t.connector === 'resting', state: t.connectorState }),
          },
          { header: 'RESTORE DRILL', value: (t) => drillText(t.lastDrill) },
          { header: 'ARCHIVE', value: (t) => t.seeding ?? '' },
          { header: 'LAST FAILURE / ACTION NEEDED', value: (t) => (t.lastFailure ?? t.actions?.join(' | ') ?? '').slice(0, 80) },
        ]),
      (rows) => (rows.some((r) => r.health !== 'ok') ? EXIT.failed : EXIT.ok),
    ),
  );

// ---- verify-backup ----------------------------------------------------------------------------
program
  .command('verify-backup <files...>')
  .description(
    'check a downloaded SQL Server backup without SQL Server: what it holds, and whether it is a complete, readable full backup (several files: the stripes of one backup)',
  )
  .option('--database <name>', 'the database it must be a backup of')
  .option(
    '--quick',
    'read only what the validator reads (the structure, the start, the end and a sample of the middle) instead of every byte',
  )
  .action(async (files: string[], o: { database?: string; quick?: boolean }) => {
    const result = await verifyBackupFiles(files, o);
    process.stdout.write(`${program.opts<GlobalOptions>().json ? JSON.stringify(result, null, 2) : renderVerification(result)}\n`);
    process.exitCode = result.verdict.ok ? EXIT.ok : EXIT.failed;
  });

program.parseAsync(process.argv).catch((error: unknown) => {
  const e = error as { code?: string; exitCode?: number };
  if (typeof e.code === 'string' && e.code.startsWith('commander.')) {
    // commander printed the message (or the help) already.
    process.exitCode = e.code === 'commander.helpDisplayed' || e.code === 'commander.version' ? EXIT.ok : EXIT.usage;
    return;
  }
  const failure = error instanceof CliError ? error : explainAwsError(error, 'the command');
  process.stderr.write(`so-backup: ${failure.message}\n`);
  process.exitCode = failure.exitCode;
});
