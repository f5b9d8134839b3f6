import { z } from 'zod';
import { RunStore, TenantStore } from '../../../core';
import { awsClients, backupRunInputSchema, executionContextSchema, logger, parseEvent, readEnvironment, tableEnvironmentSchema, type RunRef } from '../shared';
import { prepareRun } from './prepare-run';

const env = readEnvironment(tableEnvironmentSchema.extend({ RUN_TIMEOUT_SECONDS: z.coerce.number().int().positive().default(43_200) }));
const tenants = new TenantStore(awsClients().dynamo, env.TENANTS_TABLE);
const runs = new RunStore(awsClients().dynamo, env.RUNS_TABLE);
const eventSchema = z.object({ input: backupRunInputSchema, execution: executionContextSchema });

export async function handler(event: unknown): Promise<RunRef> {
  const { input, execution } = parseEvent(eventSchema, event, 'BackupRun input');
  const run = await prepareRun({ tenants, runs }, input, execution, env.RUN_TIMEOUT_SECONDS);
  logger.info({ runId: run.runId, tenantId: run.tenantId, trigger: input.trigger, requestedBy: input.requestedBy }, 'run prepared');
  return run;
}
