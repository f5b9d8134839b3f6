import pLimit from 'p-limit';
import { TokenBucket } from '../../../protocol';
import { dueInWindow, executionName, type ScheduleSettings, type TenantRecord } from '../../../core';
import type { BackupRunInput } from '../shared';

export interface StartDueBackupsDeps {
  /** One page of enabled tenants, and the cursor of the next. */
  listPage(cursor: string | undefined): Promise<{ tenants: TenantRecord[]; next?: string }>;
  /** The tenant's latest run ids (for the names of catch-up runs, which may be the day's second). */
  recentRunIds(tenantId: string): Promise<string[]>;
  /** StartExecution of BackupRun; "exists" when an execution of that name exists already (Step Functions' ExecutionAlreadyExists). */
  start(name: string, input: BackupRunInput): Promise<'started' | 'exists'>;
  now?(): number;
}

export interface StartDueBackupsRequest {
  /** The quarter hour whose slots are due (its start, on the UTC grid). */
  windowStart: Date;
  /** Start every enabled tenant now (an operator's catch-up, local mode) instead of the due ones. */
  everyTenant: boolean;
  cursor?: string;
  /** DailyBackups' execution name, recorded as who asked. */
  requestedBy: string;
  settings: ScheduleSettings;
  /**
   * StartExecution calls per second at most: Step Functions throttles StartExecution per account
   * and region with a token bucket (800, refilled 150/s, in most regions; docs/cost.md cites the
   * quota), shared with support backups and everything else in the account. @default 100
   */
  maxStartsPerSecond?: number;
  /** StartExecution calls in flight at once. @default 25 */
  concurrency?: number;
  /** Stop after this long and return the cursor (the state machine comes back for the rest). @default 120 s */
  budgetMs?: number;
}

export interface StartDueBackupsResult {
  next?: string;
  scanned: number;
  due: number;
  started: number;
  /** Due tenants whose run of that name exists already (a repeated schedule, or today's run is done). */
  alreadyStarted: number;
  /** The first names started (at most 20), for people and local mode. */
  startedRuns: string[];
}

/**
 * DailyBackups' work, page by page: every enabled tenant whose slot falls in the quarter hour gets
 * a BackupRun, started and not waited for (each run is its own execution with its own history,
 * retries and alarms; an offline connector's four-hour wait delays no one else). Scheduled runs
 * are named `<tenant>-<day>-daily`, the day being the slot's calendar day, so a schedule that fires
 * twice, a retried page or the fall-back hour start nothing twice (Step Functions refuses a second
 * execution of the same name: ExecutionAlreadyExists). Starts are paced below Step Functions'
 * StartExecution quota; the SDK's adaptive retries ride out its throttling, and a page that still
 * fails is retried whole by the state machine (idempotent, by the names).
 */
export async function startDueBackups(deps: StartDueBackupsDeps, request: StartDueBackupsRequest): Promise<StartDueBackupsResult> {
  const now = deps.now ?? Date.now;
  const began = now();
  const budget = request.budgetMs ?? 120_000;
  const rate = request.maxStartsPerSecond ?? 100;
  const pace = new TokenBucket(rate, Math.max(1, Math.round(rate)), began);
  const concurrency = request.concurrency ?? 25;
  const result: StartDueBackupsResult = { scanned: 0, due: 0, started: 0, alreadyStarted: 0, startedRuns: [] };
  let cursor = request.cursor;
  do {
    const page = await deps.listPage(cursor);
    result.scanned += page.tenants.length;
    const due: Array<{ name: () => Promise<string>; tenantId: string }> = [];
    for (const tenant of page.tenants) {
      if (!tenant.enabled) continue;
      if (request.everyTenant) {
        due.push({
          tenantId: tenant.tenantId,
          name: async () =>
            executionName(tenant.tenantId, new Date(now()), 'daily', await deps.recentRunIds(tenant.tenantId), request.settings.timeZone),
        });
        continue;
      }
      const slot = dueInWindow(tenant, request.windowStart, request.settings);
      if (slot)
        due.push({
          tenantId: tenant.tenantId,
          name: async () => executionName(tenant.tenantId, slot.at, 'daily', [], request.settings.timeZone),
        });
    }
    result.due += due.length;
    await pLimit(concurrency).map(due, async (item) => {
      for (let wait = pace.waitMs(now()); wait > 0; wait = pace.waitMs(now())) await new Promise((resolve) => setTimeout(resolve, wait));
      pace.tryTake(now());
      const name = await item.name();
      const outcome = await deps.start(name, {
        tenantId: item.tenantId,
        trigger: 'schedule',
        requestedBy: `schedule (${request.requestedBy})`,
      });
      if (outcome === 'exists') {
        result.alreadyStarted++;
      } else {
        result.started++;
        if (result.startedRuns.length < 20) result.startedRuns.push(name);
      }
    });
    cursor = page.next;
  } while (cursor !== undefined && now() - began < budget);
  return { ...result, ...(cursor !== undefined ? { next: cursor } : {}) };
}
