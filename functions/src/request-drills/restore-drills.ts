import type { DrillResult } from '../../../protocol';
import type { IssuedDrill, TenantRecord } from '../../../core';

/** A drill request unanswered for this long counts as a failed drill. */
export const DRILL_ANSWER_HOURS = 24;
/** A drill's result is accepted this long after it was asked for (a large database restores slowly); later it is refused. */
export const DRILL_RESULT_HOURS = 48;

/** The drill to record as issued, and the tenant's issued drills that have expired (to drop). */
export function issueDrill(
  tenant: Pick<TenantRecord, 'issuedDrills'>,
  runId: string,
  asked: NonNullable<IssuedDrill['asked']>,
  now: Date,
): { drill: IssuedDrill; expired: string[] } {
  const expired = Object.entries(tenant.issuedDrills ?? {})
    .filter(([, d]) => d.expiresAt <= now.toISOString())
    .map(([id]) => id);
  return {
    drill: { runId, asked, issuedAt: now.toISOString(), expiresAt: new Date(now.getTime() + DRILL_RESULT_HOURS * 3_600_000).toISOString() },
    expired,
  };
}

/**
 * Enabled tenants whose last drill is older than the interval (or who never had one) and whose
 * connector is online: the ones to ask for a drill now. A tenant asked already and not yet
 * answered is asked again (the connector skips a drill while a backup runs).
 */
export function drillsDue(tenants: readonly TenantRecord[], online: ReadonlySet<string>, now: Date, intervalDays: number): TenantRecord[] {
  return tenants.filter((t) => {
    if (!t.enabled || !online.has(t.tenantId) || !t.lastRunId) return false;
    const last = t.lastDrill ? Date.parse(t.lastDrill.at) : -Infinity;
    return now.getTime() - last >= intervalDays * 86_400_000;
  });
}

export interface FailingDrill {
  tenantId: string;
  displayName: string;
  reason: string;
}

/** Enabled tenants whose latest drill failed, or whose drill request has gone unanswered for a day. */
export function failingDrills(tenants: readonly TenantRecord[], now: Date): FailingDrill[] {
  const failing: FailingDrill[] = [];
  for (const t of tenants.filter((tenant) => tenant.enabled)) {
    const requested = t.drillRequestedAt ? Date.parse(t.drillRequestedAt) : undefined;
    if (requested !== undefined && now.getTime() - requested > DRILL_ANSWER_HOURS * 3_600_000) {
      failing.push({
        tenantId: t.tenantId,
        displayName: t.displayName,
        reason: `no drill result since it was asked for at ${t.drillRequestedAt}`,
      });
    } else if (t.lastDrill && !t.lastDrill.ok) {
      failing.push({
        tenantId: t.tenantId,
        displayName: t.displayName,
        reason: `drill of run ${t.lastDrill.runId} at ${t.lastDrill.at} failed: ${t.lastDrill.detail}`,
      });
    }
  }
  return failing;
}

export function failingDrillsAlert(failing: readonly FailingDrill[]): { subject: string; message: string } {
  return {
    subject: `so-backup: ${failing.length} restore drill(s) failing`.slice(0, 100),
    message: [
      "Restore drills prove that backups restore. These tenants' latest drills failed or did not report:",
      '',
      ...failing.map((f) => `- ${f.tenantId} (${f.displayName}): ${f.reason}`),
      '',
      'Run `so-backup tenants show <tenant>` for the drill details, and `so-connector restore` by hand to reproduce.',
    ].join('\n'),
  };
}

/**
 * The database a drill restores: drills rotate through the run's databases in name order
 * (ordinal), the one after the tenant's last drilled database, so every database is drilled
 * once every N drills (N databases). Undefined when the run names none.
 */
export function drillDatabase(databases: readonly string[], lastDrilled: string | undefined): string | undefined {
  const names = [...new Set(databases)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (names.length === 0) return undefined;
  const next = lastDrilled === undefined ? 0 : names.findIndex((name) => name > lastDrilled);
  return names[next === -1 ? 0 : next];
}

/** What a drill result says, as the cloud records it. */
export interface DrillVerdict {
  ok: boolean;
  detail: string;
}

/**
 * Holds a drill result against what the drill asked (`asked`; undefined for a drill issued before
 * that was recorded: then a reported database part must have been checked). A drill passes only
 * if the connector says ok, every part it asked for was checked — a database restore that was
 * skipped (no room in staging, no SQL Server configured), missing or of another database is not
 * a pass, nor are sampled files that did not all verify or an archive part missing — and
 * something was checked at all: a result that checked nothing (no database, 0 of 0 files) fails.
 */
export function drillVerdict(result: DrillResult, asked: IssuedDrill['asked']): DrillVerdict {
  const problems: string[] = [];
  const { database, archive } = result;
  const parts = [
    database && `database${database.name ? ` ${database.name}` : ''} ${database.status}: ${database.detail}`,
    archive && `archive ${archive.verified} of ${archive.sampled} sampled files verified${archive.detail ? `: ${archive.detail}` : ''}`,
  ].filter(Boolean);
  const databaseAsked = asked ? asked.database : database !== undefined;
  if (databaseAsked) {
    if (!database) problems.push('a database restore was asked for and not reported');
    else if (database.status === 'failed') problems.push(`the restore of database${database.name ? ` ${database.name}` : ''} failed`);
    else if (database.status !== 'checked') problems.push(`the database restore asked for was ${database.status}, not checked`);
    else if (asked?.databaseName !== undefined && database.name !== undefined && database.name !== asked.databaseName)
      problems.push(`database ${asked.databaseName} was asked for, ${database.name} was restored`);
  }
  if (archive && archive.verified !== archive.sampled)
    problems.push(`${archive.sampled - archive.verified} of ${archive.sampled} sampled files did not verify`);
  if (asked && asked.sampleFiles > 0 && !archive)
    problems.push(`${asked.sampleFiles} archive files were asked for and no archive part was reported`);
  const checked = database?.status === 'checked' || (archive !== undefined && archive.verified > 0);
  if (!checked && problems.length === 0) problems.push('nothing was checked: no database restored and no archive file verified');
  if (!result.ok && problems.length === 0) problems.push('the connector reported the drill failed');
  const ok = problems.length === 0;
  const detail = ok
    ? parts.join('; ')
    : `NOT A PASS: ${[...new Set(problems)].join('; ')}${parts.length ? ` (reported: ${parts.join('; ')})` : ''}`;
  return { ok, detail: detail.slice(0, 3000) };
}
