import { describeSeeding, SEEDING_STALLED_AFTER_HOURS, seedingStalled, type TenantRecord } from '../../../core';

export interface StalledSeeding {
  tenantId: string;
  displayName: string;
  /** "seeding 42 %, about 3 more nights — NO PROGRESS for 30h" (core/seeding.ts). */
  text: string;
  lastProgressAt: string;
  startedAt: string;
}

/**
 * Enabled tenants whose archive is being seeded over several nights (core/seeding.ts) and has made
 * no progress for `thresholdHours` (default a day): no run sent any of it and none left less
 * pending. The tenant is not stale (its databases validate every night), so without this a
 * seeding that never ends would go unnoticed; most stalls are an archive run that keeps failing
 * or a window too short to send even one large file.
 */
export function findStalledSeeding(tenants: TenantRecord[], now: Date, thresholdHours = SEEDING_STALLED_AFTER_HOURS): StalledSeeding[] {
  return tenants
    .filter((t) => t.enabled && t.seeding !== undefined && seedingStalled(t.seeding, now, thresholdHours))
    .map((t) => ({
      tenantId: t.tenantId,
      displayName: t.displayName,
      text: describeSeeding(t.seeding!, now),
      lastProgressAt: t.seeding!.lastProgressAt,
      startedAt: t.seeding!.startedAt,
    }))
    .sort((a, b) => a.lastProgressAt.localeCompare(b.lastProgressAt) || a.tenantId.localeCompare(b.tenantId));
}

/** The alert naming every tenant whose seeding stalled, longest stalled first. */
export function stalledSeedingAlert(stalled: StalledSeeding[], thresholdHours: number): { subject: string; message: string } {
  return {
    subject: `so-backup: ${stalled.length} tenant(s) whose archive seeding made no progress for ${thresholdHours} h`.slice(0, 100),
    message: [
      `These tenants' archives are being sent over several nights, and none of their runs sent any of it for more than ${thresholdHours} hours:`,
      '',
      ...stalled.map(
        (t) => `- ${t.tenantId} (${t.displayName}): ${t.text}; last progress ${t.lastProgressAt}, seeding since ${t.startedAt}`,
      ),
      '',
      "Their databases are still backed up. Check the runs' archive part (so-backup runs, so-backup run show) and the backup window (so-backup tenants show): a window too short for one large file sends nothing.",
    ].join('\n'),
  };
}
