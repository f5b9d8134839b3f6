import { DescribeExecutionCommand, type SFNClient, StartExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { encodeMessage, PROTOCOL_VERSION, SoBackupError } from '../protocol';
import { awsErrorKind } from './aws-errors';
import type { Delivery } from './connection-messages';
import { tellTenantConnectors } from './enrolment';
import { RunError } from './errors';
import { executionName } from './run-name';
import { activeRun, executionArnOf, runExecutionArn } from './run-rules';
import type { ConnectionStore, RunRecord, RunStore, RunTrigger, TenantRecord, TenantStore } from './stores';

/**
 * Starting and stopping a BackupRun outside the schedule (support, operators): the operations the
 * CLI performs, with the rules the cloud holds every run to (core/run-rules.ts, core/run-name.ts).
 */

/** What starting and cancelling runs needs: the stores, Step Functions, the stack's settings, a way to reach connectors. */
export interface RunControl {
  tenants: Pick<TenantStore, 'get'>;
  runs: Pick<RunStore, 'forTenant' | 'finishIfRunning'>;
  connections: Pick<ConnectionStore, 'forTenant'>;
  sfn: SFNClient;
  /** The stack's outputs BackupRunStateMachineArn, ScheduleTimeZone and RunTimeoutSeconds. */
  backupRunStateMachineArn: string;
  scheduleTimeZone: string;
  runTimeoutSeconds: number;
  /** Sends a message to a connector's WebSocket (postToConnection). */
  sendToConnection(connectionId: string, message: string): Promise<Delivery>;
}

/** The input a BackupRun execution is started with (the workflow contract, core/workflow, checks it in Prepare). */
export interface BackupRunRequest {
  tenantId: string;
  trigger: RunTrigger;
  requestedBy: string;
  reason?: string;
  /** This run's backup window in seconds (0: none); absent: the tenant's, else the stack's (core/backup-window.ts). */
  windowSeconds?: number;
}

/** A backup of the tenant is running already: `running` names it (its record, or only its name when it was started a moment ago). */
export class RunConflictError extends RunError {
  constructor(
    readonly running: Pick<RunRecord, 'runId'> & Partial<Pick<RunRecord, 'startedAt' | 'requestedBy'>>,
    tenantId: string,
  ) {
    super(
      'RunConflict',
      `a backup of "${tenantId}" is already running: ${running.runId}${running.startedAt ? ` (started ${running.startedAt}${running.requestedBy ? ` by ${running.requestedBy}` : ''})` : ''}`,
    );
  }
}

/** No backup of the tenant is running (nothing to cancel). */
export class NoRunningRunError extends SoBackupError {
  constructor(tenantId: string) {
    super('NoRunningRun', `no backup of "${tenantId}" is running`, { permanent: true });
    this.name = 'NoRunningRun';
  }
}

/** The enabled tenant, or RunError TenantNotFound / TenantDisabled. */
async function enabledTenant(tenants: RunControl['tenants'], tenantId: string): Promise<TenantRecord> {
  const tenant = await tenants.get(tenantId);
  if (!tenant) throw new RunError('TenantNotFound', `tenant "${tenantId}" does not exist`);
  if (!tenant.enabled) throw new RunError('TenantDisabled', `tenant "${tenantId}" is disabled; enable it to back it up`);
  return tenant;
}

/**
 * Starts a BackupRun for one tenant now, named by the schedule's calendar day like every run.
 * Refused with RunConflictError when a backup of the tenant is running (activeRun: a RUNNING
 * record older than the run timeout is a crashed run and blocks nothing), also when another
 * request started one a moment before this one (Step Functions' ExecutionAlreadyExists for the
 * same name while it runs). A name taken by an execution that has ended takes the next suffix.
 * The same request twice (same name and input while it runs) is the same run: Step Functions'
 * StartExecution is idempotent for it.
 * @throws RunError TenantNotFound, TenantDisabled; RunConflictError
 */
export async function startRun(
  control: RunControl,
  request: BackupRunRequest,
  now = new Date(),
): Promise<{ runId: string; executionArn: string }> {
  await enabledTenant(control.tenants, request.tenantId);
  const recent = await control.runs.forTenant(request.tenantId, 50);
  const running = activeRun(recent, now, control.runTimeoutSeconds);
  if (running) throw new RunConflictError(running, request.tenantId);
  const taken = recent.map((r) => r.runId);
  for (let attempt = 0; ; attempt++) {
    const name = executionName(request.tenantId, now, request.trigger, taken, control.scheduleTimeZone);
    try {
      const out = await control.sfn.send(
        new StartExecutionCommand({ stateMachineArn: control.backupRunStateMachineArn, name, input: JSON.stringify(request) }),
      );
      return { runId: name, executionArn: out.executionArn ?? executionArnOf(control.backupRunStateMachineArn, name) };
    } catch (error) {
      if (awsErrorKind(error) !== 'execution-exists') throw error;
      const other = await control.sfn.send(
        new DescribeExecutionCommand({ executionArn: executionArnOf(control.backupRunStateMachineArn, name) }),
      );
      if (other.status === 'RUNNING' || attempt >= 5)
        throw new RunConflictError({ runId: name, startedAt: other.startDate?.toISOString() }, request.tenantId);
      taken.push(name);
    }
  }
}

/**
 * Cancels the tenant's running backup: its execution is stopped (StopExecution with error
 * "Cancelled"), the run recorded FAILED with who and why — only while it is still RUNNING (a run
 * that ended before the stop keeps its outcome) — and its connectors told to stop (cancel-job).
 * @returns the run, whether it was cancelled (false: it had ended; `status` is the execution's), how many connections were told
 * @throws RunError TenantNotFound; NoRunningRunError
 */
export async function cancelRun(
  control: RunControl,
  tenantId: string,
  cancelledBy: string,
  reason: string,
  now = new Date(),
): Promise<{ runId: string; cancelled: boolean; status: string; connectorsTold: number }> {
  if (!(await control.tenants.get(tenantId))) throw new RunError('TenantNotFound', `tenant "${tenantId}" does not exist`);
  const running = activeRun(await control.runs.forTenant(tenantId, 20), now, control.runTimeoutSeconds);
  if (!running) throw new NoRunningRunError(tenantId);
  const cause = `cancelled by ${cancelledBy}${reason ? `: ${reason}` : ''}`;
  const executionArn = runExecutionArn(running, control.backupRunStateMachineArn);
  await control.sfn.send(new StopExecutionCommand({ executionArn, error: 'Cancelled', cause }));
  const { status = 'UNKNOWN' } = await control.sfn.send(new DescribeExecutionCommand({ executionArn }));
  // A stopped execution runs no failure path of its own: the run is recorded here.
  const cancelled =
    status === 'ABORTED' &&
    (await control.runs.finishIfRunning(running.runId, {
      status: 'FAILED',
      finishedAt: new Date().toISOString(),
      failure: { error: 'Cancelled', cause },
    }));
  if (!cancelled) return { runId: running.runId, cancelled: false, status, connectorsTold: 0 };
  const message = encodeMessage({ type: 'cancel-job', v: PROTOCOL_VERSION, runId: running.runId, reason: cause });
  const connectorsTold = await tellTenantConnectors(
    { connections: control.connections, send: control.sendToConnection },
    tenantId,
    message,
  );
  return { runId: running.runId, cancelled: true, status, connectorsTold };
}
