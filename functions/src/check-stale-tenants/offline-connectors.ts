import type { TenantRecord } from '../../../core';

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
export function findOfflineConnectors(
  tenants: TenantRecord[],
  online: ReadonlySet<string>,
  now: Date,
  thresholdHours = 6,
): OfflineConnector[] {
  return tenants
    .filter((t) => t.enabled && !online.has(t.tenantId))
    .map((t) => ({
      tenantId: t.tenantId,
      displayName: t.displayName,
      lastDisconnectedAt: t.lastDisconnectedAt,
      hoursOffline: (now.getTime() - Date.parse(t.lastDisconnectedAt ?? t.createdAt)) / 3_600_000,
    }))
    .filter((t) => t.hoursOffline > thresholdHours)
    .sort((a, b) => b.hoursOffline - a.hoursOffline);
}

/** The alert naming every offline connector, worst first. */
export function offlineConnectorsAlert(offline: OfflineConnector[], thresholdHours: number): { subject: string; message: string } {
  const lines = offline.map(
    (t) =>
      `- ${t.tenantId} (${t.displayName}): ${t.lastDisconnectedAt ? `offline for ${Math.floor(t.hoursOffline)} h (since ${t.lastDisconnectedAt})` : `never connected (enrolled ${Math.floor(t.hoursOffline)} h ago)`}`,
  );
  return {
    subject: `so-backup: ${offline.length} connector(s) offline for more than ${thresholdHours} h`.slice(0, 100),
    message: [
      `Connectors offline for more than ${thresholdHours} hours (their next backups will fail):`,
      '',
      ...lines,
      '',
      'Ask customer IT to check the so-backup service and run so-connector doctor.',
    ].join('\n'),
  };
}
