import { z } from 'zod';
import type { RunRef, RunStore, TenantStore } from '../shared';

/** The parts of the validation report finalize records. */
export const validationSummarySchema = z.object({
  ok: z.literal(true),
  checks: z.number(),
  totalBytes: z.number(),
  databases: z.array(z.object({ database: z.string(), size: z.number() }).loose()),
  archive: z.object({ files: z.number(), bytes: z.number(), uploadedFiles: z.number(), uploadedBytes: z.number(), skippedFiles: z.number().default(0) }).optional(),
}).loose();

/** Marks a validated run SUCCEEDED with its summary and records it as the tenant's latest good backup. */
export async function finalizeRun(
  deps: { runs: Pick<RunStore, 'update'>; tenants: Pick<TenantStore, 'recordSuccess'> },
  run: RunRef,
  validation: z.infer<typeof validationSummarySchema>,
  now = new Date(),
) {
  const finishedAt = now.toISOString();
  const summary = {
    databases: validation.databases.length,
    databaseBytes: validation.databases.reduce((total, db) => total + db.size, 0),
    archiveFiles: validation.archive?.files ?? 0,
    archiveBytes: validation.archive?.bytes ?? 0,
    uploadedFiles: validation.archive?.uploadedFiles ?? 0,
    uploadedBytes: validation.totalBytes,
    durationSeconds: Math.round((now.getTime() - Date.parse(run.startedAt)) / 1000),
    /** Files the connector could not read consistently (listed in the manifest): a warning, not a failure. */
    skippedFiles: validation.archive?.skippedFiles ?? 0,
  };
  const status = summary.skippedFiles > 0 ? 'SUCCEEDED_WITH_WARNINGS' : 'SUCCEEDED';
  await deps.runs.update(run.runId, { status, finishedAt, summary });
  await deps.tenants.recordSuccess(run.tenantId, run.runId, finishedAt);
  return { status, ...summary };
}
