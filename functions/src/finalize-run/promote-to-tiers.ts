import { type Artifact, keyLayout, type Manifest, type ManifestPointer, type RetentionTier } from '../../../protocol';

/** The tiers made by copying a validated daily backup inside S3. */
export type CopyTier = Exclude<RetentionTier, 'daily'>;
export const COPY_TIERS: readonly CopyTier[] = ['weekly', 'monthly'];

/** The period (ISO week "2026-W48", month "2026-11", UTC) each tier last received a copy for. */
export type TierMarks = Partial<Record<CopyTier, string>>;

/** How many backups each copy tier keeps; 0 turns the tier off. */
export type CopyTiersKept = Record<CopyTier, number>;

export function periodOf(tier: CopyTier, at: Date): string {
  if (tier === 'monthly') return at.toISOString().slice(0, 7);
  // ISO 8601 week: the week belongs to the year of its Thursday.
  const thursday = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate()));
  thursday.setUTCDate(thursday.getUTCDate() + 3 - ((thursday.getUTCDay() + 6) % 7));
  const week = 1 + Math.floor((thursday.getTime() - Date.UTC(thursday.getUTCFullYear(), 0, 1)) / (7 * 86_400_000));
  return `${thursday.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}

/**
 * The tiers a validated run is copied to: each enabled tier that has no copy for the current
 * period yet. The first validated run of a week (month) becomes that week's (month's) backup, so
 * a failed Monday is covered by Tuesday's run.
 */
export function tiersDue(now: Date, marks: TierMarks, kept: CopyTiersKept): CopyTier[] {
  return COPY_TIERS.filter((tier) => kept[tier] > 0 && marks[tier] !== periodOf(tier, now));
}

/** Server-side copies inside the backup bucket, each proven equal to its source by S3's checksum. */
export interface VersionCopier {
  /** Copies the exact source version to `targetKey`; the result is the new version, verified. */
  copy(source: Artifact, targetKey: string): Promise<Artifact>;
  putJson(key: string, body: unknown): Promise<ManifestPointer>;
  /** Puts delete markers on promoted staging keys, so their versions expire with staging's noncurrent rule. */
  retire(keys: readonly string[]): Promise<void>;
}

/**
 * Promotes a run into a tier: each database backup and the archive snapshot the manifest names
 * are copied (server-side, at their exact versions) to the tier's keys, then a manifest naming
 * those copies and the manifest they came from is written as the tier's new version. Into the
 * daily tier it promotes the validated parts of the run's staged upload; into weekly and monthly,
 * the validated daily manifest (parts carried forward included: each tier copy holds every
 * part's latest validated backup). Archive files are not copied: the snapshot names their exact
 * versions, which are kept at least as long as the longest tier.
 */
export async function promoteToTier(
  copier: VersionCopier,
  manifest: Manifest,
  source: ManifestPointer,
  tier: RetentionTier,
): Promise<{ pointer: ManifestPointer; manifest: Manifest }> {
  // Into daily, a part carried forward is already there (its daily version, still current): named again, not copied again.
  const copied = (part: { carriedFrom?: string }) => tier !== 'daily' || part.carriedFrom === undefined;
  const databases = [];
  for (const db of manifest.databases) {
    databases.push(
      copied(db) ? { ...db, artifact: await copier.copy(db.artifact, keyLayout.databaseBackup(manifest.tenantId, db.database, tier)) } : db,
    );
  }
  const archive =
    manifest.archive &&
    (copied(manifest.archive)
      ? { ...manifest.archive, snapshot: await copier.copy(manifest.archive.snapshot, keyLayout.snapshot(manifest.tenantId, tier)) }
      : manifest.archive);
  const copy: Manifest = { ...manifest, databases, archive, tier, promotedFrom: source };
  return { pointer: await copier.putJson(keyLayout.manifest(manifest.tenantId, tier), copy), manifest: copy };
}

/**
 * The daily manifest's parts that failed in this run, carried forward from the previous daily
 * manifest: each database (by name) and the archive that failed today (at the connector or in
 * validation) keeps its latest validated backup named, with `carriedFrom` the run it came from,
 * so the newest daily manifests always name every part's last good backup and keep-last-N on the
 * manifest key never expires it (docs/retention.md). A part that did not fail today and is not
 * in today's run (a database taken out of the configuration) is not carried. Pure.
 */
export function carryForward(kept: Manifest, previous: Manifest | undefined): Manifest {
  if (!previous) return kept;
  const failures = kept.failures ?? [];
  const failedDatabases = new Set(failures.filter((f) => f.kind === 'database').map((f) => f.name));
  const carriedDatabases = previous.databases
    .filter((db) => failedDatabases.has(db.database) && !kept.databases.some((k) => k.database === db.database))
    .map((db) => ({ ...db, carriedFrom: db.carriedFrom ?? previous.runId }));
  const archiveFailed = failures.some((f) => f.kind === 'archive');
  const archive =
    kept.archive ??
    (archiveFailed && previous.archive ? { ...previous.archive, carriedFrom: previous.archive.carriedFrom ?? previous.runId } : undefined);
  return { ...kept, databases: [...kept.databases, ...carriedDatabases], archive };
}
