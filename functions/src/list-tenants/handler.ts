import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { z } from 'zod';
import { awsErrorKind, windowStart } from '../../../core';
import { dailyBackups, type TaskResult } from '../../../core/workflow';
import { defineHandler, tableStores } from '../handler';
import { tableEnvironmentSchema } from '../shared';
import { startDueBackups } from './start-due-backups';

const task = dailyBackups.tasks.startDueBackups;

/** DailyBackups: starts the BackupRuns due in this quarter hour, a page of tenants at a time (start-due-backups.ts). */
export const handler = defineHandler(
  {
    name: 'list-tenants',
    environment: tableEnvironmentSchema.extend({
      SCHEDULE_TIME_ZONE: z.string().min(1),
      DEFAULT_BACKUP_HOUR: z.coerce.number().int().min(0).max(23),
      BACKUP_WINDOW_HOURS: z.coerce.number().int().min(1).max(24).default(1),
      BACKUP_RUN_STATE_MACHINE_ARN: z.string().min(1),
      MAX_STARTS_PER_SECOND: z.coerce.number().positive().default(100),
    }),
    setup: (env) => ({
      ...tableStores(env),
      // The SDK's adaptive mode: on ThrottlingException it slows this function's own sending rate down too.
      sfn: new SFNClient({ maxAttempts: 10, retryMode: 'adaptive' }),
    }),
    event: { schema: task.event, what: 'Start due backups input' },
    // The DailyBackups execution: every BackupRun it starts names it as who asked.
    bind: ({ execution }) => ({ execution: execution.name }),
  },
  async ({ execution, state }, { env, deps: { tenants, runs, sfn }, log }): Promise<TaskResult<typeof task>> => {
    const scheduled =
      state.scheduledTime && !Number.isNaN(Date.parse(state.scheduledTime)) ? new Date(state.scheduledTime) : new Date(execution.startTime);
    const window = windowStart(scheduled);
    const result = await startDueBackups(
      {
        listPage: (cursor) => tenants.listPage(cursor, 1000),
        recentRunIds: async (tenantId) => (await runs.forTenant(tenantId, 20)).map((r) => r.runId),
        start: async (name, input) => {
          try {
            await sfn.send(
              new StartExecutionCommand({ stateMachineArn: env.BACKUP_RUN_STATE_MACHINE_ARN, name, input: JSON.stringify(input) }),
            );
            return 'started';
          } catch (error) {
            if (awsErrorKind(error) === 'execution-exists') return 'exists';
            throw error;
          }
        },
      },
      {
        windowStart: window,
        everyTenant: state.everyTenant,
        cursor: state.cursor,
        requestedBy: execution.name,
        maxStartsPerSecond: env.MAX_STARTS_PER_SECOND,
        settings: { timeZone: env.SCHEDULE_TIME_ZONE, windowStartHour: env.DEFAULT_BACKUP_HOUR, windowHours: env.BACKUP_WINDOW_HOURS },
      },
    );
    log.info({ window: window.toISOString(), everyTenant: state.everyTenant, ...result, startedRuns: undefined }, 'due backups started');
    return { everyTenant: state.everyTenant, scheduledTime: window.toISOString(), ...result };
  },
);
