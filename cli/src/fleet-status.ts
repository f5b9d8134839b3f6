import { describeSeeding, type RunRecord, seedingStalled, type TenantRecord } from '../../core';
import type { ConnectorState } from './tenants';

export type Health =
  | 'never-backed-up'
  | 'stale'
  | 'failing'
  | 'seeding-stalled'
  | 'drill-failing'
  | 'action-needed'
  | 'connector-offline'
  | 'ok';

export interface TenantStatus {
  tenantId: string;
  name: string;
  health: Health;
  /** Hours since the last validated backup (undefined: never). */
  lastBackupAgeHours?: number;
  stale: boolean;
  lastSuccessAt?: string;
  /** Connected now; resting (a check-in connector between its check-ins: not offline); or offline. */
  connector: 'online' | 'resting' | 'offline';
  connectorLastSeen?: string;
  /** In one line ("checks in every 60 min, last seen 12 min ago"), when known. */
  connectorState?: string;
  /** The reason of the latest run, when it failed. */
  lastFailure?: string;
  /**
   * What must be done so the latest run's kept backups restore after a server loss (a TDE
   * certificate whose private key was never backed up: it names the certificate and the fix).
   */
  actions?: string[];
  /**
   * An archive being sent over several nights (core/seeding.ts): "seeding 42 %, about 2 more
   * nights"; the tenant is not stale for it while its databases validate. Stalled: no progress for a day.
   */
  seeding?: string;
  /** When the seeding last made progress (sent backlog): what the stalled alarm goes by. */
  seedingLastProgressAt?: string;
  seedingStalled: boolean;
  /** The latest restore drill: when, whether it passed, what it checked or why it failed. */
  lastDrill?: { at: string; ok: boolean; runId: string; detail: string };
}

const SEVERITY: Record<Health, number> = {
  'never-backed-up': 0,
  stale: 1,
  failing: 2,
  'seeding-stalled': 3,
  'drill-failing': 4,
  'action-needed': 5,
  'connector-offline': 6,
  ok: 7,
};

/**
 * The fleet at a glance, worst first: never backed up, then stale (no validated backup within
 * `staleAfterHours`), then failing, then an archive whose seeding made no progress for a day
 * (a tenant that is seeding is otherwise healthy: its databases validate every night), then a
 * failed restore drill, then action needed (the latest run's backups are kept but cannot be
 * restored elsewhere until someone acts: a TDE certificate never backed up), then connector
 * offline (a check-in connector resting between its check-ins is not); oldest backups first within each.
 * `latestRuns`: each tenant's latest finished run.
 */
export function fleetStatus(
  tenants: readonly TenantRecord[],
  connectors: ReadonlyArray<Pick<ConnectorState, 'tenantId' | 'online' | 'lastSeen'> & Partial<ConnectorState>>,
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
      const stalled = tenant.seeding !== undefined && seedingStalled(tenant.seeding, now);
      const health: Health =
        age === undefined
          ? 'never-backed-up'
          : stale
            ? 'stale'
            : lastFailure
              ? 'failing'
              : stalled
                ? 'seeding-stalled'
                : drillFailed
                  ? 'drill-failing'
                  : actions
                    ? 'action-needed'
                    : connector?.online || connector?.resting
                      ? 'ok'
                      : 'connector-offline';
      return {
        tenantId: tenant.tenantId,
        name: tenant.displayName,
        health,
        lastBackupAgeHours: age === undefined ? undefined : Math.round(age * 10) / 10,
        stale,
        lastSuccessAt: tenant.lastSuccessAt,
        connector: connector?.online ? 'online' : connector?.resting ? 'resting' : 'offline',
        connectorLastSeen: connector?.lastSeen,
        ...(connector?.state ? { connectorState: connector.state } : {}),
        lastFailure,
        actions,
        ...(tenant.seeding ? { seeding: describeSeeding(tenant.seeding, now), seedingLastProgressAt: tenant.seeding.lastProgressAt } : {}),
        seedingStalled: stalled,
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
