import { findStaleTenants, staleTenantsAlert } from '../../functions/src/check-stale-tenants/stale-tenants';
import type { TenantRecord } from '../../functions/src/shared';

const now = new Date('2026-11-25T12:00:00Z');
const tenant = (tenantId: string, fields: Partial<TenantRecord>): TenantRecord => ({ tenantId, displayName: tenantId.toUpperCase(), enabled: true, keys: [], createdAt: '2026-01-01T00:00:00Z', ...fields });

describe('stale tenants', () => {
  test('GIVEN tenants WHEN checked THEN only enabled ones without a validated backup for 26 h are stale, worst first', () => {
    const stale = findStaleTenants([
      tenant('fresh', { lastSuccessAt: '2026-11-25T02:30:00Z' }),
      tenant('late', { lastSuccessAt: '2026-11-24T08:00:00Z' }),
      tenant('stopped', { lastSuccessAt: '2026-05-25T02:00:00Z' }),
      tenant('never', { createdAt: '2026-11-20T00:00:00Z' }),
      tenant('new', { createdAt: '2026-11-25T09:00:00Z' }),
      tenant('off', { enabled: false, lastSuccessAt: '2026-01-01T00:00:00Z' }),
    ], now);
    expect(stale.map((t) => t.tenantId)).toEqual(['stopped', 'never', 'late']);
  });

  test('the alert names each stale tenant and how long it has been', () => {
    const alert = staleTenantsAlert(findStaleTenants([tenant('stopped', { lastSuccessAt: '2026-05-25T02:00:00Z' }), tenant('never', { createdAt: '2026-11-20T00:00:00Z' })], now), 26);
    expect(alert.subject).toBe('so-backup: 2 tenant(s) without a validated backup for 26 h');
    expect(alert.message).toMatch(/- stopped \(STOPPED\): last validated backup 4426 h ago/);
    expect(alert.message).toMatch(/- never \(NEVER\): no validated backup ever/);
  });
});
