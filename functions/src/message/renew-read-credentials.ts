import { type CloudMessage, type CredentialsRequestMessage, PROTOCOL_VERSION, type UploadCredentials } from '../../../protocol';
import { isRestorable, runHolds, type RunStore, type TenantStore } from '../../../core';

/**
 * A restore's read credentials are renewed this long after its grant, as long as a drill's result
 * is accepted after the drill was asked (DRILL_RESULT_HOURS): a large database restores slowly,
 * but a grant is not a standing key — a later restore asks for the run again (and is recorded).
 */
export const RESTORE_RENEWAL_HOURS = 48;

export interface ReadRenewalContext {
  tenantId: string;
  runs: Pick<RunStore, 'get'>;
  tenants: Pick<TenantStore, 'get'>;
  /** Read-only credentials for the tenant's backups; `sessionKey` names the session (the run for a restore, the drill for a drill, as at the first grant). */
  mintReadCredentials(tenantId: string, sessionKey: string): Promise<UploadCredentials>;
  reply(message: CloudMessage): Promise<unknown>;
  now?: () => Date;
}

/**
 * Fresh read-only credentials for a restore or a restore drill whose first ones (restore-grant,
 * drill-job) run out before its downloads do. Granted only as the first ones were:
 * - a restore (`restoreRequestId`): the run is this tenant's, still restorable (validated), the
 *   cloud granted a restore of it under that request id (recorded with the run) less than
 *   RESTORE_RENEWAL_HOURS ago (else RESTORE_EXPIRED), and the run still holds what that restore
 *   asked for (`wants`, as the grant checked with runHolds; else RUN_LACKS_PART);
 * - a drill (`drillId`): the cloud issued that drill to this tenant for that run, and its result
 *   is neither recorded nor past its deadline (the same condition a drill result is held to).
 * Anything else is refused (`inReplyTo: 'credentials-request'`) and nothing is minted; another
 * tenant's run is not revealed to exist.
 */
export async function renewReadCredentials(
  message: CredentialsRequestMessage & ({ drillId: string } | { restoreRequestId: string }),
  ctx: ReadRenewalContext,
): Promise<'credentials' | 'rejected'> {
  const refuse = async (code: string, text: string) => {
    await ctx.reply({
      type: 'error',
      v: PROTOCOL_VERSION,
      inReplyTo: 'credentials-request',
      runId: message.runId,
      ...(message.drillId !== undefined ? { drillId: message.drillId } : { restoreRequestId: message.restoreRequestId }),
      error: { code, message: text },
    });
    return 'rejected' as const;
  };
  let sessionKey: string;
  if (message.drillId !== undefined) {
    const drill = (await ctx.tenants.get(ctx.tenantId))?.issuedDrills?.[message.drillId];
    const now = (ctx.now?.() ?? new Date()).toISOString();
    if (!drill || drill.runId !== message.runId || drill.expiresAt <= now)
      return refuse(
        'DRILL_UNKNOWN',
        `drill ${message.drillId} for run ${message.runId} was not asked of this tenant, was answered already, or has expired: no new credentials`,
      );
    sessionKey = message.drillId;
  } else {
    const run = await ctx.runs.get(message.runId);
    if (!run || run.tenantId !== ctx.tenantId) return refuse('RUN_UNKNOWN', `run ${message.runId} is not a run of this tenant`);
    if (!isRestorable(run))
      return refuse('RUN_NOT_RESTORABLE', `run ${run.runId} is ${run.status} and kept nothing validated: no new credentials`);
    const grant = run.restores?.find((r) => r.requestId === message.restoreRequestId);
    if (!grant)
      return refuse(
        'RESTORE_UNKNOWN',
        `no restore of run ${run.runId} was granted under request ${message.restoreRequestId}: ask for the run again (so-connector restore)`,
      );
    const now = ctx.now?.() ?? new Date();
    const grantedAt = Date.parse(grant.at);
    if (!(now.getTime() - grantedAt < RESTORE_RENEWAL_HOURS * 3_600_000))
      return refuse(
        'RESTORE_EXPIRED',
        `the restore of run ${run.runId} under request ${message.restoreRequestId} was granted at ${grant.at}, more than ${RESTORE_RENEWAL_HOURS} hours ago: its credentials are not renewed; ask for the run again (so-connector restore)`,
      );
    if (grant.wants && !runHolds(run, grant.wants))
      return refuse(
        'RUN_LACKS_PART',
        `run ${run.runId} no longer holds a validated backup of what the restore asked for: no new credentials`,
      );
    sessionKey = run.runId;
  }
  await ctx.reply({
    type: 'credentials',
    v: PROTOCOL_VERSION,
    runId: message.runId,
    ...(message.drillId !== undefined ? { drillId: message.drillId } : { restoreRequestId: message.restoreRequestId }),
    credentials: await ctx.mintReadCredentials(ctx.tenantId, sessionKey),
  });
  return 'credentials';
}
