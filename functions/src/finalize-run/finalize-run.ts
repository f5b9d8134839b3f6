import type { ValidationSummary } from '../../../core/workflow';
import type { ArtifactFailure, DatabaseBackup, Manifest, ManifestPointer } from '../../../protocol';
import {
  archiveProgress,
  type CarriedPart,
  nextSeeding,
  RunError,
  type RunRecord,
  type RunStore,
  type TenantRecord,
  type TenantStore,
} from '../../../core';
import { logger, type RunRef } from '../shared';
import { carryForward, type CopyTier, type CopyTiersKept, periodOf, promoteToTier, tiersDue, type VersionCopier } from './promote-to-tiers';

export interface FinalizeDeps {
  runs: Pick<RunStore, 'get' | 'update'>;
  tenants: Pick<TenantStore, 'get' | 'recordSuccess' | 'recordPromotion' | 'recordSeeding'>;
  copier: VersionCopier;
  /** The run's manifest, read at its exact (validated) version. */
  readManifest: (pointer: ManifestPointer) => Promise<Manifest>;
  kept: CopyTiersKept;
}

/** What finalize hands on: the run's outcome, and for a run with failed parts, why (the alert's text). */
export type FinalizeOutcome = Awaited<ReturnType<typeof finalizeRun>>;

/**
 * Promotes the validated parts of a run from its staging keys into the daily tier (server-side
 * copies, proven by S3's checksum) with a daily manifest naming only them, so that daily
 * retention counts validated backups only. A complete run is then copied to the weekly and
 * monthly tiers when it is the first validated run of its week or month, and recorded as the
 * tenant's latest good backup. A run with a part that failed (at the connector, or in
 * validation) keeps and counts its good parts but ends FAILED (`failed: true`, with the cause
 * naming each failed part) and is not recorded as the latest good backup; its daily manifest
 * carries forward each failed part's latest validated backup (carryForward), and tier copies
 * are made per part from that manifest. A failed tier copy fails finalize (the promoted daily parts stay recorded as the
 * run's validated backup), so the next run makes the copy.
 */
export async function finalizeRun(
  deps: FinalizeDeps,
  run: RunRef,
  staged: ManifestPointer,
  validation: ValidationSummary,
  now = new Date(),
) {
  const finishedAt = now.toISOString();
  const contents = await deps.readManifest(staged);
  const passed = (kind: ArtifactFailure['kind'], name: string) =>
    validation.artifacts.some((a) => a.kind === kind && a.name === name && a.ok);
  const archiveName = contents.archive?.roots.map((root) => root.name).join(', ') || 'archive';
  const kept: Manifest = {
    ...contents,
    // `carriedFrom` is finalize's to set, never the connector's.
    databases: contents.databases.filter((db) => passed('database', db.database)).map(({ carriedFrom: _, ...db }) => db),
    archive:
      contents.archive && passed('archive', archiveName) ? (({ carriedFrom: _, ...archive }) => archive)(contents.archive) : undefined,
    failures: [
      ...(contents.failures ?? []),
      ...validation.artifacts
        .filter((a) => !a.ok)
        .map(
          (a): ArtifactFailure => ({
            kind: a.kind,
            name: a.name,
            error: { code: 'VALIDATION_FAILED', message: a.problems.slice(0, 5).join('; ').slice(0, 4000) },
          }),
        ),
    ],
  };
  if (kept.databases.length === 0 && kept.archive === undefined)
    throw new RunError('ValidationFailed', 'no part of the run passed validation; nothing to keep');
  const failures = kept.failures ?? [];
  const complete = failures.length === 0;

  // A retried finalize (Lambda retries) must not promote twice: each promotion is a version that counts.
  const record = await deps.runs.get(run.runId);
  const tenant = await deps.tenants.get(run.tenantId);
  const daily = record?.validatedManifest
    ? { pointer: record.validatedManifest, manifest: await deps.readManifest(record.validatedManifest) }
    : await promoteToTier(
        deps.copier,
        carryForward(kept, tenant?.dailyManifest && (await deps.readManifest(tenant.dailyManifest))),
        staged,
        'daily',
      );
  const carried: CarriedPart[] = [
    ...daily.manifest.databases.flatMap((db) =>
      db.carriedFrom ? [{ kind: 'database' as const, name: db.database, runId: db.carriedFrom }] : [],
    ),
    ...(daily.manifest.archive?.carriedFrom
      ? [{ kind: 'archive' as const, name: 'archive', runId: daily.manifest.archive.carriedFrom }]
      : []),
  ];
  const todays = {
    databases: daily.manifest.databases.filter((db) => !db.carriedFrom),
    archive: daily.manifest.archive?.carriedFrom ? undefined : daily.manifest.archive,
  };
  const keptParts = {
    databases: todays.databases.map((db) => db.database),
    archive: todays.archive !== undefined,
    ...(carried.length > 0 ? { carried } : {}),
  };
  // Recorded at once: whatever happens next (a failed tier copy), the promoted parts are the run's validated backup.
  if (!record?.validatedManifest) await deps.runs.update(run.runId, { validatedManifest: daily.pointer, kept: keptParts, failures });

  // The weekly and monthly copies are made per part: the first run of the period that kept
  // anything is copied with every part's latest validated backup (carried ones included), so one
  // database that keeps failing never leaves a tier empty.
  const marks = { ...tenant?.tierMarks };
  const copies: Array<{ tier: CopyTier; manifest: ManifestPointer }> = [];
  for (const tier of tiersDue(now, marks, deps.kept)) {
    copies.push({ tier, manifest: (await promoteToTier(deps.copier, daily.manifest, daily.pointer, tier)).pointer });
    marks[tier] = periodOf(tier, now);
  }
  // Recorded for every promoted run, complete or not: the next run carries forward from this daily manifest.
  await deps.tenants.recordPromotion(run.tenantId, daily.pointer, marks satisfies TenantRecord['tierMarks']);
  // Seeding (core/seeding.ts): how far the archive has come, from the manifest as validated. A run
  // whose archive failed says nothing about it: the tenant's seeding state stays as it was.
  const progress = todays.archive ? archiveProgress(todays.archive) : undefined;
  if (progress && (tenant?.seeding || progress.pendingFiles > 0))
    await deps.tenants.recordSeeding(run.tenantId, nextSeeding(tenant?.seeding, progress, { runId: run.runId, finishedAt }));
  const keptBytes = todays.databases.reduce((total, db) => total + db.artifact.size, 0);
  const warnings = todays.databases.flatMap(actionsFor);
  const summary = {
    databases: todays.databases.length,
    databaseBytes: keptBytes,
    archiveFiles: todays.archive?.files ?? 0,
    archiveBytes: todays.archive?.bytes ?? 0,
    uploadedFiles: todays.archive?.uploadedFiles ?? 0,
    uploadedBytes: keptBytes + (todays.archive?.uploadedBytes ?? 0),
    durationSeconds: Math.round((now.getTime() - Date.parse(run.startedAt)) / 1000),
    /** Files the connector could not read consistently (listed in the manifest): a warning, not a failure. */
    skippedFiles: todays.archive?.skippedFiles ?? 0,
    /** Failed parts whose latest validated backup the daily manifest carries forward from an earlier run. */
    carriedParts: carried.length,
    /** Actions needed for kept databases (a TDE certificate whose private key was never backed up): alerted on, and `so-backup status` shows them. */
    warnings: warnings.length,
    /** The parts that failed (at the connector or in validation); the run is then FAILED. */
    failedParts: failures.length,
    /** The tiers this run was copied to besides daily ("weekly,monthly"), or "". */
    copiedTo: copies.map((copy) => copy.tier).join(','),
    /** Archive files and bytes the backup window's end left for the next run (seeding; 0: the archive is complete). */
    archivePendingFiles: progress?.pendingFiles ?? 0,
    archivePendingBytes: progress?.pendingBytes ?? 0,
  };
  const status: RunRecord['status'] = !complete
    ? 'FAILED'
    : summary.skippedFiles > 0 || summary.warnings > 0
      ? 'SUCCEEDED_WITH_WARNINGS'
      : 'SUCCEEDED';
  await deps.runs.update(run.runId, {
    status,
    finishedAt,
    summary,
    ...(warnings.length > 0 ? { actions: warnings } : {}),
    ...(copies.length > 0 ? { tierCopies: copies } : {}),
    ...(progress ? { archiveProgress: progress } : {}),
  });
  if (complete) await deps.tenants.recordSuccess(run.tenantId, run.runId, finishedAt, marks satisfies TenantRecord['tierMarks']);
  // The staged copies are promoted: delete markers let them expire a day from now rather than with staging.
  await deps.copier
    .retire(stagedKeys(kept))
    .catch((error: unknown) =>
      logger.warn(
        { runId: run.runId, err: (error as Error).message },
        'could not retire the promoted staging copies; they expire with staging',
      ),
    );
  return {
    status,
    failed: !complete,
    ...summary,
    /** For a run with failed parts: what failed and what was kept, for the alert. */
    ...(complete
      ? {}
      : {
          failureCause: `${failureCause(kept, carried)}${warnings.length ? ` — action needed: ${warnings.join(' | ')}` : ''}`.slice(
            0,
            8000,
          ),
        }),
    /** For a complete run whose kept backups need action (a TDE certificate not backed up): the alert to publish. */
    ...(complete && warnings.length > 0 ? { alert: actionAlert(run, warnings) } : {}),
  };
}

/** The staging keys a promotion copied from (the staged manifest stays until staging expires, for the record). */
function stagedKeys(manifest: Manifest): string[] {
  return [...manifest.databases.map((db) => db.artifact.key), ...(manifest.archive ? [manifest.archive.snapshot.key] : [])];
}

/** "database 2two: SQL_DATABASE_MISSING: …; kept and validated: database SuperOffice, the archive". */
export function failureCause(manifest: Manifest, carried: readonly CarriedPart[] = []): string {
  const failed = (manifest.failures ?? []).map((f) => `${f.kind} ${f.name}: ${f.error.code}: ${f.error.message}`);
  const keptParts = [...manifest.databases.map((db) => `database ${db.database}`), ...(manifest.archive ? ['the archive'] : [])];
  const still = carried.map((part) => `${part.kind === 'archive' ? 'the archive' : `database ${part.name}`} from run ${part.runId}`);
  return `${failed.join(' | ')} — kept and validated: ${keptParts.join(', ')}${still.length ? ` — latest validated backup still kept: ${still.join(', ')}` : ''}`.slice(
    0,
    8000,
  );
}

/**
 * What needs doing so that a kept database backup can be restored after a server loss: the
 * connector's warnings (a TDE certificate whose private key was never backed up, or could not be
 * checked), and the same concluded from the manifest's `tde` facts when the connector said
 * nothing (sys.certificates.pvt_key_last_backup_date empty). Each starts with the database.
 */
export function actionsFor(db: DatabaseBackup): string[] {
  const actions = (db.warnings ?? []).map((w) => `database ${db.database}: ${w}`);
  const tde = db.tde;
  if (actions.length === 0 && tde && (tde.encryptorType ?? 'CERTIFICATE') === 'CERTIFICATE' && !tde.privateKeyBackedUpAt) {
    const certificate = tde.certificate ? `"${tde.certificate}"` : `with thumbprint ${tde.thumbprint ?? 'unknown'}`;
    actions.push(
      `database ${db.database}: is encrypted with TDE certificate ${certificate}, whose private key has never been backed up: without it this backup cannot be restored on any other server. Back it up on the SQL Server (BACKUP CERTIFICATE … TO FILE = '…' WITH PRIVATE KEY (FILE = '…', ENCRYPTION BY PASSWORD = '…')) and keep the files and password apart from the backups.`,
    );
  }
  return actions;
}

/** The alert for a run that succeeded while a kept backup needs action to be restorable elsewhere. */
export function actionAlert(run: RunRef, actions: readonly string[]): { subject: string; message: string } {
  return {
    subject: `so-backup: backup of ${run.tenantId} needs action`.slice(0, 100),
    message: [
      `Backup run ${run.runId} of tenant ${run.tenantId} was validated and kept, but it cannot be restored after the loss of the SQL Server until this is done:`,
      '',
      ...actions.map((a) => `- ${a}`),
      '',
      '`so-backup status` shows the tenant as ACTION-NEEDED until a run no longer reports it.',
    ]
      .join('\n')
      .slice(0, 8000),
  };
}
