import { z } from 'zod';
import { backupRun, type TaskResult } from '../../../core/workflow';
import { defineHandler, tableStores } from '../handler';
import { tableEnvironmentSchema } from '../shared';
import { prepareRun } from './prepare-run';

const task = backupRun.tasks.prepare;

export const handler = defineHandler(
  {
    name: 'prepare-run',
    environment: tableEnvironmentSchema.extend({ RUN_TIMEOUT_SECONDS: z.coerce.number().int().positive().default(43_200) }),
    setup: tableStores,
    event: { schema: task.event, what: 'BackupRun input' },
    bind: ({ execution }) => ({ runId: execution.name }),
  },
  async ({ input, execution }, { env, deps, log }): Promise<TaskResult<typeof task>> => {
    const run = await prepareRun(deps, input, execution, env.RUN_TIMEOUT_SECONDS);
    log.info({ tenantId: run.tenantId, trigger: input.trigger, requestedBy: input.requestedBy }, 'run prepared');
    return run;
  },
);
