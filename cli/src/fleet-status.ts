import type { RunRecord, TenantRecord } from '../../functions/src/shared';
import type { ConnectorState } from './tenants';

export type Health = 'never-backed-up' | 'stale' | 'failing' | 'connector-offline' | 'ok';

export interface TenantStatus {
  tenantId: string;
  name: string;
  health: Health;
  /** Hours since the last validated backup (undefined: never). */
  lastBackupAgeHours?: number;
  stale: boolean;
  lastSuccessAt?: string;
  connector: 'online' | 'offline';
  connectorLastSeen?: string;
  /** The reason of the latest run, when it failed. */
  lastFailure?: string;
}

const SEVERITY: Record<Health, number> = { 'never-backed-up': 0, stale: 1, failing: 2, 'connector-offline': 3, ok: 4 };

/**
 * The fleet at a glance, worst first: never backed up, then stale (no validated backup within
 * `staleAfterHours`), then failing, then connector offline; oldest backups first within each.
 */
export function fleetStatus(tenants: readonly TenantRecord[], connectors: readonly ConnectorState[], latestRuns: ReadonlyMap<string, RunRecord | undefined>, now: Date, staleAfterHours: number): TenantStatus[] {
  const byTenant = new Map(connectors.map((c) => [c.tenantId, c]));
  return tenants.filter((t) => t.enabled).map((tenant): TenantStatus => {
    const age = tenant.lastSuccessAt ? (now.getTime() - Date.parse(tenant.lastSuccessAt)) / 3_600_000 : undefined;
    const stale = age === undefined || age > staleAfterHours;
    const latest = latestRuns.get(tenant.tenantId);
    const lastFailure = latest?.status === 'FAILED' ? `${latest.failure?.error ?? 'Failed'}: ${latest.failure?.cause ?? ''}`.trim() : undefined;
    const connector = byTenant.get(tenant.tenantId);
    const health: Health = age === undefined ? 'never-backed-up' : stale ? 'stale' : lastFailure ? 'failing' : connector?.online ? 'ok' : 'connector-offline';
    return {
      tenantId: tenant.tenantId, name: tenant.displayName, health, lastBackupAgeHours: age === undefined ? undefined : Math.round(age * 10) / 10, stale,
      lastSuccessAt: tenant.lastSuccessAt, connector: connector?.online ? 'online' : 'offline', connectorLastSeen: connector?.lastSeen, lastFailure,
    };
  }).sort((a, b) => SEVERITY[a.health] - SEVERITY[b.health] || (b.lastBackupAgeHours ?? Infinity) - (a.lastBackupAgeHours ?? Infinity) || a.tenantId.localeCompare(b.tenantId));
}
