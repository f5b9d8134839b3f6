import { z } from 'zod';
import { jsonPaths, payloadPaths, wholeState } from './json-path';
import { lambdaTask } from './lambda-task';

/**
 * DailyBackups' contract. EventBridge Scheduler starts it every quarter hour with the scheduled
 * time; Start due backups starts the BackupRuns due in that quarter hour, a page of tenants at a
 * time, and hands on the cursor (`$.page.next`); Next page keeps only the cursor and the mode, so
 * the state stays small; More tenants? loops until no cursor is left.
 */

/** EventBridge Scheduler's placeholder for the time the invocation was scheduled for (ISO 8601, UTC). */
export const SCHEDULER_SCHEDULED_TIME = '<aws.scheduler.scheduled-time>';

/**
 * The state DailyBackups starts with and each page starts from: the schedule's input (started by
 * hand: `{"everyTenant": true}` starts every enabled tenant at once), then Next page's cursor.
 */
export const dailyBackupsStateSchema = z
  .object({
    // The schedule's input also says `"trigger": "schedule"`, for the execution history; nothing reads it.
    /** The quarter hour this execution is for (the scheduled time, not the time of delivery). */
    scheduledTime: z.string().optional(),
    cursor: z.string().optional(),
    everyTenant: z.boolean().default(false),
  })
  .loose();

/** What Start due backups returns (`$.page`): the mode and the quarter hour for the next page, and its cursor if tenants are left. */
export const duePageSchema = z
  .object({
    everyTenant: z.boolean(),
    scheduledTime: z.string(),
    next: z.string().optional(),
  })
  .loose();

const state = jsonPaths(dailyBackupsStateSchema.extend({ page: duePageSchema.optional() }));
const context = jsonPaths(z.object({ Execution: z.object({ Name: z.string(), StartTime: z.string() }) }), '$$');

export const dailyBackups = {
  name: 'DailyBackups',
  state,
  /** The input the quarter-hour schedule starts an execution with. */
  scheduledInput: { trigger: 'schedule', scheduledTime: SCHEDULER_SCHEDULED_TIME } satisfies z.input<typeof dailyBackupsStateSchema>,
  tasks: {
    /** Starts the due BackupRuns of one page of tenants, without waiting for them. */
    startDueBackups: lambdaTask(
      { execution: { name: context.Execution.Name, startTime: context.Execution.StartTime }, state: wholeState(dailyBackupsStateSchema) },
      state.page,
    ),
  },
  /** Next page's parameters: only the cursor and the mode go on. */
  nextPage: payloadPaths({ cursor: state.page.next, everyTenant: state.page.everyTenant, scheduledTime: state.page.scheduledTime }),
} as const;
