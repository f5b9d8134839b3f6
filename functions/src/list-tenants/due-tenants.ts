/** The hour of the day (0–23) at `at` in `timeZone` (an IANA name such as "Europe/Oslo"). */
export function localHour(at: Date, timeZone: string): number {
  return Number(new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', hourCycle: 'h23' }).format(at));
}

/**
 * Whether a tenant's daily backup starts in this hour: its own `backupHour` (local to the
 * schedule's time zone) or the stack's default. `everyTenant` (an operator's catch-up run, and
 * local mode) starts every enabled tenant now.
 */
export function isDue(tenant: { backupHour?: number }, hour: number, defaultHour: number, everyTenant: boolean): boolean {
  return everyTenant || (tenant.backupHour ?? defaultHour) === hour;
}
