import { backupRun, type TaskResult } from '../../../core/workflow';
import { defineHandler, tableStores } from '../handler';
import { tableEnvironmentSchema } from '../shared';
import { markRunFailed } from './mark-run-failed';

const task = backupRun.tasks.markFailed;

/** Records why a run failed and returns the alert to publish. */
export const handler = defineHandler(
  {
    name: 'mark-run-failed',
    environment: tableEnvironmentSchema,
    setup: tableStores,
    event: { schema: task.event, what: 'Mark run failed input' },
    bind: ({ execution, state }) => ({ runId: execution.name, tenantId: state.tenantId }),
  },
  async ({ state, execution }, { deps, log }): Promise<TaskResult<typeof task>> => {
    const alert = await markRunFailed(
      deps,
      execution.name,
      state.tenantId,
      { error: state.error.Error, cause: state.error.Cause ?? '' },
      new Date(),
      { trigger: state.trigger, requestedBy: state.requestedBy, reason: state.reason, executionArn: execution.id },
    );
    log.error({ error: state.error.Error }, 'run failed');
    return alert;
  },
);
