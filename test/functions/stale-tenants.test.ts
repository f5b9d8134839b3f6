import { findStaleTenants, staleTenantsAlert } from '../../functions/src/check-stale-tenants/stale-tenants';
import { findOfflineConnectors, offlineConnectorsAlert } from '../../functions/src/check-stale-tenants/offline-connectors';
import { presenceAt, type TenantRecord } from '../../core';
import { presenceDecision } from '../../protocol';
import { putMetrics } from '../../functions/src/shared';
import { seedingState } from '../helpers/seeding';
import { findStalledSeeding, stalledSeedingAlert } from '../../functions/src/check-stale-tenants/stalled-seeding';
import { presenceSettings } from '../helpers/presence-settings';

const now = new Date('2026-11-25T12:00:00Z');
const tenant = (tenantId: string, fields: Partial<TenantRecord>): TenantRecord => ({
  tenantId,
  displayName: tenantId.toUpperCase(),
  enabled: true,
  keys: [],
  createdAt: '2026-01-01T00:00:00Z',
  ...fields,
});

describe('stale tenants', () => {
  test('GIVEN tenants WHEN checked THEN only enabled ones without a validated backup for 26 h are stale, worst first', () => {
    const stale = findStaleTenants(
      [
        tenant('fresh', { lastSuccessAt: '2026-11-25T02:30:00Z' }),
        tenant('late', { lastSuccessAt: '2026-11-24T08:00:00Z' }),
        tenant('stopped', { lastSuccessAt: '2026-05-25T02:00:00Z' }),
        tenant('never', { createdAt: '2026-11-20T00:00:00Z' }),
        tenant('new', { createdAt: '2026-11-25T09:00:00Z' }),
        tenant('off', { enabled: false, lastSuccessAt: '2026-01-01T00:00:00Z' }),
      ],
      now,
    );
    expect(stale.map((t) => t.tenantId)).toEqual(['stopped', 'never', 'late']);
  });

  test('the alert names each stale tenant and how long it has been', () => {
    const alert = staleTenantsAlert(
      findStaleTenants(
        [tenant('stopped', { lastSuccessAt: '2026-05-25T02:00:00Z' }), tenant('never', { createdAt: '2026-11-20T00:00:00Z' })],
        now,
      ),
      26,
    );
    expect(alert.subject).toBe('so-backup: 2 tenant(s) without a validated backup for 26 h');
    expect(alert.message).toMatch(/- stopped \(STOPPED\): last validated backup 4426 h ago/);
    expect(alert.message).toMatch(/- never \(NEVER\): no validated backup ever/);
  });
});

describe('connectors offline', () => {
  test('GIVEN tenants and live connections WHEN checked THEN enabled tenants without a connection for 6 h are named, worst first', () => {
    const offline = findOfflineConnectors(
      [
        tenant('online', { lastDisconnectedAt: '2026-11-20T00:00:00Z' }),
        tenant('blip', { lastDisconnectedAt: '2026-11-25T10:30:00Z' }),
        tenant('down', { lastDisconnectedAt: '2026-11-24T12:00:00Z' }),
        tenant('never', { createdAt: '2026-11-23T12:00:00Z' }),
        tenant('off', { enabled: false, lastDisconnectedAt: '2026-01-01T00:00:00Z' }),
      ],
      new Set(['online']),
      now,
    );
    expect(offline.map((t) => [t.tenantId, Math.round(t.hoursOffline)])).toEqual([
      ['never', 48],
      ['down', 24],
    ]);
    const alert = offlineConnectorsAlert(offline, 6);
    expect(alert.subject).toBe('so-backup: 2 connector(s) offline for more than 6 h');
    expect(alert.message.split('\n').filter((line) => line.startsWith('- '))).toEqual([
      '- never (NEVER): never connected (enrolled 48 h ago)',
      '- down (DOWN): offline for 24 h (since 2026-11-24T12:00:00Z)',
    ]);
  });

  test('GIVEN a connector checking in (issue 18) THEN it is never flagged over two days of check-ins and backups; one that stops checking in is, 6 h after it was last seen', () => {
    const settings = presenceSettings();
    const checkIn = tenant('checks-in', { backupHour: 2, backupMinute: 15 });
    const start = Date.parse('2026-11-25T00:00:00Z');
    const end = start + 48 * 3_600_000;
    /** The connector's connections [from, to) by presenceDecision (the connector's own rule), until it dies at `diesAt`. */
    const connections = (diesAt = Number.POSITIVE_INFINITY) => {
      const spans: Array<[number, number]> = [];
      let at = start;
      let random = 0;
      while (at < Math.min(end, diesAt)) {
        const presence = presenceAt(checkIn, settings, new Date(at));
        let now = at;
        let decision = presenceDecision(
          { presence, now, startedAt: start, connectedAt: at, busy: false },
          () => (random = (random + 0.37) % 1),
        );
        while (decision.stay) {
          now = decision.until;
          decision = presenceDecision(
            { presence, now, startedAt: start, connectedAt: at, busy: false },
            () => (random = (random + 0.37) % 1),
          );
        }
        const leaves = Math.min(now, diesAt);
        spans.push([at, leaves]);
        at = decision.reconnectAt;
      }
      return spans;
    };
    const flaggedAt = (spans: Array<[number, number]>) => {
      const hours: number[] = [];
      for (let t = start + 3_600_000; t <= end; t += 3_600_000) {
        const online = spans.some(([from, to]) => from <= t && t < to) ? new Set([checkIn.tenantId]) : new Set<string>();
        const last = spans.filter(([, to]) => to <= t).at(-1)?.[1];
        const seen = { ...checkIn, ...(last === undefined ? {} : { lastDisconnectedAt: new Date(last).toISOString() }) };
        if (findOfflineConnectors([seen], online, new Date(t)).length > 0) hours.push((t - start) / 3_600_000);
      }
      return hours;
    };
    const alive = connections();
    // It came back at least hourly (the interval ± 10 %), and was there for both nights' backups.
    expect(alive.length).toBeGreaterThan(40);
    expect(flaggedAt(alive)).toEqual([]);
    // Dead after 20 h: last seen then, flagged from 6 h after.
    const dead = connections(start + 20 * 3_600_000);
    const lastSeen = (dead.at(-1)![1] - start) / 3_600_000;
    expect(flaggedAt(dead)[0]).toBe(Math.floor(lastSeen + 6) + 1);
    expect(flaggedAt(dead).at(-1)).toBe(48);
  });

  test('fleet metrics go out as one embedded-metric-format line', () => {
    const lines: string[] = [];
    putMetrics({ StaleTenants: 2, BackupUploadedBytes: 5 }, { BackupUploadedBytes: 'Bytes' }, (line) => lines.push(line));
    expect(JSON.parse(lines[0]!)).toMatchObject({
      _aws: {
        CloudWatchMetrics: [
          {
            Namespace: 'SoBackup',
            Dimensions: [[]],
            Metrics: [
              { Name: 'StaleTenants', Unit: 'Count' },
              { Name: 'BackupUploadedBytes', Unit: 'Bytes' },
            ],
          },
        ],
      },
      StaleTenants: 2,
      BackupUploadedBytes: 5,
    });
  });
});

describe('seeding an archive over several nights (issue 20)', () => {
  const seeding = (lastProgressAt: string) => seedingState(lastProgressAt);

  test('GIVEN a tenant seeding its archive whose database validated last night WHEN checked THEN it is not stale, nor while seeding makes progress', () => {
    const tenants = [
      tenant('seeding', { lastSuccessAt: '2026-11-25T06:00:00Z', seeding: seeding('2026-11-25T06:00:00Z') }),
      tenant('stalled', { lastSuccessAt: '2026-11-25T06:00:00Z', seeding: seeding('2026-11-24T06:00:00Z') }),
    ];
    expect(findStaleTenants(tenants, now)).toEqual([]);
    expect(findStalledSeeding([tenants[0]!], now)).toEqual([]);
  });

  test('GIVEN seeding without progress for more than 24 h WHEN checked THEN it is named, longest stalled first, and the alert says what to check; exactly 24 h is not yet a stall; a disabled tenant is left out', () => {
    const stalled = findStalledSeeding(
      [
        tenant('moving', { lastSuccessAt: '2026-11-25T06:00:00Z', seeding: seeding('2026-11-25T06:00:00Z') }),
        tenant('day', { lastSuccessAt: '2026-11-25T06:00:00Z', seeding: seeding('2026-11-24T12:00:00Z') }),
        tenant('stuck', { lastSuccessAt: '2026-11-25T06:00:00Z', seeding: seeding('2026-11-24T06:00:00Z') }),
        tenant('stucker', { lastSuccessAt: '2026-11-25T06:00:00Z', seeding: seeding('2026-11-22T06:00:00Z') }),
        tenant('off', { enabled: false, seeding: seeding('2026-11-01T06:00:00Z') }),
        tenant('plain', { lastSuccessAt: '2026-11-20T06:00:00Z' }),
      ],
      now,
    );
    expect(stalled.map((t) => [t.tenantId, t.text])).toEqual([
      ['stucker', 'seeding 42 %, about 3 more nights — NO PROGRESS for 78h'],
      ['stuck', 'seeding 42 %, about 3 more nights — NO PROGRESS for 30h'],
    ]);
    const alert = stalledSeedingAlert(stalled, 24);
    expect(alert.subject).toBe('so-backup: 2 tenant(s) whose archive seeding made no progress for 24 h');
    expect(alert.message).toMatch(
      /- stuck \(STUCK\): seeding 42 %, about 3 more nights — NO PROGRESS for 30h; last progress 2026-11-24T06:00:00Z/,
    );
    expect(alert.message).toMatch(/Their databases are still backed up/);
    expect(findStalledSeeding([tenant('x', { seeding: seeding('2026-11-24T12:00:00Z') })], now, 48)).toEqual([]);
  });
});
