import type { RunRecord, RunStore } from '../../../core';

/** Turns Step Functions' error/cause into a sentence a person can act on. */
export function describeFailure(error: string, cause: string): string {
  const detail = extractErrorMessage(cause);
  switch (error) {
    case 'States.HeartbeatTimeout':
      return 'The connector stopped reporting progress in the middle of the backup (heartbeat timeout).';
    case 'States.Timeout':
      return 'The backup took longer than the allowed time and was abandoned.';
    case 'PartsFailed':
      return `Not everything could be backed up (the validated parts were kept and count for retention): ${detail}`;
    default:
      return detail ? `${error}: ${detail}` : error;
  }
}

/** Lambda errors arrive as a JSON cause {"errorType","errorMessage"}; other causes are plain text. */
function extractErrorMessage(cause: string): string {
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown };
    if (typeof parsed.errorMessage === 'string') return parsed.errorMessage;
  } catch {
    // plain text
  }
  return cause;
}

export async function markRunFailed(
  deps: { runs: Pick<RunStore, 'get' | 'update' | 'create'> },
  runId: string,
  tenantId: string | undefined,
  failure: { error: string; cause: string },
  now = new Date(),
  attempt: { trigger?: RunRecord['trigger']; requestedBy?: string; reason?: string; executionArn?: string } = {},
): Promise<{ subject: string; message: string }> {
  const description = describeFailure(failure.error, failure.cause);
  const run = await deps.runs.get(runId);
  const failed = { status: 'FAILED' as const, finishedAt: now.toISOString(), failure: { error: failure.error, cause: description } };
  if (run) await deps.runs.update(runId, failed);
  else if (tenantId) {
    // Failed before Prepare recorded it (unknown tenant, already running): record it anyway, so every attempt is visible.
    await deps.runs.create({
      runId,
      tenantId,
      trigger: attempt.trigger ?? 'operator',
      requestedBy: attempt.requestedBy ?? 'unknown',
      reason: attempt.reason,
      executionArn: attempt.executionArn ?? runId,
      startedAt: now.toISOString(),
      ...failed,
    });
  }
  const tenant = run?.tenantId ?? tenantId ?? 'unknown tenant';
  return {
    subject: `so-backup: backup of ${tenant} FAILED`.slice(0, 100),
    message: [
      `Backup run ${runId} of tenant ${tenant} failed.`,
      '',
      `Reason: ${description}`,
      '',
      `Error code: ${failure.error}`,
      `Time: ${now.toISOString()}`,
    ].join('\n'),
  };
}
