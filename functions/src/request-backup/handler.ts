import { postToConnection } from '../../../core';
import { backupRun } from '../../../core/workflow';
import { encodeMessage } from '../../../protocol';
import { defineHandler, jobSender, jobSenderEnvironmentSchema } from '../handler';
import { requestBackup } from './request-backup';

/** Request backup (waitForTaskToken): the connector's result message completes the task. */
export const handler = defineHandler(
  {
    name: 'request-backup',
    environment: jobSenderEnvironmentSchema,
    setup: jobSender,
    event: { schema: backupRun.tasks.requestBackup.event, what: 'Request backup input' },
    bind: ({ run }) => ({ runId: run.runId }),
  },
  async ({ taskToken, run }, { deps: { management, ...deps } }): Promise<{ connectionId: string }> =>
    requestBackup(
      {
        ...deps,
        send: async (connectionId, job) =>
          (await postToConnection({ management, connections: deps.connections }, connectionId, encodeMessage(job))) === 'sent',
      },
      run,
      taskToken,
    ),
);
