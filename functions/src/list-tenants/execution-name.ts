/**
 * Execution (and run) names read like a backup log: "<tenant>-<yyyy-mm-dd>-<trigger>", with
 * "-2", "-3", … for further runs of the same kind on the same day.
 */
export function executionName(tenantId: string, date: Date, trigger: string, existingRunIds: readonly string[]): string {
  const base = `${tenantId}-${date.toISOString().slice(0, 10)}-${trigger}`;
  const taken = new Set(existingRunIds);
  if (!taken.has(base)) return base;
  for (let n = 2; ; n++) if (!taken.has(`${base}-${n}`)) return `${base}-${n}`;
}
