import {
  type CloudMessage,
  type ConnectorMessage,
  type DrillResult,
  parseMessage,
  PROTOCOL_VERSION,
  ProtocolError,
  type RotateKeyMessage,
  type UploadCredentials,
  type UploadTarget,
} from '../../../protocol';
import { logger, putMetrics } from '../shared';
import {
  type CredentialAccess,
  isTaskGone,
  presenceMode,
  type PresenceSettings,
  type RunStore,
  settingsMessage,
  type TaskResponder,
  type TenantStore,
} from '../../../core';
import type { BackupResult } from '../../../core/workflow';
import { askForDrill, type DrillEnvironment } from '../request-drills/ask-for-drill';
import { drillsDue, drillVerdict } from '../request-drills/restore-drills';
import { grantRestore } from './grant-restore';
import { renewReadCredentials } from './renew-read-credentials';

export interface MessageContext {
  tenantId: string;
  connectionId: string;
  runs: Pick<RunStore, 'get' | 'update' | 'recordResultOnce' | 'forTenant' | 'addRestore'>;
  tenants: Pick<TenantStore, 'get' | 'updateKeys' | 'recordDrill' | 'issueDrill' | 'recordDrillRequested'>;
  tasks: TaskResponder;
  /** Mints fresh upload credentials for a running run (long uploads outlive the first ones), or read-only ones for a restore. */
  mintCredentials(tenantId: string, runId: string, access?: CredentialAccess): Promise<UploadCredentials>;
  /** Where backups are (bucket, region; an endpoint in local mode), for restores. */
  target: UploadTarget;
  /** Sends a message back to the connector on its connection; 'gone' when the connection has gone (anything else: sent). */
  reply(message: CloudMessage): Promise<unknown>;
  /**
   * The stack's presence settings (core/presence.ts), for the `presence` of `settings`; absent: none
   * is sent (the connector stays connected, as with an older cloud).
   */
  presence?: PresenceSettings;
  /** How restore drills are asked (request-drills' settings): a checking-in connector is asked for a due drill when it asks for its settings. */
  drills?: DrillEnvironment;
  /** The cloud's clock (tests set it). @default new Date() */
  now?: () => Date;
}

export type MessageOutcome =
  | 'progress'
  | 'result'
  | 'duplicate'
  | 'ignored'
  | 'rejected'
  | 'key-registered'
  | 'credentials'
  | 'restore-granted'
  | 'drill-recorded'
  | 'settings';

/**
 * A message from a connector: progress feeds the run's heartbeat; a result completes the
 * waiting task exactly once and is acknowledged (a redelivered result is acknowledged again and
 * otherwise ignored); a new public key is registered as pending.
 */
export async function handleConnectorMessage(raw: string, ctx: MessageContext): Promise<MessageOutcome> {
  let message: ConnectorMessage;
  try {
    message = parseMessage('connector', raw);
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    logger.warn({ tenantId: ctx.tenantId, code: error.code }, error.message);
    // Answers the message it refuses by its type, when the type was one the cloud knows (the connector matches replies by it).
    await ctx.reply({
      type: 'error',
      v: PROTOCOL_VERSION,
      ...(error.messageType ? { inReplyTo: error.messageType } : {}),
      error: { code: error.code, message: error.message.slice(0, 4000) },
    });
    return 'rejected';
  }
  // Every refusal is on record — a connector probing other tenants' run ids leaves a trace: the
  // tenant, the connection, what was asked (the message's type and the ids it named) and the code.
  const asked = message;
  const reply = ctx.reply;
  ctx = {
    ...ctx,
    reply: async (answer) => {
      if (answer.type === 'error')
        logger.warn(
          {
            tenantId: ctx.tenantId,
            connectionId: ctx.connectionId,
            asked: asked.type,
            ...askedIds(asked),
            code: answer.error.code,
          },
          `${asked.type} refused: ${answer.error.code}: ${answer.error.message}`,
        );
      return reply(answer);
    },
  };
  switch (message.type) {
    case 'heartbeat':
      return 'ignored';
    case 'error':
      logger.warn({ tenantId: ctx.tenantId, error: message.error }, 'connector reported an error');
      return 'ignored';
    case 'rotate-key':
      return registerPendingKey(message, ctx);
    case 'drill-result':
      return recordDrill(message, ctx);
    case 'settings-request':
      return answerSettings(ctx);
    case 'restore-request':
      return grantRestore(message, { ...ctx, mintCredentials: (tenantId, runId) => ctx.mintCredentials(tenantId, runId, 'restore') });
    case 'credentials-request':
      // A restore's or a drill's read credentials; a backup's upload credentials below, with the run's other messages.
      if (message.drillId !== undefined || message.restoreRequestId !== undefined) {
        const outcome = await renewReadCredentials(message as Parameters<typeof renewReadCredentials>[0], {
          ...ctx,
          mintReadCredentials: (tenantId, sessionKey) => ctx.mintCredentials(tenantId, sessionKey, 'restore'),
        });
        // Every read grant is on record: the first with the run or the drill, each renewal here (a refusal, with its code, above).
        if (outcome === 'credentials')
          logger.info(
            {
              tenantId: ctx.tenantId,
              connectionId: ctx.connectionId,
              runId: message.runId,
              drillId: message.drillId,
              restoreRequestId: message.restoreRequestId,
            },
            'read credentials renewed',
          );
        return outcome;
      }
      return runMessage(message, ctx);
    default:
      return runMessage(message, ctx);
  }
}

/**
 * After each connect: the tenant's central settings (bandwidth null: none, the configuration
 * file's applies) and its presence (core/presence.ts presenceAt: one read of the tenant's newest
 * run tells whether a run waits for the connector). A checking-in connector is seldom connected
 * at request-drills' hourly check, so a drill due for it is asked for here, on this connection,
 * before the settings (the same drillsDue and askForDrill as the hourly check): the connector is
 * busy with it when it weighs whether to leave. Not while its newest run is RUNNING (a backup
 * runs or waits for it, and goes first): the next check-in asks.
 */
async function answerSettings(ctx: MessageContext): Promise<MessageOutcome> {
  const now = ctx.now?.() ?? new Date();
  const tenant = await ctx.tenants.get(ctx.tenantId);
  const checksIn = tenant !== undefined && ctx.presence !== undefined && presenceMode(tenant, ctx.presence) === 'check-in';
  // One Query (Limit 1) of the tenant's runs: a run that waits for this connector keeps it here.
  const newest = checksIn ? (await ctx.runs.forTenant(ctx.tenantId, 1))[0] : undefined;
  // A backup running or waiting goes first (the connector skips a drill while a backup runs): the next check-in asks.
  const drillDue =
    checksIn &&
    ctx.drills !== undefined &&
    newest?.status !== 'RUNNING' &&
    drillsDue([tenant], new Set([ctx.tenantId]), now, ctx.drills.DRILL_INTERVAL_DAYS).length > 0;
  if (drillDue && tenant && ctx.drills) {
    try {
      const outcome = await askForDrill(
        tenant,
        {
          tenants: ctx.tenants,
          runs: ctx.runs,
          target: ctx.target,
          mintReadCredentials: (tenantId, drillId) => ctx.mintCredentials(tenantId, drillId, 'restore'),
          send: async (job) => (await ctx.reply(job)) !== 'gone',
        },
        ctx.drills,
        now,
      );
      logger.info({ tenantId: ctx.tenantId, connectionId: ctx.connectionId, outcome }, 'restore drill at check-in');
      if (outcome === 'gone') return 'settings';
    } catch (error) {
      // The hourly check (or the next check-in) asks again; the settings still go out.
      logger.warn({ tenantId: ctx.tenantId, err: (error as Error).message }, 'could not ask for a restore drill at check-in');
    }
  }
  await ctx.reply(settingsMessage(tenant, ctx.presence, now, newest));
  return 'settings';
}

/** The ids a connector message names (run, requested run, drill, restore request, key), for the log of a refusal. */
function askedIds(message: ConnectorMessage): Record<string, string> {
  const fields = message as Partial<Record<'runId' | 'run' | 'drillId' | 'restoreRequestId' | 'requestId' | 'keyId', unknown>>;
  return Object.fromEntries(
    (['runId', 'run', 'drillId', 'restoreRequestId', 'requestId', 'keyId'] as const)
      .filter((name) => typeof fields[name] === 'string')
      .map((name) => [name, String(fields[name]).slice(0, 200)]),
  );
}

/**
 * A restore drill's outcome, kept with the tenant (shown by `so-backup status`, alarmed on by
 * request-drills) — only for a drill the cloud issued to this tenant, for that run, once and in
 * time. Anything else (unsolicited, replayed, another tenant's run, too late) is refused and
 * logged, never recorded: a passing drill must be one the cloud asked for. The result is held
 * to what the drill asked (drillVerdict): a part that failed, was skipped or is missing, a
 * sampled file that did not verify, or nothing checked at all is recorded as a failed drill.
 */
async function recordDrill(message: DrillResult, ctx: MessageContext): Promise<MessageOutcome> {
  // What the drill was asked (recorded when it was issued); the conditional write below proves it was issued at all.
  const asked = (await ctx.tenants.get(ctx.tenantId))?.issuedDrills?.[message.drillId]?.asked;
  const { ok, detail } = drillVerdict(message, asked);
  const now = new Date().toISOString();
  // The cloud's clock, not the connector's: a future "finishedAt" must not put off the next drill.
  const database = asked?.databaseName ?? message.database?.name;
  const recorded = await ctx.tenants.recordDrill(
    ctx.tenantId,
    { drillId: message.drillId, runId: message.runId, ok, at: now, detail, ...(database === undefined ? {} : { database }) },
    now,
  );
  if (!recorded) {
    logger.warn(
      { tenantId: ctx.tenantId, connectionId: ctx.connectionId, drillId: message.drillId, runId: message.runId, ok: message.ok },
      'drill result refused: no such drill was asked of this tenant for that run (unsolicited, replayed or expired)',
    );
    putMetrics({ RestoreDrillResultRefused: 1 });
    await ctx.reply({
      type: 'error',
      v: PROTOCOL_VERSION,
      inReplyTo: 'drill-result',
      error: {
        code: 'DRILL_UNKNOWN',
        message: `drill ${message.drillId} for run ${message.runId} was not asked of this tenant, was answered already, or has expired: the result is not recorded`,
      },
    });
    return 'rejected';
  }
  putMetrics({ RestoreDrillFailed: ok ? 0 : 1 });
  logger[ok ? 'info' : 'warn']({ tenantId: ctx.tenantId, drillId: message.drillId, runId: message.runId, ok }, 'restore drill reported');
  return 'drill-recorded';
}

async function registerPendingKey(message: RotateKeyMessage, ctx: MessageContext): Promise<MessageOutcome> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const tenant = await ctx.tenants.get(ctx.tenantId);
    if (!tenant) return 'rejected';
    // Keep the active keys; a newer pending key replaces an older one that was never used.
    const keys = [
      ...tenant.keys.filter((k) => k.status === 'active' && k.keyId !== message.keyId),
      { keyId: message.keyId, publicKey: message.publicKey, status: 'pending' as const, createdAt: new Date().toISOString() },
    ];
    if (await ctx.tenants.updateKeys(tenant, keys)) {
      logger.info({ tenantId: ctx.tenantId, keyId: message.keyId }, 'connector key registered (pending until first use)');
      await ctx.reply({ type: 'key-registered', v: PROTOCOL_VERSION, keyId: message.keyId });
      return 'key-registered';
    }
  }
  await ctx.reply({
    type: 'error',
    v: PROTOCOL_VERSION,
    inReplyTo: 'rotate-key',
    error: { code: 'KEY_CONFLICT', message: "the tenant's keys changed concurrently; retry" },
  });
  return 'rejected';
}

async function runMessage(
  message: Extract<ConnectorMessage, { type: 'progress' | 'result' | 'credentials-request' }>,
  ctx: MessageContext,
): Promise<MessageOutcome> {
  const log = logger.child({ runId: message.runId, tenantId: ctx.tenantId });
  const run = await ctx.runs.get(message.runId);
  if (!run || run.tenantId !== ctx.tenantId) {
    // Never reveal whether another tenant's run exists.
    await ctx.reply({
      type: 'error',
      v: PROTOCOL_VERSION,
      inReplyTo: message.type,
      runId: message.runId,
      error: { code: 'RUN_UNKNOWN', message: `run ${message.runId} is not a run of this tenant` },
    });
    return 'rejected';
  }
  const ack = () => ctx.reply({ type: 'ack', v: PROTOCOL_VERSION, runId: message.runId });
  if (message.type === 'credentials-request') {
    if (run.status !== 'RUNNING') {
      await ctx.reply({
        type: 'error',
        v: PROTOCOL_VERSION,
        inReplyTo: message.type,
        runId: run.runId,
        error: { code: 'RUN_NOT_RUNNING', message: `run ${run.runId} is ${run.status}; no new credentials` },
      });
      return 'rejected';
    }
    await ctx.reply({
      type: 'credentials',
      v: PROTOCOL_VERSION,
      runId: run.runId,
      credentials: await ctx.mintCredentials(ctx.tenantId, run.runId),
    });
    log.info('upload credentials refreshed');
    return 'credentials';
  }
  const recordResult = (result: Extract<typeof message, { type: 'result' }>, at: string) =>
    result.outcome === 'succeeded'
      ? ctx.runs.recordResultOnce(run.runId, { outcome: 'succeeded', at }, result.manifest)
      : ctx.runs.recordResultOnce(run.runId, { outcome: 'failed', error: result.error, at });
  if (!run.taskToken || run.status !== 'RUNNING') {
    if (message.type !== 'result') return 'ignored';
    // A result after the run ended (cancelled, timed out) is kept for the record and changes nothing else.
    await recordResult(message, new Date().toISOString());
    await ack();
    return 'duplicate';
  }

  if (message.type === 'progress') {
    const at = new Date().toISOString();
    await ctx.runs.update(run.runId, {
      progress: {
        phase: message.phase,
        percent: message.percent,
        bytesDone: message.bytesDone,
        bytesPerSecond: message.bytesPerSecond,
        limitBytesPerSecond: message.limitBytesPerSecond,
        at,
      },
    });
    try {
      await ctx.tasks.heartbeat(run.taskToken);
    } catch (error) {
      if (!isTaskGone(error)) throw error;
      log.info('progress for a task that already ended');
    }
    return 'progress';
  }

  const at = new Date().toISOString();
  const first = await recordResult(message, at);
  if (!first) {
    log.info('duplicate result acknowledged and ignored');
    await ack();
    return 'duplicate';
  }
  try {
    // BackupRun keeps this as $.backup (core/workflow/backup-run.ts): Validate and Finalize read its manifest.
    if (message.outcome === 'succeeded') await ctx.tasks.succeed(run.taskToken, { manifest: message.manifest } satisfies BackupResult);
    else await ctx.tasks.fail(run.taskToken, 'BackupFailed', `${message.error.code}: ${message.error.message}`);
  } catch (error) {
    if (!isTaskGone(error)) throw error;
    log.warn('result arrived after the task ended');
  }
  await ack();
  log.info({ outcome: message.outcome }, 'connector result delivered');
  return 'result';
}
