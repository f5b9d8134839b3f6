import { z } from 'zod';
import { DEFAULT_RUN_WINDOW_SECONDS, MAX_RUN_WINDOW_SECONDS } from '../../../core';
import { backupRun, type TaskResult } from '../../../core/workflow';
import { defineHandler, tableStores } from '../handler';
import { tableEnvironmentSchema } from '../shared';
import { prepareRun } from './prepare-run';

const task = backupRun.tasks.prepare;

export const handler = defineHandler(
  {
    name: 'prepare-run',
    environment: tableEnvironmentSchema.extend({
      RUN_TIMEOUT_SECONDS: z.coerce.number().int().positive().default(43_200),
      /** The stack's backup window (seconds; 0: none), for tenants and runs without their own (core/backup-window.ts). */
      RUN_WINDOW_SECONDS: z.coerce.number().int().min(0).max(MAX_RUN_WINDOW_SECONDS).default(DEFAULT_RUN_WINDOW_SECONDS),
    }),
    setup: tableStores,
    event: { schema: task.event, what: 'BackupRun input' },
    bind: ({ execution }) => ({ runId: execution.name }),
  },
  async ({ input, execution }, { env, deps, log }): Promise<TaskResult<typeof task>> => {
    const run = await prepareRun(deps, input, execution, env.RUN_TIMEOUT_SECONDS, env.RUN_WINDOW_SECONDS);
    log.info(
      { tenantId: run.tenantId, trigger: input.trigger, requestedBy: input.requestedBy, windowEndsAt: run.windowEndsAt ?? 'none' },
      'run prepared',
    );
    return run;
  },
);
