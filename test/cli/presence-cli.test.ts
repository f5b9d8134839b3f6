import { checkInWaitText, startBackup } from '../../cli/src/backups';
import type { Fleet } from '../../cli/src/fleet';
import { fleetStatus } from '../../cli/src/fleet-status';
import { connectorStates, parsePresenceOption, stackPresence, updateTenant } from '../../cli/src/tenants';
import type { ConnectionRecord, PresenceSettings, RunRecord, TenantRecord } from '../../core';
import { parseMessage } from '../../protocol';
import { presenceSettings } from '../helpers/presence-settings';

const decodeMessage = (raw: string) => parseMessage('cloud', raw);

/** Issue 18: how operators see and set a connector's presence (check-in or always). */
const now = new Date('2026-11-25T12:00:00Z');
const minutesAgo = (m: number) => new Date(now.getTime() - m * 60_000).toISOString();
const settings = presenceSettings();
const tenant = (tenantId: string, fields: Partial<TenantRecord> = {}): TenantRecord => ({
  tenantId,
  displayName: tenantId,
  enabled: true,
  keys: [],
  createdAt: '2026-01-01T00:00:00.000Z',
  lastSuccessAt: minutesAgo(600),
  backupHour: 2,
  backupMinute: 15,
  ...fields,
});

/** A fleet over in-memory tenants and connections; what it sends is kept. */
function fakeFleet(tenants: TenantRecord[], live: Record<string, ConnectionRecord[]> = {}, presence: PresenceSettings | null = settings) {
  const sent: Array<{ connectionId: string; message: string }> = [];
  const byId = new Map(tenants.map((t) => [t.tenantId, t]));
  const fleet = {
    outputs: {
      ConnectorEndpoint: 'wss://x',
      BackupBucketName: 'b',
      BackupRunStateMachineArn: 'arn',
      TenantsTableName: 't',
      RunsTableName: 'r',
      ConnectionsTableName: 'c',
      ScheduleTimeZone: 'Europe/Oslo',
      RunTimeoutSeconds: 46800,
      ...(presence ? { PresenceSettings: JSON.stringify(presence) } : {}),
    },
    tenants: {
      get: async (id: string) => byId.get(id),
      updateSettings: async (id: string, changes: Record<string, unknown>) => {
        const t = byId.get(id)!;
        for (const [name, value] of Object.entries(changes)) {
          if (value === null) delete (t as unknown as Record<string, unknown>)[name];
          else if (value !== undefined) (t as unknown as Record<string, unknown>)[name] = value;
        }
      },
    },
    runs: { forTenant: async (): Promise<RunRecord[]> => [] },
    connections: { forTenant: async (id: string) => live[id] ?? [] },
    sendToConnection: async (connectionId: string, message: string) => {
      sent.push({ connectionId, message });
      return 'sent' as const;
    },
  } as unknown as Fleet;
  return { fleet, sent };
}

const connection = (tenantId: string, connectedAt: string): ConnectionRecord => ({
  connectionId: `${tenantId}-c`,
  tenantId,
  connectedAt,
  expiresAt: Date.parse(connectedAt) / 1000 + 7200,
  connectorVersion: '1.4.0',
});

describe('a resting check-in connector is not offline', () => {
  test('connectors and status: resting (checks in every 60 min, last seen 12 min ago) is healthy; overdue, or always-connected and away, is offline', async () => {
    const tenants = [
      tenant('resting', { lastDisconnectedAt: minutesAgo(12) }),
      tenant('overdue', { lastDisconnectedAt: minutesAgo(5 * 60) }),
      tenant('always-away', { presence: 'always', lastDisconnectedAt: minutesAgo(12) }),
      tenant('connected'),
    ];
    const { fleet } = fakeFleet(tenants, { connected: [connection('connected', minutesAgo(3))] });
    const states = await connectorStates(fleet, tenants, now);
    expect(states.map((c) => [c.tenantId, c.online, c.resting, c.state])).toEqual([
      ['resting', false, true, 'checks in every 60 min, last seen 12 min ago'],
      ['overdue', false, false, 'checks in every 60 min, last seen 5 h ago'],
      ['always-away', false, false, 'offline, last seen 12 min ago'],
      ['connected', true, false, 'checks in every 60 min, connected now (for 3 min)'],
    ]);
    const rows = fleetStatus(tenants, states, new Map(), now, 26);
    expect(Object.fromEntries(rows.map((r) => [r.tenantId, [r.health, r.connector, r.connectorState]]))).toEqual({
      resting: ['ok', 'resting', 'checks in every 60 min, last seen 12 min ago'],
      overdue: ['connector-offline', 'offline', 'checks in every 60 min, last seen 5 h ago'],
      'always-away': ['connector-offline', 'offline', 'offline, last seen 12 min ago'],
      connected: ['ok', 'online', 'checks in every 60 min, connected now (for 3 min)'],
    });
  });

  test('a stack older than presence (no PresenceSettings output): every connector is always connected, as before', async () => {
    const tenants = [tenant('away', { lastDisconnectedAt: minutesAgo(12) })];
    const { fleet } = fakeFleet(tenants, {}, null);
    expect(stackPresence(fleet)).toBeUndefined();
    const [state] = await connectorStates(fleet, tenants, now);
    expect(state).toMatchObject({ presence: 'always', resting: false, state: 'offline, last seen 12 min ago' });
  });
});

describe('so-backup tenants set --presence', () => {
  test('always, check-in or default; anything else named', () => {
    expect(parsePresenceOption('always')).toBe('always');
    expect(parsePresenceOption('check-in')).toBe('check-in');
    expect(parsePresenceOption('default')).toBeNull();
    expect(() => parsePresenceOption('sometimes')).toThrow(
      '--presence must be always (connected all the time), check-in (connects for its work and every check-in) or default (the stack\'s), not "sometimes"',
    );
  });

  test('recorded with the tenant and pushed to its live connection as a full settings message (bandwidth and presence)', async () => {
    const acme = tenant('acme', { bandwidth: '20 Mbit/s' });
    const { fleet, sent } = fakeFleet([acme], { acme: [connection('acme', minutesAgo(1))] });
    const view = await updateTenant(fleet, 'acme', { presence: 'always' }, now);
    expect(view).toMatchObject({ presence: 'always', connectorsTold: 1 });
    expect(decodeMessage(sent[0]!.message)).toEqual({ type: 'settings', v: 1, bandwidth: '20 Mbit/s', presence: { mode: 'always' } });
    await updateTenant(fleet, 'acme', { presence: 'default' }, now);
    expect(acme.presence).toBeUndefined();
    expect(decodeMessage(sent[1]!.message)).toEqual({
      type: 'settings',
      v: 1,
      bandwidth: '20 Mbit/s',
      presence: { mode: 'check-in', checkInSeconds: 3600, nextBackupAt: '2026-11-26T01:15:00.000Z', stayUntil: null },
    });
  });

  test('a bandwidth change pushed to a checking-in connector carries its presence (a settings without one would keep it connected)', async () => {
    const { fleet, sent } = fakeFleet([tenant('acme')], { acme: [connection('acme', minutesAgo(1))] });
    await updateTenant(fleet, 'acme', { bandwidth: '5 Mbit/s' }, now);
    expect(decodeMessage(sent[0]!.message)).toMatchObject({ bandwidth: '5 Mbit/s', presence: { mode: 'check-in' } });
  });
});

describe('so-backup backup of a resting tenant', () => {
  test('says the run starts at the next check-in, and about when', async () => {
    const acme = tenant('acme', { lastDisconnectedAt: minutesAgo(12) });
    const { fleet } = fakeFleet([acme]);
    // startRun's own calls (one running run at a time, StartExecution) on a minimal fleet.
    Object.assign(fleet, {
      caller: async () => 'local:ops',
      runTimeoutSeconds: 46800,
      scheduleTimeZone: 'Europe/Oslo',
      backupRunStateMachineArn: 'arn:aws:states:eu-north-1:123456789012:stateMachine:BackupRun',
      runs: { forTenant: async () => [], create: async (r: RunRecord) => r },
      sfn: { send: async () => ({ executionArn: 'arn:exec', startDate: now }) },
    });
    const started = await startBackup(fleet, 'acme', { reason: 'before the upgrade', now });
    expect(started.waitsForCheckIn).toEqual({
      state: 'checks in every 60 min, last seen 12 min ago',
      earliest: '2026-11-25T12:42:00.000Z',
      latest: '2026-11-25T12:54:00.000Z',
      retrySeconds: 900,
    });
    expect(checkInWaitText(started.waitsForCheckIn!)).toBe(
      'The connector checks in every 60 min, last seen 12 min ago: the backup starts at its next check-in, expected 12:42–12:54 UTC (2026-11-25), within 15m after it connects.',
    );
  });
});
