import { z } from 'zod';
import { type Manifest, type ManifestPointer } from '../../../protocol';
import type { RunRef, RunStore, TenantRecord, TenantStore } from '../shared';
import { type CopyTier, type CopyTiersKept, periodOf, promoteToTier, tiersDue, type VersionCopier } from './promote-to-tiers';

/** The parts of the validation report finalize records. */
export const validationSummarySchema = z.object({
  ok: z.literal(true),
  checks: z.number(),
  totalBytes: z.number(),
  databases: z.array(z.object({ database: z.string(), size: z.number() }).loose()),
  archive: z.object({ files: z.number(), bytes: z.number(), uploadedFiles: z.number(), uploadedBytes: z.number(), skippedFiles: z.number().default(0) }).optional(),
}).loose();

export interface FinalizeDeps {
  runs: Pick<RunStore, 'update'>;
  tenants: Pick<TenantStore, 'get' | 'recordSuccess'>;
  copier: VersionCopier;
  /** The run's manifest, read at its exact (validated) version. */
  readManifest: (pointer: ManifestPointer) => Promise<Manifest>;
  kept: CopyTiersKept;
}

/**
 * Marks a validated run SUCCEEDED with its summary, copies it to the weekly and monthly tiers
 * when it is the first validated run of its week or month, and records it as the tenant's
 * latest good backup. A failed copy fails finalize (and so the run, loudly) before anything is
 * recorded, so the next run makes the copy instead.
 */
export async function finalizeRun(deps: FinalizeDeps, run: RunRef, manifest: ManifestPointer, validation: z.infer<typeof validationSummarySchema>, now = new Date()) {
  const finishedAt = now.toISOString();
  const tenant = await deps.tenants.get(run.tenantId);
  const marks = { ...tenant?.tierMarks };
  const due = tiersDue(now, marks, deps.kept);
  const copies: Array<{ tier: CopyTier; manifest: ManifestPointer }> = [];
  if (due.length > 0) {
    const contents = await deps.readManifest(manifest);
    for (const tier of due) {
      copies.push({ tier, manifest: await promoteToTier(deps.copier, contents, manifest, tier) });
      marks[tier] = periodOf(tier, now);
    }
  }
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
    /** The tiers this run was copied to besides daily ("weekly,monthly"), or "". */
    copiedTo: copies.map((copy) => copy.tier).join(','),
  };
  const status = summary.skippedFiles > 0 ? 'SUCCEEDED_WITH_WARNINGS' : 'SUCCEEDED';
  await deps.runs.update(run.runId, { status, finishedAt, summary, ...(copies.length > 0 ? { tierCopies: copies } : {}) });
  await deps.tenants.recordSuccess(run.tenantId, run.runId, finishedAt, marks satisfies TenantRecord['tierMarks']);
  return { status, ...summary };
}
