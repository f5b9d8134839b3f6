import type { RunRecord, TenantRecord } from '../../core';
import type { ConnectorState } from './tenants';

export type Health = 'never-backed-up' | 'stale' | 'failing' | 'drill-failing' | 'action-needed' | 'connector-offline' | 'ok';

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
  /**
   * What must be done so the latest run's kept backups restore after a server loss (a TDE
   * certificate whose private key was never backed up: it names the certificate and the fix).
   */
  actions?: string[];
  /** The latest restore drill: when, whether it passed, what it checked or why it failed. */
  lastDrill?: { at: string; ok: boolean; runId: string; detail: string };
}

const SEVERITY: Record<Health, number> = {
  'never-backed-up': 0,
  stale: 1,
  failing: 2,
  'drill-failing': 3,
  'action-needed': 4,
  'connector-offline': 5,
  ok: 6,
};

/**
 * The fleet at a glance, worst first: never backed up, then stale (no validated backup within
 * `staleAfterHours`), then failing, then a failed restore drill, then action needed (the latest
 * run's backups are kept but cannot be restored elsewhere until someone acts: a TDE
 * certificate never backed up), then connector offline; oldest backups first within each.
 * `latestRuns`: each tenant's latest finished run.
 */
export function fleetStatus(
  tenants: readonly TenantRecord[],
  connectors: readonly ConnectorState[],
  latestRuns: ReadonlyMap<string, RunRecord | undefined>,
  now: Date,
  staleAfterHours: number,
): TenantStatus[] {
  const byTenant = new Map(connectors.map((c) => [c.tenantId, c]));
  return tenants
    .filter((t) => t.enabled)
    .map((tenant): TenantStatus => {
      const age = tenant.lastSuccessAt ? (now.getTime() - Date.parse(tenant.lastSuccessAt)) / 3_600_000 : undefined;
      const stale = age === undefined || age > staleAfterHours;
      const latest = latestRuns.get(tenant.tenantId);
      const lastFailure =
        latest?.status === 'FAILED' ? `${latest.failure?.error ?? 'Failed'}: ${latest.failure?.cause ?? ''}`.trim() : undefined;
      const connector = byTenant.get(tenant.tenantId);
      const drillFailed = tenant.lastDrill?.ok === false;
      const actions = latest?.actions?.length ? latest.actions : undefined;
      const health: Health =
        age === undefined
          ? 'never-backed-up'
          : stale
            ? 'stale'
            : lastFailure
              ? 'failing'
              : drillFailed
                ? 'drill-failing'
                : actions
                  ? 'action-needed'
                  : connector?.online
                    ? 'ok'
                    : 'connector-offline';
      return {
        tenantId: tenant.tenantId,
        name: tenant.displayName,
        health,
        lastBackupAgeHours: age === undefined ? undefined : Math.round(age * 10) / 10,
        stale,
        lastSuccessAt: tenant.lastSuccessAt,
        connector: connector?.online ? 'online' : 'offline',
        connectorLastSeen: connector?.lastSeen,
        lastFailure,
        actions,
        lastDrill: tenant.lastDrill && {
          at: tenant.lastDrill.at,
          ok: tenant.lastDrill.ok,
          runId: tenant.lastDrill.runId,
          detail: tenant.lastDrill.detail,
        },
      };
    })
    .sort(
      (a, b) =>
        SEVERITY[a.health] - SEVERITY[b.health] ||
        (b.lastBackupAgeHours ?? Infinity) - (a.lastBackupAgeHours ?? Infinity) ||
        a.tenantId.localeCompare(b.tenantId),
    );
}
