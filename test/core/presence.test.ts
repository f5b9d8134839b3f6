import { type ConnectionPurpose, connectionPurposeSchema, PRESENCE, presenceSchema } from '../../protocol';
import {
  checkInOverdue,
  connectionsOfCurrentKeys,
  describePresence,
  expectedCheckIn,
  nextBackupAt,
  presenceAt,
  type TenantRecord,
  waitingRun,
} from '../../core';
import { presenceSettings } from '../helpers/presence-settings';

const settings = presenceSettings();
const tenant = (fields: Partial<TenantRecord> = {}): TenantRecord => ({
  tenantId: 'acme',
  displayName: 'Acme',
  enabled: true,
  keys: [],
  createdAt: '2026-01-01T00:00:00.000Z',
  backupHour: 2,
  backupMinute: 15,
  ...fields,
});
const at = (iso: string) => new Date(iso);
const next = (now: string, t = tenant()) => nextBackupAt(t, settings.schedule, at(now))?.toISOString();

describe('nextBackupAt: the first instant of the tenant’s slot after now − holdMinutes', () => {
  it('on the spring-forward day (2026-03-29, Europe/Oslo: 02:00 → 03:00) a 02:15 slot is 03:15 CEST', () => {
    expect(next('2026-03-28T23:00:00Z')).toBe('2026-03-29T01:15:00.000Z');
    // Just after the slot (inside the hold): still this slot, so the connector stays for its run.
    expect(next('2026-03-29T01:20:00Z')).toBe('2026-03-29T01:15:00.000Z');
    expect(next(new Date(Date.parse('2026-03-29T01:15:00Z') + (PRESENCE.holdMinutes * 60_000 - 1000)).toISOString())).toBe(
      '2026-03-29T01:15:00.000Z',
    );
    // After the hold: the next day's 02:15 CEST.
    expect(next('2026-03-29T01:40:00Z')).toBe('2026-03-30T00:15:00.000Z');
    // The day before: 02:15 CET.
    expect(next('2026-03-27T12:00:00Z')).toBe('2026-03-28T01:15:00.000Z');
  });

  it('on the fall-back day (2026-10-25: 02:00–03:00 twice) only the first 02:15 counts', () => {
    expect(next('2026-10-24T22:00:00Z')).toBe('2026-10-25T00:15:00.000Z');
    // Past the first 02:15 and its hold, the repeated 02:15 (01:15Z) is not a second backup.
    expect(next('2026-10-25T00:40:00Z')).toBe('2026-10-26T01:15:00.000Z');
    expect(next('2026-10-25T01:15:00Z')).toBe('2026-10-26T01:15:00.000Z');
  });

  it('a tenant without its own time gets its slot in the stack’s window; a disabled one none', () => {
    const spread = nextBackupAt(tenant({ backupHour: undefined, backupMinute: undefined }), settings.schedule, at('2026-06-01T12:00:00Z'))!;
    // 02:00–06:00 CEST is 00:00–04:00Z, the next night.
    expect(spread.getTime()).toBeGreaterThanOrEqual(Date.parse('2026-06-02T00:00:00Z'));
    expect(spread.getTime()).toBeLessThan(Date.parse('2026-06-02T04:00:00Z'));
    expect(nextBackupAt(tenant({ enabled: false }), settings.schedule, at('2026-06-01T12:00:00Z'))).toBeUndefined();
  });
});

describe('presenceAt', () => {
  const now = at('2026-06-01T12:00:00Z');

  it('check-in (the stack default): the interval, the next slot, nothing waiting', () => {
    const presence = presenceAt(tenant(), settings, now);
    expect(presenceSchema.parse(presence)).toEqual({
      mode: 'check-in',
      checkInSeconds: 3600,
      nextBackupAt: '2026-06-02T00:15:00.000Z',
      stayUntil: null,
    });
  });

  it('always: the tenant’s own setting over the stack default, and the stack default over none', () => {
    expect(presenceAt(tenant({ presence: 'always' }), settings, now)).toEqual({ mode: 'always' });
    expect(presenceAt(tenant(), { ...settings, defaultMode: 'always' }, now)).toEqual({ mode: 'always' });
    expect(presenceAt(tenant({ presence: 'check-in' }), { ...settings, defaultMode: 'always' }, now).mode).toBe('check-in');
  });

  it('a run waiting for the connector: stay through its next retry (interval + margin)', () => {
    const waiting = { status: 'RUNNING' as const, startedAt: '2026-06-01T11:50:00.000Z' };
    const presence = presenceAt(tenant(), settings, now, waiting);
    expect(presence).toMatchObject({ mode: 'check-in', stayUntil: '2026-06-01T12:17:00.000Z' });
    // Handed to a connection already, finished, or left RUNNING long past its retries: nothing waits.
    expect(presenceAt(tenant(), settings, now, { ...waiting, connectionId: 'c1' })).toMatchObject({ stayUntil: null });
    expect(presenceAt(tenant(), settings, now, { ...waiting, status: 'SUCCEEDED' })).toMatchObject({ stayUntil: null });
    expect(waitingRun({ ...waiting, startedAt: '2026-06-01T07:00:00.000Z' }, settings, now)).toBe(false);
    expect(waitingRun({ ...waiting, startedAt: '2026-06-01T07:50:00.000Z' }, settings, now)).toBe(true);
  });
});

describe('how operators see a check-in connector', () => {
  const now = at('2026-06-01T12:00:00Z');

  it('resting is not offline until its check-in is overdue', () => {
    expect(describePresence('check-in', 3600, { lastSeen: '2026-06-01T11:48:00.000Z' }, now)).toBe(
      'checks in every 60 min, last seen 12 min ago',
    );
    expect(describePresence('check-in', 3600, { connectedAt: '2026-06-01T11:58:00.000Z' }, now)).toBe(
      'checks in every 60 min, connected now (for 2 min)',
    );
    expect(describePresence('always', 3600, { lastSeen: '2026-06-01T11:48:00.000Z' }, now)).toBe('offline, last seen 12 min ago');
    expect(checkInOverdue('check-in', 3600, '2026-06-01T11:00:00.000Z', now)).toBe(false);
    expect(checkInOverdue('check-in', 3600, '2026-06-01T10:30:00.000Z', now)).toBe(true);
    expect(checkInOverdue('always', 3600, '2026-06-01T11:59:00.000Z', now)).toBe(true);
  });

  it('expects it back after the interval (± jitter), or 5 to 10 minutes before its next backup', () => {
    expect(expectedCheckIn(3600, '2026-06-01T11:48:00.000Z', undefined)).toEqual({
      earliest: Date.parse('2026-06-01T12:42:00.000Z'),
      latest: Date.parse('2026-06-01T12:54:00.000Z'),
    });
    expect(expectedCheckIn(3600, '2026-06-01T11:48:00.000Z', at('2026-06-01T12:20:00.000Z'))).toEqual({
      earliest: Date.parse('2026-06-01T12:10:00.000Z'),
      latest: Date.parse('2026-06-01T12:15:00.000Z'),
    });
    // Never before it left.
    expect(expectedCheckIn(3600, '2026-06-01T12:13:00.000Z', at('2026-06-01T12:20:00.000Z'))).toEqual({
      earliest: Date.parse('2026-06-01T12:13:00.000Z'),
      latest: Date.parse('2026-06-01T12:15:00.000Z'),
    });
  });
});

describe("connections that are not the service's own (T18 #3)", () => {
  const tenant = { keys: [{ keyId: 'k1' }] } as unknown as Parameters<typeof connectionsOfCurrentKeys>[0];
  const connection = (connectionId: string, purpose?: ConnectionPurpose) => ({
    connectionId,
    tenantId: 'acme',
    keyId: 'k1',
    connectedAt: '2026-12-01T10:00:00.000Z',
    expiresAt: 0,
    ...(purpose ? { purpose } : {}),
  });

  it('a doctor probe, a restore or an enrolment takes no job or drill; the service connection does', () => {
    const all = [connection('doctor', 'doctor'), connection('restore', 'restore'), connection('enrol', 'enrol'), connection('service')];
    expect(connectionsOfCurrentKeys(tenant, all).map((c) => c.connectionId)).toEqual(['service']);
    expect(connectionsOfCurrentKeys(tenant, all.slice(0, 3))).toEqual([]);
  });

  it('the purpose header takes only the three purposes; anything else is the service', () => {
    expect(connectionPurposeSchema.safeParse('doctor').data).toBe('doctor');
    expect(connectionPurposeSchema.safeParse('service').data).toBeUndefined();
    expect(connectionPurposeSchema.safeParse(undefined).data).toBeUndefined();
  });
});
