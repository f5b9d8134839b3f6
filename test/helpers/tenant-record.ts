import type { TenantRecord } from '../../core';

/** An enabled tenant with no keys yet whose backup is due at 02:00 (its own time zone); extra replaces fields. */
export function tenantRecord(tenantId: string, extra: Partial<TenantRecord> = {}): TenantRecord {
  return {
    tenantId,
    displayName: tenantId,
    enabled: true,
    keys: [],
    createdAt: '',
    backupHour: 2,
    backupMinute: 0,
    ...extra,
  };
}
