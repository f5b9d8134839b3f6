import type { TenantRecord } from '../../../core';

export interface StaleTenant {
  tenantId: string;
  displayName: string;
  /** The last validated backup, or undefined when there never was one. */
  lastSuccessAt?: string;
  hoursSince: number;
}

/**
 * Enabled tenants without a validated backup for longer than the threshold (default 26 h: a day
 * plus slack for a late schedule). A tenant that never had one counts from its creation.
 */
export function findStaleTenants(tenants: TenantRecord[], now: Date, thresholdHours = 26): StaleTenant[] {
  return tenants
    .filter((t) => t.enabled)
    .map((t) => {
      const since = Date.parse(t.lastSuccessAt ?? t.createdAt);
      return {
        tenantId: t.tenantId,
        displayName: t.displayName,
        lastSuccessAt: t.lastSuccessAt,
        hoursSince: (now.getTime() - since) / 3_600_000,
      };
    })
    .filter((t) => t.hoursSince > thresholdHours)
    .sort((a, b) => b.hoursSince - a.hoursSince);
}

/** The alert naming every stale tenant, worst first. */
export function staleTenantsAlert(stale: StaleTenant[], thresholdHours: number): { subject: string; message: string } {
  const lines = stale.map(
    (t) =>
      `- ${t.tenantId} (${t.displayName}): ${t.lastSuccessAt ? `last validated backup ${Math.floor(t.hoursSince)} h ago (${t.lastSuccessAt})` : `no validated backup ever (enrolled ${Math.floor(t.hoursSince)} h ago)`}`,
  );
  return {
    subject: `so-backup: ${stale.length} tenant(s) without a validated backup for ${thresholdHours} h`.slice(0, 100),
    message: [
      `These tenants have had no validated backup for more than ${thresholdHours} hours:`,
      '',
      ...lines,
      '',
      'Check their runs in the Step Functions console and their connectors (so-connector doctor).',
    ].join('\n'),
  };
}
