import type { RunRecord, RunStore, TenantStore } from '../shared';
import { RunError, type BackupRunInput, type RunRef } from '../shared';

/** Checks the tenant may be backed up and opens the run record (idempotent for retries). */
export async function prepareRun(
  deps: { tenants: Pick<TenantStore, 'get'>; runs: Pick<RunStore, 'create'> },
  input: BackupRunInput,
  execution: { name: string; id?: string; startTime: string },
): Promise<RunRef> {
  const tenant = await deps.tenants.get(input.tenantId);
  if (!tenant) throw new RunError('TenantNotFound', `tenant "${input.tenantId}" does not exist`);
  if (!tenant.enabled) throw new RunError('TenantDisabled', `tenant "${input.tenantId}" is disabled; enable it to back it up`);
  const run: RunRecord = {
    runId: execution.name,
    tenantId: tenant.tenantId,
    status: 'RUNNING',
    trigger: input.trigger,
    requestedBy: input.requestedBy,
    reason: input.reason,
    executionArn: execution.id ?? execution.name,
    startedAt: new Date(execution.startTime).toISOString(),
  };
  const stored = await deps.runs.create(run);
  return { runId: stored.runId, tenantId: stored.tenantId, trigger: stored.trigger, startedAt: stored.startedAt };
}
