import {
  type ConnectorMessage, type ErrorMessage, parseMessage, PROTOCOL_VERSION, ProtocolError,
} from '../../../protocol';
import { isTaskGone, logger, type RunStore, type TaskResponder } from '../shared';

export interface MessageContext {
  tenantId: string;
  connectionId: string;
  runs: Pick<RunStore, 'get' | 'update' | 'recordResultOnce'>;
  tasks: TaskResponder;
  /** Sends an error back to the connector on its connection. */
  reply(message: ErrorMessage): Promise<void>;
}

export type MessageOutcome = 'progress' | 'result' | 'duplicate' | 'ignored' | 'rejected';

/**
 * A message from a connector: progress feeds the run's heartbeat; a result completes the
 * waiting task exactly once (a redelivered result is acknowledged and ignored).
 */
export async function handleConnectorMessage(raw: string, ctx: MessageContext): Promise<MessageOutcome> {
  let message: ConnectorMessage;
  try {
    message = parseMessage('connector', raw);
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    logger.warn({ tenantId: ctx.tenantId, code: error.code }, error.message);
    await ctx.reply({ type: 'error', v: PROTOCOL_VERSION, error: { code: error.code, message: error.message } });
    return 'rejected';
  }
  if (message.type === 'error') {
    logger.warn({ tenantId: ctx.tenantId, error: message.error }, 'connector reported an error');
    return 'ignored';
  }
  const log = logger.child({ runId: message.runId, tenantId: ctx.tenantId });
  const run = await ctx.runs.get(message.runId);
  if (!run || run.tenantId !== ctx.tenantId) {
    // Never reveal whether another tenant's run exists.
    await ctx.reply({ type: 'error', v: PROTOCOL_VERSION, inReplyTo: message.type, error: { code: 'RUN_UNKNOWN', message: `run ${message.runId} is not a run of this tenant` } });
    return 'rejected';
  }
  if (!run.taskToken || run.status !== 'RUNNING') return message.type === 'result' ? 'duplicate' : 'ignored';

  if (message.type === 'progress') {
    const at = new Date().toISOString();
    await ctx.runs.update(run.runId, { progress: { phase: message.phase, percent: message.percent, bytesDone: message.bytesDone, at } });
    try {
      await ctx.tasks.heartbeat(run.taskToken);
    } catch (error) {
      if (!isTaskGone(error)) throw error;
      log.info('progress for a task that already ended');
    }
    return 'progress';
  }

  const at = new Date().toISOString();
  const first = message.outcome === 'succeeded'
    ? await ctx.runs.recordResultOnce(run.runId, { outcome: 'succeeded', at }, message.manifest)
    : await ctx.runs.recordResultOnce(run.runId, { outcome: 'failed', error: message.error, at });
  if (!first) {
    log.info('duplicate result ignored');
    return 'duplicate';
  }
  try {
    if (message.outcome === 'succeeded') await ctx.tasks.succeed(run.taskToken, { manifest: message.manifest });
    else await ctx.tasks.fail(run.taskToken, 'BackupFailed', `${message.error.code}: ${message.error.message}`);
  } catch (error) {
    if (!isTaskGone(error)) throw error;
    log.warn('result arrived after the task ended');
  }
  log.info({ outcome: message.outcome }, 'connector result delivered');
  return 'result';
}
