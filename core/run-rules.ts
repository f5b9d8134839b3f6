import type { RunRecord } from './stores';

/**
 * The rules a run is held to, wherever it is started or stopped from (DailyBackups, a support
 * backup from the CLI, Prepare in the state machine).
 */

/**
 * One backup per tenant at a time: the tenant's run that is going on, if any — a RUNNING record
 * started within the run timeout. A RUNNING record older than that is a crashed run (its
 * execution ended without recording it), not a running one, and blocks nothing.
 * @param recent the tenant's latest runs (RunStore.forTenant)
 * @param now when the new run starts (epoch ms or a Date)
 * @param runTimeoutSeconds BackupRun's timeout plus its failure path (the stack's RunTimeoutSeconds)
 * @param except a run id not to count (the run being prepared, on a retry of Prepare)
 */
export function activeRun(
  recent: readonly RunRecord[],
  now: Date | number,
  runTimeoutSeconds: number,
  except?: string,
): RunRecord | undefined {
  const since = (typeof now === 'number' ? now : now.getTime()) - runTimeoutSeconds * 1000;
  return recent.find((r) => r.status === 'RUNNING' && r.runId !== except && Date.parse(r.startedAt) > since);
}

/**
 * The ARN of an execution of a state machine, from its name (Step Functions' ARN format:
 * arn:<partition>:states:<region>:<account>:execution:<state machine>:<name>).
 */
export function executionArnOf(stateMachineArn: string, name: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
}

/**
 * The execution ARN of a run. Attempts that failed before Prepare recorded them (RunConflict,
 * TenantNotFound) were recorded with their execution's name only, before the ARN was kept: the
 * ARN follows from the name and BackupRun's ARN.
 */
export function runExecutionArn(run: Pick<RunRecord, 'runId' | 'executionArn'>, backupRunStateMachineArn: string): string {
  return run.executionArn.startsWith('arn:') ? run.executionArn : executionArnOf(backupRunStateMachineArn, run.executionArn || run.runId);
}
