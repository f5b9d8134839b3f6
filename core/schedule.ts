import { createHash } from 'node:crypto';

/**
 * When each tenant's daily backup starts. DailyBackups runs every quarter hour (in UTC, so that
 * daylight saving time never skips or repeats a run) and starts the tenants whose slot falls in
 * its quarter hour. A slot is an hour and a minute (0, 15, 30 or 45) of the schedule's time zone:
 * the tenant's own (`so-backup tenants set … --backup-time HH:MM` or `--backup-hour H`), or one
 * spread over the stack's backup window by a hash of the tenant id, so that a fleet does not
 * start all at once. A slot's instant on a calendar day is the first valid instant of its hour
 * plus its minutes: on the spring-forward day (02:00 → 03:00 in Europe/Oslo) a 02:15 slot starts at
 * 03:15; on the fall-back day (02:00 happens twice) at the first 02:15 only. Every slot instant
 * lies on the UTC quarter-hour grid (time zone offsets are multiples of 15 minutes), so each
 * tenant is due in exactly one quarter hour per calendar day.
 */

/** DailyBackups' cadence and the granularity of backup times. */
export const SLOT_MINUTES = 15;

export interface ScheduleSettings {
  /** IANA time zone of backup times, e.g. "Europe/Oslo". */
  timeZone: string;
  /** First hour (0–23) of the stack's backup window, for tenants without their own time. */
  windowStartHour: number;
  /** Length of that window in hours (1–24): tenants without their own time are spread over it. */
  windowHours: number;
}

export interface BackupSlot {
  hour: number;
  minute: number;
  /** True when the tenant chose it; false when spread over the stack's window. */
  own: boolean;
}

/** The tenant's backup slot: its own hour (and minute), or a quarter hour of the stack's window picked by a hash of its id. */
export function backupSlot(
  tenant: { tenantId: string; backupHour?: number; backupMinute?: number },
  settings: ScheduleSettings,
): BackupSlot {
  if (tenant.backupHour !== undefined) return { hour: tenant.backupHour, minute: tenant.backupMinute ?? 0, own: true };
  const slots = settings.windowHours * (60 / SLOT_MINUTES);
  const index = createHash('sha256').update(tenant.tenantId).digest().readUInt32BE(0) % slots;
  return {
    hour: (settings.windowStartHour + Math.floor(index / (60 / SLOT_MINUTES))) % 24,
    minute: (index % (60 / SLOT_MINUTES)) * SLOT_MINUTES,
    own: false,
  };
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** Local "YYYY-MM-DD HH:MM" of an instant in the time zone (sortable). */
export function localStamp(at: Date, timeZone: string): string {
  const parts = Object.fromEntries(
    formatter(timeZone)
      .formatToParts(at)
      .map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}`;
}

/** The calendar day ("YYYY-MM-DD") of an instant in the time zone. */
export function localDay(at: Date, timeZone: string): string {
  return localStamp(at, timeZone).slice(0, 10);
}

const instants = new Map<string, number>();

/**
 * The first valid instant of local hour `hour` on `day` ("YYYY-MM-DD") in the time zone: the
 * earliest instant whose local time is at or after `day hour:00` (a skipped hour yields the
 * instant the clocks jump; a repeated hour its first occurrence).
 */
export function firstInstantOfHour(day: string, hour: number, timeZone: string): Date {
  const key = `${timeZone}|${day}|${hour}`;
  const cached = instants.get(key);
  if (cached !== undefined) return new Date(cached);
  const target = `${day} ${String(hour).padStart(2, '0')}:00`;
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  // Offsets lie within -12 h … +14 h: search a quarter-hour grid around the local wall time.
  const wall = Date.UTC(y, m - 1, d, hour);
  for (let t = wall - 15 * 3_600_000; t <= wall + 13 * 3_600_000; t += SLOT_MINUTES * 60_000) {
    if (localStamp(new Date(t), timeZone) >= target) {
      instants.set(key, t);
      return new Date(t);
    }
  }
  throw new RangeError(`no instant of ${target} in time zone ${timeZone}`);
}

/** When a slot starts on a calendar day: the first valid instant of its hour, plus its minutes. */
export function slotInstant(day: string, slot: Pick<BackupSlot, 'hour' | 'minute'>, timeZone: string): Date {
  return new Date(firstInstantOfHour(day, slot.hour, timeZone).getTime() + slot.minute * 60_000);
}

/** The start of the quarter hour (UTC grid) that contains `at`. */
export function windowStart(at: Date): Date {
  const step = SLOT_MINUTES * 60_000;
  return new Date(Math.floor(at.getTime() / step) * step);
}

/** The calendar days (local) whose slots can fall in the quarter hour from `start`. */
function candidateDays(start: Date, timeZone: string): string[] {
  return [...new Set([-1, 0, 1].map((days) => localDay(new Date(start.getTime() + days * 86_400_000), timeZone)))];
}

/**
 * Whether the tenant's daily backup starts in the quarter hour from `start` (a multiple of 15
 * minutes, UTC), and if so for which calendar day (which names the run) and at which instant.
 */
export function dueInWindow(
  tenant: { tenantId: string; backupHour?: number; backupMinute?: number },
  start: Date,
  settings: ScheduleSettings,
): { day: string; at: Date } | undefined {
  const slot = backupSlot(tenant, settings);
  const end = start.getTime() + SLOT_MINUTES * 60_000;
  for (const day of candidateDays(start, settings.timeZone)) {
    const at = slotInstant(day, slot, settings.timeZone);
    if (at.getTime() >= start.getTime() && at.getTime() < end) return { day, at };
  }
  return undefined;
}

/** Parses "HH:MM" (minutes on the quarter hour) into a backup time; the error says what is allowed. */
export function parseBackupTime(text: string): { hour: number; minute: number } {
  const match = /^(\d{1,2}):(\d{2})$/.exec(text.trim());
  const hour = Number(match?.[1]);
  const minute = Number(match?.[2]);
  if (!match || hour > 23 || minute % SLOT_MINUTES !== 0 || minute > 59) {
    throw new RangeError(
      `a backup time is HH:MM in the schedule's time zone with minutes 00, 15, 30 or 45 (backups start on the quarter hour), not "${text}"`,
    );
  }
  return { hour, minute };
}
