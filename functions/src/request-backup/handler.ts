import { PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { z } from 'zod';
import { encodeMessage } from '../../../protocol';
import { ConnectionStore, connectorTarget, connectorTargetEnvironmentSchema, RunStore, TenantStore, uploadCredentialVendorFromEnv, awsErrorKind } from '../../../core';
import { awsClients, connectionsClient, parseEvent, readEnvironment, runRefSchema, tableEnvironmentSchema } from '../shared';
import { requestBackup } from './request-backup';

const env = readEnvironment(tableEnvironmentSchema.extend(connectorTargetEnvironmentSchema.shape).extend({ CONNECTIONS_ENDPOINT: z.url() }));
const { dynamo, sts } = awsClients();
const runs = new RunStore(dynamo, env.RUNS_TABLE);
const connections = new ConnectionStore(dynamo, env.CONNECTIONS_TABLE);
const tenants = new TenantStore(dynamo, env.TENANTS_TABLE);
const management = connectionsClient(env.CONNECTIONS_ENDPOINT);
const credentials = uploadCredentialVendorFromEnv(sts, process.env);
const target = connectorTarget(env);
const eventSchema = z.object({ taskToken: z.string().min(1), run: runRefSchema });

/** Request backup (waitForTaskToken): the connector's result message completes the task. */
export async function handler(event: unknown): Promise<{ connectionId: string }> {
  const { taskToken, run } = parseEvent(eventSchema, event, 'Request backup input');
  return requestBackup({
    runs, tenants, connections, credentials, target,
    send: async (connectionId, job) => {
      try {
        await management.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from(encodeMessage(job)) }));
        return true;
      } catch (error) {
        if (awsErrorKind(error) === 'connection-gone') return false;
        throw error;
      }
    },
  }, run, taskToken);
}
