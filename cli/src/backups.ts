import { DescribeExecutionCommand, GetExecutionHistoryCommand, type HistoryEvent } from '@aws-sdk/client-sfn';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { MESSAGE_BUDGET, type Manifest, parseManifest } from '../../protocol';
import {
  awsErrorKind,
  cancelRun,
  describeSeeding,
  restorableManifest,
  type RunRecord,
  runExecutionArn,
  type RunTrigger,
  startRun,
  checkInOverdue,
  describePresence,
  expectedCheckIn,
  nextBackupAt,
  presenceMode,
} from '../../core';
import { CliError, EXIT, explainCoreError, notFound, usageError } from './cli-error';
import type { Fleet } from './fleet';
import { duration, plural } from './render';
import { parseWindowOption, requireTenant, stackPresence } from './tenants';

/** A reason must say something: it is what the run log and the customer see. */
const MIN_REASON = 5;

export interface StartedBackup {
  runId: string;
  executionArn: string;
  tenantId: string;
  trigger: RunTrigger;
  requestedBy: string;
  reason: string;
  /**
   * The connector is resting between check-ins (core/presence.ts): the run starts when it next
   * checks in — expected between `earliest` and `latest` (ISO 8601) — at BackupRun's next retry
   * after that. Absent when a connector is connected, or is offline (overdue) or always connected.
   */
  waitsForCheckIn?: { state: string; earliest: string; latest: string; retrySeconds: number };
}

/**
 * Starts a BackupRun for one tenant outside the schedule: trigger "support" for an Online
 * tenant, "operator" otherwise (or as given), with the caller recorded as requestedBy.
 */
export async function startBackup(
  fleet: Fleet,
  tenantId: string,
  options: { reason: string; trigger?: 'support' | 'operator'; window?: string; now?: Date },
): Promise<StartedBackup> {
  const reason = options.reason.trim();
  if (reason.length < MIN_REASON)
    throw usageError(
      `--reason must say why (at least ${MIN_REASON} characters), e.g. --reason "customer asked before upgrading, ticket 4711"`,
    );
  if (reason.length > 1000) throw usageError('--reason is limited to 1,000 characters');
  const windowSeconds =
    options.window === undefined
      ? undefined
      : (parseWindowOption('--window', options.window, { runTimeoutSeconds: fleet.outputs.RunTimeoutSeconds }) ?? undefined);
  const tenant = await requireTenant(fleet, tenantId);
  const trigger = options.trigger ?? (tenant.online ? 'support' : 'operator');
  const requestedBy = await fleet.caller();
  const started = await startRun(
    fleet,
    { tenantId, trigger, requestedBy, reason, ...(windowSeconds === undefined ? {} : { windowSeconds }) },
    options.now,
  ).catch((error: unknown) => {
    throw explainCoreError(error, tenantId);
  });
  const waitsForCheckIn = await checkInWait(fleet, tenant, options.now ?? new Date());
  return { ...started, tenantId, trigger, requestedBy, reason, ...(waitsForCheckIn ? { waitsForCheckIn } : {}) };
}

/** When a resting check-in connector is expected (StartedBackup.waitsForCheckIn); undefined when it is connected, overdue or always connected. */
async function checkInWait(
  fleet: Fleet,
  tenant: Awaited<ReturnType<typeof requireTenant>>,
  now: Date,
): Promise<StartedBackup['waitsForCheckIn']> {
  const settings = stackPresence(fleet);
  if (!settings || presenceMode(tenant, settings) !== 'check-in') return undefined;
  if ((await fleet.connections.forTenant(tenant.tenantId)).length > 0) return undefined;
  if (checkInOverdue('check-in', settings.checkInSeconds, tenant.lastDisconnectedAt, now)) return undefined;
  const expected = expectedCheckIn(settings.checkInSeconds, tenant.lastDisconnectedAt, nextBackupAt(tenant, settings.schedule, now));
  if (!expected) return undefined;
  return {
    state: describePresence('check-in', settings.checkInSeconds, { lastSeen: tenant.lastDisconnectedAt }, now),
    // A check-in already due (a late one) is expected now.
    earliest: new Date(Math.max(expected.earliest, now.getTime())).toISOString(),
    latest: new Date(Math.max(expected.latest, now.getTime())).toISOString(),
    retrySeconds: settings.offlineRetrySeconds,
  };
}

/**
 * What `so-backup backup` says of a run whose connector rests between check-ins: "The connector
 * checks in every 60 min, last seen 12 min ago: the backup starts at its next check-in, expected
 * 12:42–12:54 UTC (asked every 5 min)".
 */
export function checkInWaitText(wait: NonNullable<StartedBackup['waitsForCheckIn']>): string {
  const hhmm = (iso: string) => iso.slice(11, 16);
  const span = hhmm(wait.earliest) === hhmm(wait.latest) ? hhmm(wait.earliest) : `${hhmm(wait.earliest)}–${hhmm(wait.latest)}`;
  return `The connector ${wait.state}: the backup starts at its next check-in, expected ${span} UTC (${wait.earliest.slice(0, 10)}), within ${duration(wait.retrySeconds).replace(/ 0s$/, '')} after it connects.`;
}

export type WaitOutcome = { detached: true; run?: RunRecord } | { detached: false; run: RunRecord; executionStatus: string };

/**
 * Follows a run until it ends: `onProgress` gets the connector's reported progress; `detach`
 * (Ctrl-C) stops following and leaves the run going.
 */
export async function waitForRun(
  fleet: Fleet,
  started: Pick<StartedBackup, 'runId' | 'executionArn'>,
  options: { onProgress?: (run: RunRecord | undefined) => void; detach: AbortSignal; pollMs?: number },
): Promise<WaitOutcome> {
  for (;;) {
    const [execution, run] = await Promise.all([
      fleet.sfn.send(new DescribeExecutionCommand({ executionArn: started.executionArn })),
      fleet.runs.get(started.runId),
    ]);
    options.onProgress?.(run);
    if (execution.status !== 'RUNNING') {
      // The run record is final once the execution ended (finalize or mark-failed wrote it).
      return {
        detached: false,
        run: run ?? (await missingRun(started.runId, execution.status ?? 'UNKNOWN')),
        executionStatus: execution.status ?? 'UNKNOWN',
      };
    }
    const detached = await pollPause(options.detach, options.pollMs ?? 1000);
    if (detached || options.detach.aborted) return { detached: true, run };
  }
}

/**
 * Waits `ms`, or less when `signal` aborts first: true when it did. The abort listener is removed
 * when the time is up, so a long wait (one poll a second) doesn't pile up one listener per poll
 * on the signal (Node warned "MaxListenersExceededWarning … 11 abort listeners" after 11 s).
 */
export function pollPause(signal: AbortSignal, ms: number): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(true);
  return new Promise<boolean>((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(true);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(false);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

async function missingRun(runId: string, status: string): Promise<never> {
  throw new CliError(
    `run ${runId} ended ${status} before it was recorded (the tenant may have been removed or disabled): see the execution in Step Functions`,
    EXIT.failed,
  );
}

/**
 * Stops the tenant's running backup: the execution is stopped, the run recorded as cancelled
 * with who and why, and the connector told to stop its work (it abandons its uploads).
 */
export async function cancelBackup(
  fleet: Fleet,
  tenantId: string,
  reason: string,
): Promise<{ runId: string; cancelledBy: string; connectorsTold: number }> {
  await requireTenant(fleet, tenantId);
  const cancelledBy = await fleet.caller();
  const outcome = await cancelRun(fleet, tenantId, cancelledBy, reason).catch((error: unknown) => {
    throw explainCoreError(error, tenantId);
  });
  if (!outcome.cancelled) {
    throw new CliError(
      `backup ${outcome.runId} ended (${outcome.status}) before it could be cancelled; nothing was changed: \`so-backup run show ${outcome.runId}\``,
      EXIT.failed,
    );
  }
  return { runId: outcome.runId, cancelledBy, connectorsTold: outcome.connectorsTold };
}

/**
 * What a running run is doing, as far as the cloud knows: the connector's latest progress; else
 * whether the job has been sent. A connector reports its first progress after a random delay (up
 * to 90 s) and then every 4 minutes (protocol/message-budget.ts), so a short run may never report:
 * that is said, not "waiting for the connector" while the connector is at work.
 * `offlineRetrySeconds`: how often BackupRun asks an absent connector again (the stack's
 * PresenceSettings; 5 minutes by default).
 */
export function runPhase(run: Pick<RunRecord, 'progress' | 'connectionId' | 'result'> | undefined, offlineRetrySeconds = 300): string {
  if (run?.result) return `the connector reported the backup ${run.result.outcome}; validating and recording it`;
  if (run?.progress) return run.progress.phase;
  if (run?.connectionId) {
    const every = duration(MESSAGE_BUDGET.progressIntervalSeconds).replace(/ 0s$/, '');
    const first = duration(MESSAGE_BUDGET.firstProgressJitterSeconds).replace(/ 0s$/, '');
    return `job sent to the connector, no progress report yet (the first within ${first}, then every ${every})`;
  }
  const every = duration(offlineRetrySeconds).replace(/ 0s$/, '');
  return `the job is not sent to the connector yet (preparing, or the connector is not connected — offline, or resting until its next check-in: asked again every ${every})`;
}

export function runView(run: RunRecord) {
  const seconds = run.finishedAt ? (Date.parse(run.finishedAt) - Date.parse(run.startedAt)) / 1000 : undefined;
  return {
    runId: run.runId,
    tenantId: run.tenantId,
    status: run.status,
    trigger: run.trigger,
    requestedBy: run.requestedBy,
    reason: run.reason,
    startedAt: run.startedAt,
    finishedAt: run.finishedAt,
    durationSeconds: seconds,
    uploadedBytes: typeof run.summary?.uploadedBytes === 'number' ? run.summary.uploadedBytes : undefined,
    /** Everything the run uploaded passed validation. */
    validated: run.validation?.ok === true,
    /** What the run kept, validated, for restore: "all", "partly" (a part failed, the rest was kept) or "none". */
    kept: keptOf(run),
    failure: run.failure,
    /** The connector's latest progress while the run goes on (phase, rate, limit). */
    progress: run.progress,
    /** While the run goes on: what it is doing now, as far as is known (runPhase). */
    phase: run.status === 'RUNNING' ? runPhase(run) : undefined,
    /** When the run's backup window ends (absent: none): the archive starts no new file after it. */
    windowEndsAt: run.windowEndsAt,
    /** How far the archive has come with this run (seeding: core/seeding.ts). */
    archiveProgress: run.archiveProgress,
  };
}

function keptOf(run: RunRecord): 'all' | 'partly' | 'none' {
  if (!restorableManifest(run)) return 'none';
  return (run.failures?.length ?? 0) > 0 ? 'partly' : 'all';
}

/**
 * Each part of the run — every database and the archive — with what became of it: kept
 * (validated, promoted into the daily tier, counted for retention), failed at the connector
 * (with SQL Server's or the connector's reason), or invalid (the validator's problems); for a
 * failed part, `carriedFrom` names the run whose validated backup of it the daily manifest still names.
 */
export function partsOf(run: RunRecord): Array<{
  kind: 'database' | 'archive';
  name: string;
  outcome: 'kept' | 'failed' | 'invalid' | 'not kept';
  detail?: string;
  carriedFrom?: string;
}> {
  const parts: ReturnType<typeof partsOf> = [];
  for (const artifact of run.validation?.artifacts ?? []) {
    const kept = artifact.kind === 'archive' ? run.kept?.archive === true : run.kept?.databases.includes(artifact.name) === true;
    parts.push({
      kind: artifact.kind,
      name: artifact.name,
      outcome: kept ? 'kept' : artifact.ok ? 'not kept' : 'invalid',
      ...(artifact.ok ? {} : { detail: artifact.problems.join('; ') }),
    });
  }
  for (const failure of run.failures ?? []) {
    if (failure.error.code === 'VALIDATION_FAILED' || parts.some((p) => p.kind === failure.kind && p.name === failure.name)) continue;
    parts.push({ kind: failure.kind, name: failure.name, outcome: 'failed', detail: `${failure.error.code}: ${failure.error.message}` });
  }
  // A failed part whose latest validated backup the daily manifest carries forward: which run's it is.
  for (const carried of run.kept?.carried ?? []) {
    const part = parts.find((p) => p.kind === carried.kind && (carried.kind === 'archive' || p.name === carried.name));
    if (part) part.carriedFrom = carried.runId;
  }
  return parts;
}

export async function listRuns(fleet: Fleet, tenantId: string, limit: number) {
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
    throw usageError(`--limit must be a whole number from 1 to 1000, not ${limit}`);
  await requireTenant(fleet, tenantId);
  return (await fleet.runs.forTenant(tenantId, limit)).map(runView);
}

export async function requireRun(fleet: Fleet, runId: string): Promise<RunRecord> {
  const run = await fleet.runs.get(runId);
  if (!run) throw notFound(`unknown run "${runId}": \`so-backup runs <tenant>\` lists a tenant's runs`);
  return run;
}

export interface RunStep {
  name: string;
  enteredAt: string;
  seconds?: number;
  outcome: 'succeeded' | 'failed' | 'running';
  error?: string;
}

/** "PartsFailed" of "PartsFailed: database 2two: …": a step's error name, short enough for a table cell. */
export function errorName(error: string): string {
  const name = /^[\w.-]{1,80}(?=:|$)/.exec(error)?.[0];
  return name ?? `${error.slice(0, 40)}…`;
}

/** The states the execution went through, from its Step Functions history. */
export function stepsFromHistory(events: readonly HistoryEvent[]): RunStep[] {
  const steps: RunStep[] = [];
  for (const event of events) {
    if (event.type === 'ExecutionSucceeded') {
      // A final Succeed state may end the execution without an exit event of its own.
      for (const step of steps) if (step.outcome === 'running') step.outcome = 'succeeded';
      continue;
    }
    if (event.stateEnteredEventDetails?.name) {
      steps.push({ name: event.stateEnteredEventDetails.name, enteredAt: event.timestamp!.toISOString(), outcome: 'running' });
      continue;
    }
    const open = steps.findLast((s) => s.outcome === 'running');
    if (!open) continue;
    const failure =
      event.taskFailedEventDetails ??
      event.lambdaFunctionFailedEventDetails ??
      event.executionFailedEventDetails ??
      event.taskTimedOutEventDetails;
    if (failure) {
      open.error = `${failure.error ?? 'Error'}: ${failure.cause ?? ''}`.slice(0, 500);
    }
    if (event.stateExitedEventDetails?.name === open.name) {
      open.seconds = (event.timestamp!.getTime() - Date.parse(open.enteredAt)) / 1000;
      open.outcome = open.error ? 'failed' : 'succeeded';
    }
    if (event.type === 'ExecutionFailed' || event.type === 'ExecutionAborted' || event.type === 'ExecutionTimedOut') {
      open.outcome = 'failed';
      open.error ??= event.type;
    }
  }
  return steps;
}

/** The execution's history, every page; undefined when Step Functions does not know the execution (any more). */
async function executionHistory(fleet: Fleet, executionArn: string): Promise<HistoryEvent[] | undefined> {
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  try {
    do {
      const page = await fleet.sfn.send(new GetExecutionHistoryCommand({ executionArn, nextToken }));
      events.push(...(page.events ?? []));
      nextToken = page.nextToken;
    } while (nextToken);
  } catch (error) {
    if (awsErrorKind(error) === 'execution-missing') return undefined;
    throw error;
  }
  return events;
}

/** Everything about one run: who and why, the steps, the validation, the artifacts, the shares. */
export async function showRun(fleet: Fleet, runId: string) {
  const run = await requireRun(fleet, runId);
  const events = await executionHistory(fleet, runExecutionArn(run, fleet.outputs.BackupRunStateMachineArn));
  // What the run kept (the daily manifest finalize wrote), else what the connector uploaded to staging (it expires).
  const kept = restorableManifest(run);
  const pointer = kept ?? run.manifest;
  const manifest = pointer ? await readManifest(fleet, pointer).catch(() => undefined) : undefined;
  const seeding = (await fleet.tenants.get(run.tenantId))?.seeding;
  return {
    ...runView(run),
    /** The tenant's seeding now ("seeding 42 %, about 2 more nights"), when its archive is being sent over several nights. */
    seeding: seeding && describeSeeding(seeding, new Date()),
    steps: stepsFromHistory(events ?? []),
    /** False when Step Functions no longer has the execution (its history is kept 90 days after it ended; local mode keeps none across restarts). */
    historyKept: events !== undefined,
    validation: run.validation,
    parts: partsOf(run),
    failures: run.failures ?? [],
    /** Whether `artifacts` are the kept (validated, promoted) copies or the run's staged uploads. */
    artifactsAre: kept ? ('kept' as const) : ('staged' as const),
    /** What must be done so the kept backups restore after a server loss (a TDE certificate never backed up). */
    actions: run.actions ?? [],
    // Warnings the run recorded as actions are listed there, not again here.
    notes:
      manifest?.databases.flatMap((db) =>
        [...(db.notes ?? []), ...(run.actions ? [] : (db.warnings ?? []).map((w) => `WARNING: ${w}`))].map(
          (text) => `${db.database}: ${text}`,
        ),
      ) ?? [],
    /** What the connector reported (a cancelled run's connector reports CANCELLED once it stopped). */
    connectorResult: run.result,
    summary: run.summary,
    artifacts: manifest ? artifactsOf(manifest) : [],
    skippedFiles: manifest?.archive?.skipped ?? [],
    tierCopies: run.tierCopies ?? [],
    shares: run.shares ?? [],
    restores: run.restores ?? [],
  };
}

export async function readManifest(fleet: Fleet, pointer: { key: string; versionId: string }): Promise<Manifest> {
  const out = await fleet.s3.send(
    new GetObjectCommand({ Bucket: fleet.outputs.BackupBucketName, Key: pointer.key, VersionId: pointer.versionId }),
  );
  return parseManifest(await out.Body!.transformToString());
}

/** The run's objects at their exact versions: database backups and the archive snapshot. */
export function artifactsOf(manifest: Manifest) {
  return [
    ...manifest.databases.map((db) => ({
      kind: 'database' as const,
      name: db.database,
      key: db.artifact.key,
      versionId: db.artifact.versionId,
      size: db.artifact.size,
      sha256: db.artifact.sha256,
    })),
    ...(manifest.archive
      ? [
          {
            kind: 'archive-snapshot' as const,
            name: plural(manifest.archive.files, 'file'),
            key: manifest.archive.snapshot.key,
            versionId: manifest.archive.snapshot.versionId,
            size: manifest.archive.snapshot.size,
            sha256: manifest.archive.snapshot.sha256,
          },
        ]
      : []),
  ];
}
