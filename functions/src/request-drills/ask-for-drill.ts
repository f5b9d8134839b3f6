import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { type DrillJob, PROTOCOL_VERSION, type UploadCredentials, type UploadTarget } from '../../../protocol';
import { isRestorable, restorableManifest, type RunStore, type TenantRecord, type TenantStore } from '../../../core';
import { drillDatabase, issueDrill } from './restore-drills';

/** How drills are asked for (RestoreDrillsProps): read by request-drills (hourly) and by the message function (at a check-in). */
export const drillEnvironmentSchema = z.object({
  DRILL_INTERVAL_DAYS: z.coerce.number().positive().default(7),
  DRILL_SAMPLE_FILES: z.coerce.number().int().min(0).max(1000).default(20),
  DRILL_DATABASE: z.enum(['true', 'false']).default('true'),
});
export type DrillEnvironment = z.infer<typeof drillEnvironmentSchema>;

export interface DrillAsker {
  tenants: Pick<TenantStore, 'issueDrill' | 'recordDrillRequested'>;
  runs: Pick<RunStore, 'forTenant'>;
  /** Read-only credentials for the drill (a restore session named by the drill id). */
  mintReadCredentials(tenantId: string, drillId: string): Promise<UploadCredentials>;
  target: UploadTarget;
  /** Sends the job to the tenant's connector; false when no connection took it (every one has gone). */
  send(job: DrillJob): Promise<boolean>;
}

/**
 * Asks a tenant whose drill is due (drillsDue) to drill its newest validated run, with read-only
 * credentials — one database per drill, rotating through the run's databases (drillDatabase) —
 * recording the drill as issued (with what it asks) before it is sent, and as requested once a
 * connection took it. `no-run`: nothing restorable to drill; `gone`: no connection took it (the
 * drill stays issued and expires; it is asked for again later).
 */
export async function askForDrill(
  tenant: TenantRecord,
  deps: DrillAsker,
  env: DrillEnvironment,
  now: Date,
): Promise<'requested' | 'no-run' | 'gone'> {
  const run = (await deps.runs.forTenant(tenant.tenantId, 50)).find(isRestorable);
  const manifest = run && restorableManifest(run);
  if (!run || !manifest) return 'no-run';
  // At most 69 characters (a drill id is 8–80): a long tenant id is shortened.
  const drillId = `${tenant.tenantId.slice(0, 50)}-drill-${randomBytes(6).toString('hex')}`;
  // Every database in turn: the one after the last drilled (in name order), not always the first.
  const databaseName =
    env.DRILL_DATABASE === 'true'
      ? drillDatabase(
          [...(run.kept?.databases ?? []), ...(run.kept?.carried ?? []).filter((p) => p.kind === 'database').map((p) => p.name)],
          tenant.lastDrill?.database,
        )
      : undefined;
  const asked = {
    database: env.DRILL_DATABASE === 'true' && (run.kept === undefined || databaseName !== undefined),
    ...(databaseName === undefined ? {} : { databaseName }),
    sampleFiles:
      run.kept === undefined || run.kept.archive || run.kept.carried?.some((p) => p.kind === 'archive') ? env.DRILL_SAMPLE_FILES : 0,
  };
  const job: DrillJob = {
    type: 'drill-job',
    v: PROTOCOL_VERSION,
    drillId,
    runId: run.runId,
    startedAt: run.startedAt,
    manifest,
    target: deps.target,
    credentials: await deps.mintReadCredentials(tenant.tenantId, drillId),
    ...asked,
  };
  // Issued before it is sent, with what it asks: only a drill recorded here may report a result, and it is held to what it was asked.
  const issued = issueDrill(tenant, run.runId, asked, now);
  await deps.tenants.issueDrill(tenant.tenantId, drillId, issued.drill, issued.expired);
  if (!(await deps.send(job))) return 'gone';
  await deps.tenants.recordDrillRequested(tenant.tenantId, now.toISOString());
  return 'requested';
}
