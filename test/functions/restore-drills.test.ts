import {
  drillDatabase,
  drillsDue,
  drillVerdict,
  failingDrills,
  failingDrillsAlert,
} from '../../functions/src/request-drills/restore-drills';
import type { DrillResult } from '../../protocol';
import type { TenantRecord } from '../../core';

const now = new Date('2026-11-25T12:00:00Z');
const daysAgo = (d: number) => new Date(now.getTime() - d * 86_400_000).toISOString();
const tenant = (tenantId: string, more: Partial<TenantRecord> = {}): TenantRecord => ({
  tenantId,
  displayName: tenantId,
  enabled: true,
  keys: [],
  createdAt: daysAgo(100),
  lastRunId: `${tenantId}-run`,
  ...more,
});
const drill = (ok: boolean, at: string) => ({
  drillId: 'd',
  runId: 'r',
  ok,
  at,
  detail: ok ? 'database checked' : 'database failed: SQL Server error 8939',
});

test('drills are due weekly for online tenants with a validated backup; offline, disabled or never backed-up tenants are not asked', () => {
  const tenants = [
    tenant('never-drilled'),
    tenant('drilled-8-days-ago', { lastDrill: drill(true, daysAgo(8)) }),
    tenant('drilled-yesterday', { lastDrill: drill(true, daysAgo(1)) }),
    tenant('offline'),
    tenant('disabled', { enabled: false }),
    tenant('no-backup-yet', { lastRunId: undefined }),
  ];
  const online = new Set(['never-drilled', 'drilled-8-days-ago', 'drilled-yesterday', 'disabled', 'no-backup-yet']);
  expect(drillsDue(tenants, online, now, 7).map((t) => t.tenantId)).toEqual(['never-drilled', 'drilled-8-days-ago']);
});

test('a drill is failing when it failed, or when it was asked for a day ago and never reported; the alert names each', () => {
  const failing = failingDrills(
    [
      tenant('ok', { lastDrill: drill(true, daysAgo(2)) }),
      tenant('failed', { lastDrill: drill(false, daysAgo(2)) }),
      tenant('silent', { drillRequestedAt: daysAgo(1.5), lastDrill: drill(true, daysAgo(9)) }),
      tenant('just-asked', { drillRequestedAt: daysAgo(0.1) }),
      tenant('disabled', { enabled: false, lastDrill: drill(false, daysAgo(2)) }),
    ],
    now,
  );
  expect(failing.map((f) => f.tenantId)).toEqual(['failed', 'silent']);
  const alert = failingDrillsAlert(failing);
  expect(alert.subject).toBe('so-backup: 2 restore drill(s) failing');
  expect(alert.message).toContain(
    '- failed (failed): drill of run r at 2026-11-23T12:00:00.000Z failed: database failed: SQL Server error 8939',
  );
  expect(alert.message).toContain('- silent (silent): no drill result since it was asked for at');
});

describe('what a drill checked, held against what it asked', () => {
  const result = (parts: Partial<DrillResult>): DrillResult => ({
    type: 'drill-result',
    v: 1,
    drillId: 'acme-drill-0001',
    runId: 'acme-2026-11-25-daily',
    ok: true,
    startedAt: '2026-11-25T03:00:00.000Z',
    finishedAt: '2026-11-25T03:05:00.000Z',
    ...parts,
  });
  const checked = (name: string) => ({
    name,
    status: 'checked' as const,
    detail: `${name} restored and DBCC CHECKDB found no errors`,
    seconds: 3,
  });
  const asked = { database: true, databaseName: '2two', sampleFiles: 20 };

  test('a drill passes only when every part asked for was checked', () => {
    expect(drillVerdict(result({ database: checked('2two'), archive: { sampled: 20, verified: 20 } }), asked)).toEqual({
      ok: true,
      detail: 'database 2two checked: 2two restored and DBCC CHECKDB found no errors; archive 20 of 20 sampled files verified',
    });
    expect(drillVerdict(result({ database: checked('2two'), archive: { sampled: 0, verified: 0 } }), asked).ok).toBe(true); // an empty archive
    expect(drillVerdict(result({ archive: { sampled: 5, verified: 5 } }), { database: false, sampleFiles: 5 }).ok).toBe(true);
  });

  test.each([
    [
      'the database asked for not reported',
      result({ archive: { sampled: 20, verified: 20 } }),
      'a database restore was asked for and not reported',
    ],
    [
      'another database restored',
      result({ database: checked('SuperOffice'), archive: { sampled: 20, verified: 20 } }),
      'database 2two was asked for, SuperOffice was restored',
    ],
    [
      'the database skipped',
      result({
        database: { name: '2two', status: 'skipped', detail: 'not enough space', seconds: 0 },
        archive: { sampled: 20, verified: 20 },
      }),
      'the database restore asked for was skipped, not checked',
    ],
    ['no archive part', result({ database: checked('2two') }), '20 archive files were asked for and no archive part was reported'],
    [
      'a sampled file that did not verify',
      result({ database: checked('2two'), archive: { sampled: 20, verified: 19 } }),
      '1 of 20 sampled files did not verify',
    ],
    [
      'nothing at all',
      result({}),
      'a database restore was asked for and not reported; 20 archive files were asked for and no archive part was reported',
    ],
  ])('GIVEN a result with %s WHEN held to what was asked THEN it is not a pass, and says why', (_, drill, why) => {
    const verdict = drillVerdict(drill, asked);
    expect(verdict.ok).toBe(false);
    expect(verdict.detail).toContain(why);
    expect(verdict.detail).toMatch(/^NOT A PASS: /);
  });

  test('a failed drill keeps RestoreDrillsFailing firing until a drill passes', () => {
    const lastDrill = {
      drillId: 'd',
      runId: 'r',
      at: daysAgo(1),
      ...drillVerdict(result({ database: { name: '2two', status: 'skipped', detail: 'not enough space', seconds: 0 } }), asked),
    };
    expect(failingDrills([tenant('skipped', { lastDrill })], now).map((f) => f.tenantId)).toEqual(['skipped']);
  });

  test("drills rotate through the run's databases in name order, the one after the last drilled", () => {
    const names = ['SuperOffice', '2two', "O'Brien CRM", '顧客'];
    const order: Array<string | undefined> = [];
    let last: string | undefined;
    for (let i = 0; i < 5; i++) order.push((last = drillDatabase(names, last)));
    expect(order).toEqual(['2two', "O'Brien CRM", 'SuperOffice', '顧客', '2two']);
    expect(drillDatabase(['SuperOffice'], 'gone')).toBe('SuperOffice');
    expect(drillDatabase([], undefined)).toBeUndefined();
  });
});
