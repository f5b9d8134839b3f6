import { DescribeExecutionCommand, StartExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { cancelBackup, showRun, startBackup } from '../../cli/src/backups';
import { EXIT } from '../../cli/src/cli-error';
import { type Fleet, openFleet } from '../../cli/src/fleet';
import { executionArnOf, newTenant, type RunRecord } from '../../core';
import { type CloudHarness, HARNESS_START_MS, startCloudHarness } from '../helpers/cloud-harness';

/**
 * The operator CLI's run commands against the cloud as local mode runs it (the stack's functions,
 * Step Functions, DynamoDB, every call IAM-checked), opened as `so-backup --local DIR` opens it:
 * through the outputs file. Tenants have no connector, so a started run waits (ConnectorOffline
 * retries) and stays RUNNING until stopped.
 */
describe("so-backup backup, --cancel and run show: the cloud's run rules", () => {
  let harness: CloudHarness;
  let fleet: Fleet;
  beforeAll(async () => {
    harness = await startCloudHarness();
    fleet = await openFleet({ local: harness.writeOperatorOutputs(), stackName: 'SoBackup' });
  }, HARNESS_START_MS);
  afterAll(async () => {
    fleet?.close();
    await harness?.stop();
  });

  async function tenant(tenantId: string): Promise<string> {
    await harness.tenants.create(newTenant(tenantId, tenantId));
    return tenantId;
  }

  async function executionEnded(runId: string): Promise<string> {
    for (;;) {
      const { status } = await fleet.sfn.send(
        new DescribeExecutionCommand({ executionArn: executionArnOf(fleet.outputs.BackupRunStateMachineArn, runId) }),
      );
      if (status !== 'RUNNING') return status!;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async function stop(runId: string): Promise<void> {
    await fleet.sfn.send(new StopExecutionCommand({ executionArn: executionArnOf(fleet.outputs.BackupRunStateMachineArn, runId) }));
  }

  test("GIVEN the stack's schedule in Europe/Oslo WHEN support starts a backup at 00:30 Oslo time THEN the run is named after that day, as the schedule names its runs, not after the UTC day before", async () => {
    const id = await tenant('oslo-night');
    expect(fleet.scheduleTimeZone).toBe('Europe/Oslo');
    const started = await startBackup(fleet, id, {
      reason: 'before the upgrade, ticket 4711',
      trigger: 'support',
      now: new Date('2026-11-25T23:30:00Z'),
    });
    expect(started.runId).toBe('oslo-night-2026-11-26-support');
    await stop(started.runId);
  });

  test("GIVEN a RUNNING record older than the run timeout (a crashed run) WHEN a backup is asked for THEN it starts, as the cloud's Prepare would let it; a RUNNING record inside the timeout still refuses it", async () => {
    const id = await tenant('crashed-before');
    const old = new Date(Date.now() - (fleet.runTimeoutSeconds + 3600) * 1000);
    const crashed: RunRecord = {
      runId: `${id}-old`,
      tenantId: id,
      status: 'RUNNING',
      trigger: 'schedule',
      requestedBy: 'schedule',
      executionArn: executionArnOf(fleet.outputs.BackupRunStateMachineArn, `${id}-old`),
      startedAt: old.toISOString(),
    };
    await harness.runs.create(crashed);
    const started = await startBackup(fleet, id, { reason: 'the nightly run crashed, ticket 12' });
    expect(started.runId).toMatch(/^crashed-before-\d{4}-\d{2}-\d{2}-operator$/);
    // Inside the timeout the same rule refuses, naming the run.
    await harness.runs.create({ ...crashed, runId: `${id}-recent`, startedAt: new Date().toISOString() });
    await expect(startBackup(fleet, id, { reason: 'a second one, ticket 13' })).rejects.toMatchObject({
      exitCode: EXIT.failed,
      message: expect.stringContaining(`already running: ${id}-recent`),
    });
    await stop(started.runId);
  });

  test('GIVEN three `so-backup backup` calls at once WHEN one wins THEN the two others say the backup is already running, naming it, with exit code 1 — not "talking to so-backup failed"', async () => {
    const id = await tenant('three-at-once');
    const outcomes = await Promise.allSettled(
      ['ticket 1 of 3', 'ticket 2 of 3', 'ticket 3 of 3'].map((reason) => startBackup(fleet, id, { reason })),
    );
    const won = outcomes.filter((o) => o.status === 'fulfilled');
    const lost = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    expect(won).toHaveLength(1);
    const runId = (won[0] as PromiseFulfilledResult<{ runId: string }>).value.runId;
    expect(lost).toHaveLength(2);
    for (const { reason } of lost) {
      expect(reason).toMatchObject({
        exitCode: EXIT.failed,
        message: expect.stringContaining(`a backup of "${id}" is already running: ${runId}`),
      });
      expect((reason as Error).message).toContain(`so-backup run show ${runId}`);
    }
    await stop(runId);
  });

  test('GIVEN a backup whose execution ended before the cancel reached it WHEN cancelled THEN its recorded outcome stays and the operator is told; a running one is cancelled and recorded', async () => {
    const id = await tenant('cancel-rules');
    const started = await startBackup(fleet, id, { reason: 'to be cancelled, ticket 7' });
    // The run is recorded by Prepare; wait for it.
    for (let run = await harness.runs.get(started.runId); run === undefined; run = await harness.runs.get(started.runId))
      await new Promise((resolve) => setTimeout(resolve, 100));
    const cancelled = await cancelBackup(fleet, id, 'customer changed their mind');
    expect(cancelled).toMatchObject({ runId: started.runId, cancelledBy: expect.stringMatching(/^local:/) });
    expect(await harness.runs.get(started.runId)).toMatchObject({
      status: 'FAILED',
      failure: { error: 'Cancelled', cause: expect.stringContaining('customer changed their mind') },
    });

    // A run whose execution has ended (here: failed, the tenant was disabled) while the operator's view still said RUNNING.
    const second = await tenant('ended-meanwhile');
    await harness.tenants.setEnabled(second, false);
    const name = `${second}-2026-11-25-operator`;
    await fleet.sfn.send(
      new StartExecutionCommand({
        stateMachineArn: fleet.outputs.BackupRunStateMachineArn,
        name,
        input: JSON.stringify({ tenantId: second, trigger: 'operator', requestedBy: 'test', reason: 'ends at once' }),
      }),
    );
    expect(await executionEnded(name)).toBe('FAILED');
    const recorded = (await harness.runs.get(name))!;
    expect(recorded).toMatchObject({ status: 'FAILED', failure: { error: 'TenantDisabled' } });
    await harness.tenants.setEnabled(second, true);
    const staleView = {
      ...fleet,
      runs: { ...fleet.runs, forTenant: async () => [{ ...recorded, status: 'RUNNING' as const, startedAt: new Date().toISOString() }] },
    } as unknown as Fleet;
    await expect(cancelBackup(staleView, second, 'too late')).rejects.toMatchObject({
      exitCode: EXIT.failed,
      message: expect.stringContaining(`backup ${name} ended (FAILED) before it could be cancelled`),
    });
    expect(await harness.runs.get(name)).toEqual(recorded);
  });

  test('GIVEN an attempt refused because a backup was running (RunConflict) WHEN shown THEN `run show` shows it with its steps, instead of failing with ExecutionDoesNotExist', async () => {
    const id = await tenant('conflicted');
    const first = await startBackup(fleet, id, { reason: 'the first one, ticket 1' });
    for (let run = await harness.runs.get(first.runId); run === undefined; run = await harness.runs.get(first.runId))
      await new Promise((resolve) => setTimeout(resolve, 100));
    // The schedule starts its run meanwhile: Prepare refuses it and the failure path records the attempt.
    const attempt = `${id}-2026-11-25-daily`;
    await fleet.sfn.send(
      new StartExecutionCommand({
        stateMachineArn: fleet.outputs.BackupRunStateMachineArn,
        name: attempt,
        input: JSON.stringify({ tenantId: id, trigger: 'schedule', requestedBy: 'schedule (test)' }),
      }),
    );
    expect(await executionEnded(attempt)).toBe('FAILED');
    const shown = await showRun(fleet, attempt);
    expect(shown).toMatchObject({ runId: attempt, status: 'FAILED', failure: { error: 'RunConflict' }, historyKept: true });
    expect(shown.steps.find((s) => s.outcome === 'failed')?.error).toMatch(/RunConflict/);
    // A record written before the execution's ARN was kept (its name only) is shown the same way.
    await harness.runs.update(attempt, { executionArn: attempt });
    expect((await showRun(fleet, attempt)).steps).toEqual(shown.steps);
    await stop(first.runId);
  });
});
