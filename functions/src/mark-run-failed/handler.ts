import { z } from 'zod';
import { RunStore } from '../../../core';
import { awsClients, executionContextSchema, logger, parseEvent, readEnvironment, tableEnvironmentSchema } from '../shared';
import { markRunFailed } from './mark-run-failed';

const env = readEnvironment(tableEnvironmentSchema);
const runs = new RunStore(awsClients().dynamo, env.RUNS_TABLE);
const eventSchema = z.object({
  state: z.object({
    tenantId: z.string().optional(),
    trigger: z.enum(['schedule', 'support', 'operator']).optional(),
    requestedBy: z.string().max(200).optional(),
    reason: z.string().max(1000).optional(),
    error: z.object({ Error: z.string(), Cause: z.string().optional() }),
  }).loose(),
  execution: executionContextSchema,
});

/** Records why a run failed and returns the alert to publish. */
export async function handler(event: unknown) {
  const { state, execution } = parseEvent(eventSchema, event, 'Mark run failed input');
  const alert = await markRunFailed({ runs }, execution.name, state.tenantId, { error: state.error.Error, cause: state.error.Cause ?? '' }, new Date(),
    { trigger: state.trigger, requestedBy: state.requestedBy, reason: state.reason, executionArn: execution.id });
  logger.error({ runId: execution.name, tenantId: state.tenantId, error: state.error.Error }, 'run failed');
  return alert;
}
