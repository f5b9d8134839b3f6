import { z } from 'zod';
import { awsClients, parseEvent, readEnvironment, RunStore, tableEnvironmentSchema, TenantStore } from '../shared';
import { executionName } from './execution-name';

const env = readEnvironment(tableEnvironmentSchema);
const tenants = new TenantStore(awsClients().dynamo, env.TENANTS_TABLE);
const runs = new RunStore(awsClients().dynamo, env.RUNS_TABLE);
const eventSchema = z.object({ execution: z.object({ name: z.string(), startTime: z.string() }) });

/** DailyBackups' first state: one BackupRun to start per enabled tenant. */
export async function handler(event: unknown) {
  const { execution } = parseEvent(eventSchema, event, 'List tenants input');
  const day = new Date(execution.startTime);
  const enabled = await tenants.listEnabled();
  return {
    runs: await Promise.all(enabled.map(async (tenant) => {
      const recent = await runs.forTenant(tenant.tenantId, 20);
      return {
        executionName: executionName(tenant.tenantId, day, 'daily', recent.map((r) => r.runId)),
        input: { tenantId: tenant.tenantId, trigger: 'schedule', requestedBy: `schedule (${execution.name})` },
      };
    })),
  };
}
