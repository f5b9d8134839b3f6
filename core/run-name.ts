import { createHash } from 'node:crypto';
import { localDay } from './schedule';

/** Step Functions' limit on an execution name (StartExecution API reference: 1–80 characters). */
export const MAX_EXECUTION_NAME = 80;

/**
 * Execution (and run) names read like a backup log: "<tenant>-<yyyy-mm-dd>-<trigger>", with
 * "-2", "-3", … for further runs of the same kind on the same day. The day is the calendar day
 * in `timeZone` (the schedule's, for every trigger: the schedule, support and operators alike), so a
 * backup at 00:30 in Oslo is named after that day, not after the UTC day before.
 * A name never exceeds Step Functions' 80 characters: a tenant id too long to fit is cut and
 * followed by "_" and 6 hex digits of its SHA-256, so names stay unique per tenant and readable
 * ("a-very-long-tenant-na_3f9a1c-2026-11-25-operator").
 */
export function executionName(tenantId: string, date: Date, trigger: string, existingRunIds: readonly string[], timeZone: string): string {
  const day = localDay(date, timeZone);
  const named = (suffix: string) => {
    const tail = `-${day}-${trigger}${suffix}`;
    if (tenantId.length + tail.length <= MAX_EXECUTION_NAME) return `${tenantId}${tail}`;
    const hash = createHash('sha256').update(tenantId).digest('hex').slice(0, 6);
    return `${tenantId.slice(0, MAX_EXECUTION_NAME - tail.length - 7).replace(/-+$/, '')}_${hash}${tail}`;
  };
  const taken = new Set(existingRunIds);
  for (let n = 1; ; n++) {
    const name = named(n === 1 ? '' : `-${n}`);
    if (!taken.has(name)) return name;
  }
}
