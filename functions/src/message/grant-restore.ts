import { type CloudMessage, PROTOCOL_VERSION, type RestoreRequest, type UploadCredentials, type UploadTarget } from '../../../protocol';
import { isRestorable, restorableManifest, runHolds, type RunRecord, type RunStore } from '../../../core';

export interface RestoreContext {
  tenantId: string;
  connectionId: string;
  runs: Pick<RunStore, 'get' | 'forTenant' | 'addRestore'>;
  mintCredentials(tenantId: string, runId: string, access: 'restore'): Promise<UploadCredentials>;
  target: UploadTarget;
  reply(message: CloudMessage): Promise<unknown>;
}

/** How far back "latest" and "at" look among a tenant's runs. */
const RUNS_SEARCHED = 500;

/**
 * `so-connector restore` asks for a run: the named one, or the newest validated one (at or
 * before `at`) that kept what the restore wants (a database, the archive). The answer carries the manifest and read-only credentials for the tenant's own
 * backups; every grant is recorded with the run (who, when, which connection).
 */
export async function grantRestore(request: RestoreRequest, ctx: RestoreContext): Promise<'restore-granted' | 'rejected'> {
  const refuse = async (code: string, message: string) => {
    await ctx.reply({ type: 'error', v: PROTOCOL_VERSION, inReplyTo: 'restore-request', error: { code, message } });
    return 'rejected' as const;
  };
  const wants = request.wants ?? {};
  const wanted = [
    wants.database !== undefined && `database "${wants.database}"`,
    wants.anyDatabase && 'a database',
    wants.archive && 'the archive',
  ]
    .filter(Boolean)
    .join(' and ');
  let run: RunRecord | undefined;
  if (request.run === 'latest') {
    const before = request.at ? Date.parse(request.at) : Infinity;
    run = (await ctx.runs.forTenant(ctx.tenantId, RUNS_SEARCHED)).find((r) => runHolds(r, wants) && Date.parse(r.startedAt) <= before);
    if (!run)
      return refuse(
        'NO_VALIDATED_RUN',
        `tenant ${ctx.tenantId} has no validated backup${wanted ? ` of ${wanted}` : ''}${request.at ? ` at or before ${request.at}` : ''}`,
      );
  } else {
    run = await ctx.runs.get(request.run);
    // Never reveal whether another tenant's run exists.
    if (!run || run.tenantId !== ctx.tenantId) return refuse('RUN_UNKNOWN', `run ${request.run} is not a run of this tenant`);
    if (!isRestorable(run))
      return refuse(
        'RUN_NOT_RESTORABLE',
        `run ${run.runId} is ${run.status} and kept nothing validated: only validated backups can be restored; \`so-connector restore --run latest\` takes the newest validated one`,
      );
    if (!runHolds(run, wants)) {
      const why = run.failures?.map((f) => `${f.kind} ${f.name}: ${f.error.message}`).join('; ');
      return refuse(
        'RUN_LACKS_PART',
        `run ${run.runId} did not keep a validated backup of ${wanted}${why ? ` (${why})` : ''}; \`so-connector restore --run latest\` takes the newest run that did`,
      );
    }
  }
  const manifest = restorableManifest(run);
  if (!manifest) return refuse('RUN_NOT_RESTORABLE', `run ${run.runId} cannot be restored`);
  const credentials = await ctx.mintCredentials(ctx.tenantId, run.runId, 'restore');
  // The request id too: the restore's credential renewals name it (renew-read-credentials.ts).
  await ctx.runs.addRestore(run.runId, {
    by: request.requestedBy,
    at: new Date().toISOString(),
    connectionId: ctx.connectionId,
    requestId: request.requestId,
    ...(request.wants ? { wants: request.wants } : {}),
  });
  await ctx.reply({
    type: 'restore-grant',
    v: PROTOCOL_VERSION,
    requestId: request.requestId,
    runId: run.runId,
    startedAt: run.startedAt,
    manifest,
    target: ctx.target,
    credentials,
  });
  return 'restore-granted';
}
