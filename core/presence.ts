import { z } from 'zod';
import { type BandwidthSetting, PRESENCE, type Presence, PROTOCOL_VERSION, type SettingsMessage } from '../protocol';
import { backupSlot, localDay, type ScheduleSettings, slotInstant } from './schedule';
import type { RunRecord, TenantRecord } from './stores';

/**
 * What the cloud tells a connector about when to stay connected (protocol/presence.ts): computed
 * from the tenant's own setting or the stack's default, the stack's check-in interval, the
 * tenant's next daily slot (core/schedule.ts) and a run that waits for the connector.
 */

/** A tenant's presence setting: `always` connected, or `check-in` (connect, do the work, leave). */
export const PRESENCE_MODES = ['always', 'check-in'] as const;
export type PresenceMode = (typeof PRESENCE_MODES)[number];

/** The stack's default check-in interval, in minutes (`-c checkInMinutes=N`). */
export const DEFAULT_CHECK_IN_MINUTES = 60;
/** The check-in interval's limits, in minutes: protocol/presence.ts allows 1 minute to 6 hours. */
export const CHECK_IN_MINUTES_RANGE = { min: 1, max: 360 } as const;
/**
 * How long past a waiting run's next retry a connector is asked to stay: Step Functions retries
 * "Request backup" `offlineRetryInterval` after its last ConnectorOffline failure (no jitter,
 * backoff rate 1), and the retry itself takes seconds; two minutes covers both.
 */
export const WAITING_RUN_MARGIN_SECONDS = 120;

export interface PresenceSettings {
  /** The stack's default, for tenants without their own (`-c connectorPresence`). */
  defaultMode: PresenceMode;
  /** Seconds between check-ins while idle (`-c checkInMinutes` × 60). */
  checkInSeconds: number;
  /** The stack's schedule (time zone, backup window): where each tenant's daily slot lies. */
  schedule: ScheduleSettings;
  /** BackupRun's retry of an offline connector (offlineRetryInterval), in seconds. */
  offlineRetrySeconds: number;
  /** How long BackupRun goes on retrying an offline connector (offlineRetryWindow), in seconds. */
  offlineRetryWindowSeconds: number;
}

/** PresenceSettings as the stack's PresenceSettings output carries them (JSON), for the operator CLI. */
export const presenceSettingsSchema = z
  .object({
    defaultMode: z.enum(PRESENCE_MODES),
    checkInSeconds: z
      .number()
      .int()
      .min(CHECK_IN_MINUTES_RANGE.min * 60)
      .max(CHECK_IN_MINUTES_RANGE.max * 60),
    schedule: z.object({
      timeZone: z.string().min(1),
      windowStartHour: z.number().int().min(0).max(23),
      windowHours: z.number().int().min(1).max(24),
    }),
    offlineRetrySeconds: z.number().int().positive(),
    offlineRetryWindowSeconds: z.number().int().min(0),
  })
  .strict() satisfies z.ZodType<PresenceSettings>;

/** The tenant's presence mode: its own setting, else the stack's default. */
export function presenceMode(
  tenant: Pick<TenantRecord, 'presence'> | undefined,
  settings: Pick<PresenceSettings, 'defaultMode'>,
): PresenceMode {
  return tenant?.presence ?? settings.defaultMode;
}

/**
 * The instant of the tenant's next daily backup: the first instant of its slot (backupSlot,
 * slotInstant: the first valid instant of its local hour, so DST-correct) later than
 * `now − PRESENCE.holdMinutes` — a connector that connects just after its slot still hears of it
 * and stays for the run. Undefined for a disabled tenant (nothing is scheduled).
 */
export function nextBackupAt(
  tenant: Pick<TenantRecord, 'tenantId' | 'enabled' | 'backupHour' | 'backupMinute'>,
  schedule: ScheduleSettings,
  now: Date,
): Date | undefined {
  if (!tenant.enabled) return undefined;
  const slot = backupSlot(tenant, schedule);
  const after = now.getTime() - PRESENCE.holdMinutes * 60_000;
  // Calendar days from the local one of `after` on (by the calendar, not 24-hour steps, which a DST day would skip):
  // a slot lies on each, and the first of them after `after` is on one of the next three.
  const [y, m, d] = localDay(new Date(after), schedule.timeZone).split('-').map(Number) as [number, number, number];
  for (const offset of [0, 1, 2]) {
    const day = new Date(Date.UTC(y, m - 1, d + offset)).toISOString().slice(0, 10);
    const at = slotInstant(day, slot, schedule.timeZone);
    if (at.getTime() > after) return at;
  }
  return undefined;
}

/**
 * A run of this tenant waiting for its connector: RUNNING, not (yet) handed to a connection, and
 * still inside BackupRun's offline retries (a run record left RUNNING by an execution that ended
 * long ago is not waited for). `newest` is the tenant's newest run (RunStore.forTenant(t, 1)):
 * runs of one tenant do not overlap (core/run-rules.ts), so a waiting run is the newest.
 */
export function waitingRun(
  newest: Pick<RunRecord, 'status' | 'connectionId' | 'startedAt'> | undefined,
  settings: PresenceSettings,
  now: Date,
): boolean {
  if (newest?.status !== 'RUNNING' || newest.connectionId !== undefined) return false;
  const started = Date.parse(newest.startedAt);
  // Prepare, the first attempt and every retry: the retry window plus an interval and the margin.
  const waitsUntil = started + (settings.offlineRetryWindowSeconds + settings.offlineRetrySeconds + WAITING_RUN_MARGIN_SECONDS) * 1000;
  return Number.isFinite(started) && now.getTime() < waitsUntil;
}

/**
 * The tenant's Presence at `now` (protocol/presence.ts presenceSchema), sent in `settings`:
 * `always`, or `check-in` with the stack's interval, the next backup's slot, and `stayUntil` when
 * a run waits for the connector — now + offlineRetrySeconds + WAITING_RUN_MARGIN_SECONDS, so the
 * run's next retry of "Request backup" finds it connected.
 */
export function presenceAt(
  tenant: Pick<TenantRecord, 'tenantId' | 'enabled' | 'backupHour' | 'backupMinute' | 'presence'>,
  settings: PresenceSettings,
  now: Date,
  newestRun?: Pick<RunRecord, 'status' | 'connectionId' | 'startedAt'>,
): Presence {
  if (presenceMode(tenant, settings) === 'always') return { mode: 'always' };
  const next = nextBackupAt(tenant, settings.schedule, now);
  const stay = waitingRun(newestRun, settings, now)
    ? new Date(now.getTime() + (settings.offlineRetrySeconds + WAITING_RUN_MARGIN_SECONDS) * 1000)
    : undefined;
  return {
    mode: 'check-in',
    checkInSeconds: settings.checkInSeconds,
    nextBackupAt: next ? next.toISOString() : null,
    stayUntil: stay ? stay.toISOString() : null,
  };
}

/**
 * The `settings` message for a tenant's connector (protocol/bandwidth.ts): its central bandwidth
 * (null: none) and, with the stack's presence settings, its presence (presenceAt). Every `settings`
 * carries presence — one without it tells a connector to stay connected (an older cloud) — so a
 * change of bandwidth pushed to a checking-in connector does not keep it connected.
 */
export function settingsMessage(
  tenant:
    | (Pick<TenantRecord, 'tenantId' | 'enabled' | 'backupHour' | 'backupMinute' | 'presence'> & { bandwidth?: BandwidthSetting })
    | undefined,
  settings: PresenceSettings | undefined,
  now: Date,
  newestRun?: Pick<RunRecord, 'status' | 'connectionId' | 'startedAt'>,
): SettingsMessage {
  return {
    type: 'settings',
    v: PROTOCOL_VERSION,
    bandwidth: tenant?.bandwidth ?? null,
    ...(tenant && settings ? { presence: presenceAt(tenant, settings, now, newestRun) } : {}),
  };
}

/**
 * A connector's presence in one line for operators: "connected", "checks in every 60 min, last
 * seen 12 min ago", "always connected; offline, last seen …". `connectedAt`: its live
 * connection's start (undefined: none); `lastSeen`: when its last connection ended.
 */
export function describePresence(
  mode: PresenceMode,
  checkInSeconds: number,
  state: { connectedAt?: string; lastSeen?: string },
  now: Date,
): string {
  const ago = (at: string) => {
    const minutes = Math.max(0, Math.round((now.getTime() - Date.parse(at)) / 60_000));
    return minutes < 120
      ? `${minutes} min ago`
      : minutes < 48 * 60
        ? `${Math.round(minutes / 60)} h ago`
        : `${Math.round(minutes / 1440)} days ago`;
  };
  const every = `checks in every ${formatMinutes(checkInSeconds)}`;
  if (state.connectedAt)
    return mode === 'always' ? 'connected' : `${every}, connected now (for ${ago(state.connectedAt).replace(/ ago$/, '')})`;
  const seen = state.lastSeen ? `last seen ${ago(state.lastSeen)}` : 'never connected';
  return mode === 'always' ? `offline, ${seen}` : `${every}, ${seen}`;
}

/** Seconds as "60 min", "90 min", "3 h", "2 h 30 min". */
export function formatMinutes(seconds: number): string {
  const minutes = Math.round(seconds / 60);
  if (minutes <= 120) return `${minutes} min`;
  return minutes % 60 === 0 ? `${minutes / 60} h` : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** A check-in may come this late (a connect that failed and was retried, a busy machine) before the connector is overdue. */
export const CHECK_IN_GRACE_MINUTES = 15;

/**
 * Whether a connector that is not connected now is overdue: a check-in connector is resting, not
 * offline, until its check-in interval (plus its jitter) and a grace of CHECK_IN_GRACE_MINUTES
 * have passed since it was last seen. An always-connected one is overdue at once.
 */
export function checkInOverdue(mode: PresenceMode, checkInSeconds: number, lastSeen: string | undefined, now: Date): boolean {
  if (mode === 'always' || !lastSeen) return true;
  const due = Date.parse(lastSeen) + checkInSeconds * 1000 * (1 + PRESENCE.checkInJitter) + CHECK_IN_GRACE_MINUTES * 60_000;
  return now.getTime() > due;
}

/**
 * When a resting check-in connector is expected back: its last disconnection plus the interval
 * (± PRESENCE.checkInJitter), or earlier the lead before its next backup. `earliest`/`latest` in
 * milliseconds since the epoch; undefined when it was never seen.
 */
export function expectedCheckIn(
  checkInSeconds: number,
  lastSeen: string | undefined,
  nextBackup: Date | undefined,
): { earliest: number; latest: number } | undefined {
  if (!lastSeen) return undefined;
  const left = Date.parse(lastSeen);
  let earliest = left + checkInSeconds * 1000 * (1 - PRESENCE.checkInJitter);
  let latest = left + checkInSeconds * 1000 * (1 + PRESENCE.checkInJitter);
  // Before a backup it comes between leadSeconds + leadSpreadSeconds and leadSeconds before the slot.
  const lead = nextBackup ? nextBackup.getTime() - PRESENCE.leadSeconds * 1000 : undefined;
  if (lead !== undefined && lead > left) {
    earliest = Math.max(left, Math.min(earliest, lead - PRESENCE.leadSpreadSeconds * 1000));
    latest = Math.min(latest, lead);
  }
  return { earliest, latest };
}
