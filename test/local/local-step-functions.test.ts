import { Duration } from 'aws-cdk-lib';
import type { HandlerName } from '../../functions/src/handler-names';
import { readLocalDeployment } from '../../local/cloud/local-deployment';
import { type FunctionInvoker, LambdaFunctionError, LambdaInvokeError } from '../../local/cloud/local-lambda';
import { LocalSns } from '../../local/cloud/local-sns';
import { LocalStepFunctions } from '../../local/cloud/local-step-functions';
import { historyEvent } from '../../local/cloud/step-functions-api';
import type { HistoryEvent } from '@aws-sdk/client-sfn';
import { stepsFromHistory } from '../../cli/src/backups';
import { synthesizeTemplate } from '../../local/cloud/synthesize-template';
import { IamAuthorizer } from '../../local/iam/iam-authorizer';
import { readIamModel } from '../../local/iam/iam-model';

/**
 * The stack's own BackupRun and DailyBackups definitions (synthesized, with a 1 s heartbeat)
 * run by the local runner, with the Lambda functions replaced by doubles to steer each path.
 * The state machines' own calls (invoking the functions, starting child executions, publishing
 * alerts) are authorized against the template's policies, as in local mode.
 */
const template = synthesizeTemplate({ heartbeat: Duration.seconds(1), offlineRetryInterval: Duration.seconds(1), offlineRetryWindow: Duration.seconds(2) });
const deployment = readLocalDeployment(template);
const authorizer = new IamAuthorizer(readIamModel(template));
const topics = new Set(Object.entries(template.Resources).filter(([, r]) => r.Type === 'AWS::SNS::Topic').map(([id]) => `arn:aws:sns:us-east-1:000000000000:${id}`));
const backupRunArn = deployment.stateMachines.find((m) => m.name === 'BackupRun')!.arn;
const dailyArn = deployment.stateMachines.find((m) => m.name === 'DailyBackups')!.arn;

type Doubles = Partial<Record<HandlerName, (event: Record<string, unknown>, sfn: LocalStepFunctions) => unknown>>;

function setup(doubles: Doubles) {
  const alerts: Array<{ subject?: string; message: string }> = [];
  const calls: string[] = [];
  let sfn!: LocalStepFunctions;
  const invoker: FunctionInvoker = {
    invoke: async (arn, event, caller) => {
      const decision = await authorizer.decide(caller, { action: 'lambda:InvokeFunction', resource: arn });
      if (!decision.allowed) throw new LambdaInvokeError('AccessDeniedException', decision.message, 403);
      const handler = deployment.functions.find((f) => f.arn === arn)!.handler;
      calls.push(handler);
      const double = doubles[handler];
      if (!double) throw new Error(`no double for ${handler}`);
      try {
        return await double(event as Record<string, unknown>, sfn);
      } catch (error) {
        throw new LambdaFunctionError((error as Error).name, (error as Error).message);
      }
    },
  };
  sfn = new LocalStepFunctions(deployment, invoker, { authorizer, sns: new LocalSns(topics, authorizer, (alert) => alerts.push(alert)) });
  return { sfn, alerts, calls };
}

const runRef = (event: Record<string, unknown>) => ({ runId: (event.execution as { name: string }).name, tenantId: 'acme', trigger: 'schedule', startedAt: new Date().toISOString() });
const failWith = (name: string, message: string) => () => {
  throw Object.assign(new Error(message), { name });
};
const happy: Doubles = {
  'prepare-run': runRef,
  'request-backup': (event, sfn) => {
    const token = event.taskToken as string;
    setTimeout(() => {
      sfn.sendTaskHeartbeat(token);
      sfn.sendTaskSuccess(token, JSON.stringify({ manifest: { key: 'incoming/acme/acme-2026-11-25-daily/manifest.json', versionId: 'v1' } }));
    }, 50);
    return { connectionId: 'c1' };
  },
  'validate-run': () => ({ ok: true, checks: 5, problems: [], databases: [], totalBytes: 1 }),
  'finalize-run': () => ({ status: 'SUCCEEDED', failed: false, uploadedBytes: 1 }),
  'mark-run-failed': (event) => ({ subject: 'so-backup: backup FAILED', message: `failed: ${JSON.stringify((event.state as { error: unknown }).error)}` }),
};

async function run(sfn: LocalStepFunctions, name = 'acme-2026-11-25-daily') {
  const execution = sfn.startExecution(backupRunArn, JSON.stringify({ tenantId: 'acme', trigger: 'schedule', requestedBy: 'test' }), name);
  await execution.done;
  return execution;
}

describe('BackupRun, executed locally from the synthesized definition', () => {
  test('GIVEN a connector that reports success WHEN run THEN it goes prepare → request → validate → finalize and SUCCEEDS', async () => {
    const { sfn, calls, alerts } = setup(happy);
    const execution = await run(sfn);
    expect(execution.status).toBe('SUCCEEDED');
    expect(calls).toEqual(['prepare-run', 'request-backup', 'validate-run', 'finalize-run']);
    expect(alerts).toEqual([]);
    const output = JSON.parse(execution.output!) as { backup: unknown };
    expect(output.backup).toEqual({ manifest: { key: 'incoming/acme/acme-2026-11-25-daily/manifest.json', versionId: 'v1' } });
  });

  test('GIVEN a run kept and validated whose TDE certificate was never backed up WHEN run THEN it SUCCEEDS and publishes the action-needed alert naming the certificate', async () => {
    const alert = { subject: 'so-backup: backup of acme needs action', message: '- database SuperOffice: the private key of TDE certificate "TDECert" has never been backed up' };
    const { sfn, calls, alerts } = setup({ ...happy, 'finalize-run': () => ({ status: 'SUCCEEDED_WITH_WARNINGS', failed: false, warnings: 1, alert }) });
    const execution = await run(sfn);
    expect(execution.status).toBe('SUCCEEDED');
    expect(calls).toEqual(['prepare-run', 'request-backup', 'validate-run', 'finalize-run']);
    expect(alerts).toEqual([expect.objectContaining(alert)]);
  });

  test('GIVEN a run whose finalize kept some parts while another failed WHEN run THEN it marks the run failed and FAILS with PartsFailed, the alert naming what failed', async () => {
    const cause = 'database 2two: SQL_DATABASE_OFFLINE: database "2two" is OFFLINE — kept and validated: database SuperOffice, the archive';
    const { sfn, calls, alerts } = setup({ ...happy, 'finalize-run': () => ({ status: 'FAILED', failed: true, failureCause: cause }) });
    const execution = await run(sfn);
    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe('PartsFailed');
    expect(calls).toEqual(['prepare-run', 'request-backup', 'validate-run', 'finalize-run', 'mark-run-failed']);
    expect(alerts).toEqual([expect.objectContaining({ message: expect.stringContaining('2two: SQL_DATABASE_OFFLINE') })]);
  });

  test('GIVEN a failed run WHEN its history is read as GetExecutionHistory gives it THEN `run show` lists each state once ("Backup failed" not twice)', async () => {
    const { sfn } = setup({ ...happy, 'finalize-run': () => ({ status: 'FAILED', failed: true, failureCause: 'database 2two: SQL_DATABASE_OFFLINE' }) });
    const execution = await run(sfn);
    const events = execution.history.map(historyEvent).map((e) => ({ ...e, timestamp: new Date(e.timestamp * 1000) })) as HistoryEvent[];
    const steps = stepsFromHistory(events);
    expect(steps.map((s) => s.name)).toEqual(['Prepare', 'Request backup', 'Validate', 'Finalize', 'All parts kept?', 'Some parts failed', 'Mark run failed', 'Publish alert', 'Backup failed']);
    expect(steps.at(-1)).toMatchObject({ name: 'Backup failed', outcome: 'failed', error: expect.stringMatching(/^PartsFailed/) });
  });

  test('GIVEN no connector online for the whole window WHEN run THEN it asks again, then marks the run failed, alerts, and FAILS with ConnectorOffline', async () => {
    const { sfn, calls, alerts } = setup({ ...happy, 'request-backup': failWith('ConnectorOffline', 'no connector of tenant "acme" is connected') });
    const execution = await run(sfn);
    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe('ConnectorOffline');
    expect(calls).toEqual(['prepare-run', 'request-backup', 'request-backup', 'request-backup', 'mark-run-failed']);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.message).toMatch(/ConnectorOffline/);
  });

  test('GIVEN a connector offline at schedule time that comes back within the window WHEN run THEN the retry takes the backup', async () => {
    let attempts = 0;
    const { sfn, calls } = setup({ ...happy, 'request-backup': (event, s) => {
      if (++attempts === 1) throw Object.assign(new Error('offline'), { name: 'ConnectorOffline' });
      return happy['request-backup']!(event, s);
    } });
    const execution = await run(sfn);
    expect(execution.status).toBe('SUCCEEDED');
    expect(calls).toEqual(['prepare-run', 'request-backup', 'request-backup', 'validate-run', 'finalize-run']);
  });

  test('GIVEN a connector that goes silent WHEN the heartbeat lapses THEN the run FAILS with States.HeartbeatTimeout', async () => {
    const { sfn, alerts } = setup({ ...happy, 'request-backup': () => ({ connectionId: 'c1' }) });
    const started = Date.now();
    const execution = await run(sfn);
    expect(execution.error).toBe('States.HeartbeatTimeout');
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(alerts).toHaveLength(1);
  });

  test('GIVEN the connector reports a failure WHEN SendTaskFailure arrives THEN its code is the run\'s error', async () => {
    const { sfn } = setup({ ...happy, 'request-backup': (event, s) => {
      setTimeout(() => s.sendTaskFailure(event.taskToken as string, 'BackupFailed', 'SQL_BACKUP_FOLDER_DENIED: cannot write'), 20);
      return {};
    } });
    const execution = await run(sfn);
    expect(execution).toMatchObject({ status: 'FAILED', error: 'BackupFailed', cause: 'SQL_BACKUP_FOLDER_DENIED: cannot write' });
  });

  test('GIVEN validation finds problems WHEN run THEN the run FAILS with ValidationFailed and is never finalized', async () => {
    const { sfn, calls } = setup({ ...happy, 'validate-run': failWith('ValidationFailed', '1 problem(s): size differs') });
    const execution = await run(sfn);
    expect(execution.error).toBe('ValidationFailed');
    expect(calls).not.toContain('finalize-run');
  });

  test('task tokens are single use: a late answer is told the task is gone', async () => {
    let token = '';
    const { sfn } = setup({ ...happy, 'request-backup': (event, s) => {
      token = event.taskToken as string;
      setTimeout(() => s.sendTaskSuccess(token, JSON.stringify({ manifest: { key: 'k', versionId: 'v' } })), 20);
      return {};
    } });
    await run(sfn);
    expect(() => sfn.sendTaskSuccess(token, '{}')).toThrow(expect.objectContaining({ name: 'TaskTimedOut' }));
  });

  test('StopExecution aborts a running execution with the given error and cause, and runs no failure path', async () => {
    const { sfn, calls, alerts } = setup({ ...happy, 'request-backup': () => ({ connectionId: 'c1' }) }); // the connector never answers
    const execution = sfn.startExecution(backupRunArn, JSON.stringify({ tenantId: 'acme', trigger: 'operator', requestedBy: 'test' }), 'acme-2026-11-25-operator');
    while (!calls.includes('request-backup')) await new Promise((r) => setTimeout(r, 10));
    await sfn.stopExecution(execution.executionArn, 'Cancelled', 'cancelled by sam');
    expect(execution).toMatchObject({ status: 'ABORTED', error: 'Cancelled', cause: 'cancelled by sam' });
    expect(calls).not.toContain('mark-run-failed');
    expect(alerts).toEqual([]);
    await sfn.stopExecution(execution.executionArn); // stopping an ended execution changes nothing
    expect(execution.status).toBe('ABORTED');
  });

  test('execution names are unique per state machine', async () => {
    const { sfn } = setup(happy);
    await run(sfn, 'acme-2026-11-25-operator');
    expect(() => sfn.startExecution(backupRunArn, '{}', 'acme-2026-11-25-operator')).toThrow(expect.objectContaining({ name: 'ExecutionAlreadyExists' }));
  });
});

describe('DailyBackups, executed locally', () => {
  test('GIVEN two tenants and one fails WHEN the daily run fans out THEN each gets its own execution and the other still succeeds', async () => {
    const { sfn } = setup({
      ...happy,
      'list-tenants': () => ({ everyTenant: false, runs: ['acme', 'beta'].map((tenantId) => ({ executionName: `${tenantId}-2026-11-25-daily`, input: { tenantId, trigger: 'schedule', requestedBy: 'schedule' } })) }),
      'prepare-run': (event) => {
        const input = event.input as { tenantId: string };
        if (input.tenantId === 'beta') throw Object.assign(new Error('tenant "beta" is disabled'), { name: 'TenantDisabled' });
        return runRef(event);
      },
    });
    const daily = sfn.startExecution(dailyArn, '{}', 'daily-2026-11-25');
    await daily.done;
    expect(daily.status).toBe('SUCCEEDED');
    const results = (JSON.parse(daily.output!) as { results: Array<{ executionName: string; status: string }> }).results;
    expect(results).toEqual([
      { executionName: 'acme-2026-11-25-daily', status: 'SUCCEEDED' },
      { executionName: 'beta-2026-11-25-daily', status: 'FAILED', error: 'States.TaskFailed' },
    ]);
    const children = [...sfn.executions.values()].filter((e) => e.stateMachineArn === backupRunArn).map((e) => [e.name, e.status]);
    expect(children).toEqual([['acme-2026-11-25-daily', 'SUCCEEDED'], ['beta-2026-11-25-daily', 'FAILED']]);
  });

  test('GIVEN more tenants than one page WHEN the daily run fans out THEN it lists page after page with the cursor, carrying the catch-up mode, and starts every tenant', async () => {
    const listed: unknown[] = [];
    const pages: Record<string, { next?: string; tenants: string[] }> = { first: { next: 'beta', tenants: ['acme', 'beta'] }, beta: { tenants: ['gamma'] } };
    const { sfn } = setup({
      ...happy,
      'list-tenants': (event) => {
        const state = event.state as { cursor?: string; everyTenant?: boolean };
        listed.push({ cursor: state.cursor, everyTenant: state.everyTenant });
        const page = pages[state.cursor ?? 'first']!;
        return {
          everyTenant: state.everyTenant ?? false, ...(page.next ? { next: page.next } : {}),
          runs: page.tenants.map((tenantId) => ({ executionName: `${tenantId}-2026-11-25-daily`, input: { tenantId, trigger: 'schedule', requestedBy: 'schedule' } })),
        };
      },
    });
    const daily = sfn.startExecution(dailyArn, JSON.stringify({ trigger: 'schedule', everyTenant: true }), 'daily-2026-11-25-catch-up');
    await daily.done;
    expect(daily.status).toBe('SUCCEEDED');
    expect(listed).toEqual([{ cursor: undefined, everyTenant: true }, { cursor: 'beta', everyTenant: true }]);
    const children = [...sfn.executions.values()].filter((e) => e.stateMachineArn === backupRunArn).map((e) => [e.name, e.status]);
    expect(children).toEqual([['acme-2026-11-25-daily', 'SUCCEEDED'], ['beta-2026-11-25-daily', 'SUCCEEDED'], ['gamma-2026-11-25-daily', 'SUCCEEDED']]);
  });
});
