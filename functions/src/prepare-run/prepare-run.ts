import {
  activeRun,
  DEFAULT_RUN_WINDOW_SECONDS,
  RunError,
  latestRunWindowSeconds,
  runWindowOf,
  windowEndsAt,
  type RunRecord,
  type RunStore,
  type TenantStore,
} from '../../../core';
import type { BackupRunInput, RunRef } from '../shared';

/**
 * Checks the tenant may be backed up and opens the run record (idempotent for retries). The run's
 * backup window (the input's, the tenant's or the stack's: core/backup-window.ts) ends
 * `window` after the execution started, whenever the job reaches the connector, and at the latest
 * a quarter hour before the run would be timed out.
 */
export async function prepareRun(
  deps: { tenants: Pick<TenantStore, 'get'>; runs: Pick<RunStore, 'create' | 'forTenant'> },
  input: BackupRunInput,
  execution: { name: string; id?: string; startTime: string },
  runTimeoutSeconds = 12 * 3600,
  stackWindowSeconds = DEFAULT_RUN_WINDOW_SECONDS,
): Promise<RunRef> {
  const tenant = await deps.tenants.get(input.tenantId);
  if (!tenant) throw new RunError('TenantNotFound', `tenant "${input.tenantId}" does not exist`);
  if (!tenant.enabled) throw new RunError('TenantDisabled', `tenant "${input.tenantId}" is disabled; enable it to back it up`);
  // One backup per tenant at a time; a RUNNING record older than the run timeout is a crashed run, not a running one.
  const running = activeRun(
    await deps.runs.forTenant(tenant.tenantId, 20),
    Date.parse(execution.startTime),
    runTimeoutSeconds,
    execution.name,
  );
  if (running)
    throw new RunError(
      'RunConflict',
      `a backup of tenant "${tenant.tenantId}" is already running (${running.runId}, started ${running.startedAt})`,
    );
  const startedAt = new Date(execution.startTime).toISOString();
  // A window set before the stack's backup timeout was shortened must still end before the run
  // is timed out (runTimeoutSeconds is that timeout plus an hour): then a quarter hour before it.
  const window = runWindowOf(input, tenant, stackWindowSeconds);
  const latest = latestRunWindowSeconds(runTimeoutSeconds);
  const endsAt = windowEndsAt(startedAt, window.seconds > latest ? { seconds: latest } : window);
  const run: RunRecord = {
    runId: execution.name,
    tenantId: tenant.tenantId,
    status: 'RUNNING',
    trigger: input.trigger,
    requestedBy: input.requestedBy,
    reason: input.reason,
    executionArn: execution.id ?? execution.name,
    startedAt,
    ...(endsAt ? { windowEndsAt: endsAt } : {}),
  };
  const stored = await deps.runs.create(run);
  return {
    runId: stored.runId,
    tenantId: stored.tenantId,
    trigger: stored.trigger,
    startedAt: stored.startedAt,
    ...(stored.windowEndsAt ? { windowEndsAt: stored.windowEndsAt } : {}),
  };
}
