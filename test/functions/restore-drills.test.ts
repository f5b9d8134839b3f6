import { drillsDue, failingDrills, failingDrillsAlert } from '../../functions/src/request-drills/restore-drills';
import type { TenantRecord } from '../../functions/src/shared';

const now = new Date('2026-11-25T12:00:00Z');
const daysAgo = (d: number) => new Date(now.getTime() - d * 86_400_000).toISOString();
const tenant = (tenantId: string, more: Partial<TenantRecord> = {}): TenantRecord => ({ tenantId, displayName: tenantId, enabled: true, keys: [], createdAt: daysAgo(100), lastRunId: `${tenantId}-run`, ...more });
const drill = (ok: boolean, at: string) => ({ drillId: 'd', runId: 'r', ok, at, detail: ok ? 'database checked' : 'database failed: SQL Server error 8939' });

test('drills are due weekly for online tenants with a validated backup; offline, disabled or never backed-up tenants are not asked', () => {
  const tenants = [
    tenant('never-drilled'), tenant('drilled-8-days-ago', { lastDrill: drill(true, daysAgo(8)) }), tenant('drilled-yesterday', { lastDrill: drill(true, daysAgo(1)) }),
    tenant('offline'), tenant('disabled', { enabled: false }), tenant('no-backup-yet', { lastRunId: undefined }),
  ];
  const online = new Set(['never-drilled', 'drilled-8-days-ago', 'drilled-yesterday', 'disabled', 'no-backup-yet']);
  expect(drillsDue(tenants, online, now, 7).map((t) => t.tenantId)).toEqual(['never-drilled', 'drilled-8-days-ago']);
});

test('a drill is failing when it failed, or when it was asked for a day ago and never reported; the alert names each', () => {
  const failing = failingDrills([
    tenant('ok', { lastDrill: drill(true, daysAgo(2)) }),
    tenant('failed', { lastDrill: drill(false, daysAgo(2)) }),
    tenant('silent', { drillRequestedAt: daysAgo(1.5), lastDrill: drill(true, daysAgo(9)) }),
    tenant('just-asked', { drillRequestedAt: daysAgo(0.1) }),
    tenant('disabled', { enabled: false, lastDrill: drill(false, daysAgo(2)) }),
  ], now);
  expect(failing.map((f) => f.tenantId)).toEqual(['failed', 'silent']);
  const alert = failingDrillsAlert(failing);
  expect(alert.subject).toBe('so-backup: 2 restore drill(s) failing');
  expect(alert.message).toContain('- failed (failed): drill of run r at 2026-11-23T12:00:00.000Z failed: database failed: SQL Server error 8939');
  expect(alert.message).toContain('- silent (silent): no drill result since it was asked for at');
});
