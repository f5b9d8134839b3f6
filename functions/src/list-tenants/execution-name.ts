/**
 * Execution (and run) names read like a backup log: "<tenant>-<yyyy-mm-dd>-<trigger>", with
 * "-2", "-3", … for further runs of the same kind on the same day. The day is the calendar day
 * in `timeZone` (the schedule's), so a backup at 00:30 in Oslo is named after that day.
 */
export function executionName(tenantId: string, date: Date, trigger: string, existingRunIds: readonly string[], timeZone = 'UTC'): string {
  const day = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(date);
  const base = `${tenantId}-${day}-${trigger}`;
  const taken = new Set(existingRunIds);
  if (!taken.has(base)) return base;
  for (let n = 2; ; n++) if (!taken.has(`${base}-${n}`)) return `${base}-${n}`;
}
