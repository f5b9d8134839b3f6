import { z } from 'zod';
import { awsClients, parseEvent, readEnvironment, RunStore, tableEnvironmentSchema, TenantStore } from '../shared';
import { isDue, localHour } from './due-tenants';
import { executionName } from './execution-name';

const env = readEnvironment(tableEnvironmentSchema.extend({
  SCHEDULE_TIME_ZONE: z.string().min(1),
  DEFAULT_BACKUP_HOUR: z.coerce.number().int().min(0).max(23),
}));
const tenants = new TenantStore(awsClients().dynamo, env.TENANTS_TABLE);
const runs = new RunStore(awsClients().dynamo, env.RUNS_TABLE);
const eventSchema = z.object({
  execution: z.object({ name: z.string(), startTime: z.string() }),
  /** DailyBackups' state: its input on the first page, then the cursor of the next page. */
  state: z.object({ cursor: z.string().optional(), everyTenant: z.boolean().default(false) }).loose(),
});

/**
 * DailyBackups' listing, one page of tenants at a time (so any number of tenants fits Step
 * Functions' payload limit): a BackupRun to start for each enabled tenant whose backup hour it is.
 */
export async function handler(event: unknown) {
  const { execution, state } = parseEvent(eventSchema, event, 'List tenants input');
  const started = new Date(execution.startTime);
  const hour = localHour(started, env.SCHEDULE_TIME_ZONE);
  const page = await tenants.listPage(state.cursor);
  const due = page.tenants.filter((tenant) => isDue(tenant, hour, env.DEFAULT_BACKUP_HOUR, state.everyTenant));
  return {
    everyTenant: state.everyTenant,
    ...(page.next ? { next: page.next } : {}),
    runs: await Promise.all(due.map(async (tenant) => {
      const recent = await runs.forTenant(tenant.tenantId, 20);
      return {
        executionName: executionName(tenant.tenantId, started, 'daily', recent.map((r) => r.runId), env.SCHEDULE_TIME_ZONE),
        input: { tenantId: tenant.tenantId, trigger: 'schedule', requestedBy: `schedule (${execution.name})` },
      };
    })),
  };
}
