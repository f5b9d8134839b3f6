import type { TenantRecord } from '../shared';

export interface OfflineConnector {
  tenantId: string;
  displayName: string;
  /** When its last connection ended; undefined when it never connected (counted from enrolment). */
  lastDisconnectedAt?: string;
  hoursOffline: number;
}

/**
 * Enabled tenants with no live connection for longer than the threshold (default 6 h): the
 * connector is stopped, the server is down, or the network blocks it. A connector reconnects
 * within minutes after API Gateway's 2-hour limit, so hours without one is never normal.
 */
export function findOfflineConnectors(tenants: TenantRecord[], online: ReadonlySet<string>, now: Date, thresholdHours = 6): OfflineConnector[] {
  return tenants
    .filter((t) => t.enabled && !online.has(t.tenantId))
    .map((t) => ({
      tenantId: t.tenantId, displayName: t.displayName, lastDisconnectedAt: t.lastDisconnectedAt,
      hoursOffline: (now.getTime() - Date.parse(t.lastDisconnectedAt ?? t.createdAt)) / 3_600_000,
    }))
    .filter((t) => t.hoursOffline > thresholdHours)
    .sort((a, b) => b.hoursOffline - a.hoursOffline);
}

/** Lines for the alert, one per tenant, worst first. */
export function offlineConnectorLines(offline: OfflineConnector[]): string[] {
  return offline.map((t) => `- ${t.tenantId} (${t.displayName}): ${t.lastDisconnectedAt ? `offline for ${Math.floor(t.hoursOffline)} h (since ${t.lastDisconnectedAt})` : `never connected (enrolled ${Math.floor(t.hoursOffline)} h ago)`}`);
}
