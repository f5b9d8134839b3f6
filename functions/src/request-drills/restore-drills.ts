import type { IssuedDrill, TenantRecord } from '../shared';

/** A drill request unanswered for this long counts as a failed drill. */
export const DRILL_ANSWER_HOURS = 24;
/** A drill's result is accepted this long after it was asked for (a large database restores slowly); later it is refused. */
export const DRILL_RESULT_HOURS = 48;

/** The drill to record as issued, and the tenant's issued drills that have expired (to drop). */
export function issueDrill(tenant: Pick<TenantRecord, 'issuedDrills'>, runId: string, now: Date): { drill: IssuedDrill; expired: string[] } {
  const expired = Object.entries(tenant.issuedDrills ?? {}).filter(([, d]) => d.expiresAt <= now.toISOString()).map(([id]) => id);
  return { drill: { runId, issuedAt: now.toISOString(), expiresAt: new Date(now.getTime() + DRILL_RESULT_HOURS * 3_600_000).toISOString() }, expired };
}

/**
 * Enabled tenants whose last drill is older than the interval (or who never had one) and whose
 * connector is online: the ones to ask for a drill now. A tenant asked already and not yet
 * answered is asked again (the connector skips a drill while a backup runs).
 */
export function drillsDue(tenants: readonly TenantRecord[], online: ReadonlySet<string>, now: Date, intervalDays: number): TenantRecord[] {
  return tenants.filter((t) => {
    if (!t.enabled || !online.has(t.tenantId) || !t.lastRunId) return false;
    const last = t.lastDrill ? Date.parse(t.lastDrill.at) : -Infinity;
    return now.getTime() - last >= intervalDays * 86_400_000;
  });
}

export interface FailingDrill {
  tenantId: string;
  displayName: string;
  reason: string;
}

/** Enabled tenants whose latest drill failed, or whose drill request has gone unanswered for a day. */
export function failingDrills(tenants: readonly TenantRecord[], now: Date): FailingDrill[] {
  const failing: FailingDrill[] = [];
  for (const t of tenants.filter((tenant) => tenant.enabled)) {
    const requested = t.drillRequestedAt ? Date.parse(t.drillRequestedAt) : undefined;
    if (requested !== undefined && now.getTime() - requested > DRILL_ANSWER_HOURS * 3_600_000) {
      failing.push({ tenantId: t.tenantId, displayName: t.displayName, reason: `no drill result since it was asked for at ${t.drillRequestedAt}` });
    } else if (t.lastDrill && !t.lastDrill.ok) {
      failing.push({ tenantId: t.tenantId, displayName: t.displayName, reason: `drill of run ${t.lastDrill.runId} at ${t.lastDrill.at} failed: ${t.lastDrill.detail}` });
    }
  }
  return failing;
}

export function failingDrillsAlert(failing: readonly FailingDrill[]): { subject: string; message: string } {
  return {
    subject: `so-backup: ${failing.length} restore drill(s) failing`.slice(0, 100),
    message: [
      'Restore drills prove that backups restore. These tenants\' latest drills failed or did not report:', '',
      ...failing.map((f) => `- ${f.tenantId} (${f.displayName}): ${f.reason}`), '',
      'Run `so-backup tenants show <tenant>` for the drill details, and `so-connector restore` by hand to reproduce.',
    ].join('\n'),
  };
}
