import { Duration } from 'aws-cdk-lib';
import type { HandlerName } from '../../functions/src/handler-names';
import { readLocalDeployment } from '../../local/cloud/local-deployment';
import { type FunctionInvoker, LambdaFunctionError, LambdaInvokeError } from '../../local/cloud/local-lambda';
import { LocalSns } from '../../local/cloud/local-sns';
import { LocalStepFunctions, withAwsTaskTimeouts } from '../../local/cloud/local-step-functions';
import { historyEvent } from '../../local/cloud/step-functions-api';
import type { HistoryEvent } from '@aws-sdk/client-sfn';
import { stepsFromHistory } from '../../cli/src/backups';
import { synthesizeTemplate } from '../../local/cloud/synthesize-template';
import { IamAuthorizer } from '../../local/iam/iam-authorizer';
import { readIamModel } from '../../local/iam/iam-model';
import { createServer } from 'node:http';
import { stepFunctionsApi } from '../../local/cloud/step-functions-api';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { startDueBackups } from '../../functions/src/list-tenants/start-due-backups';
import type { TenantRecord } from '../../core';
import { freePort } from '../helpers/test-ports';
import { tenantRecord } from '../helpers/tenant-record';

/**
 * The stack's own BackupRun and DailyBackups definitions (synthesized, with a 1 s heartbeat)
 * run by the local runner, with the Lambda functions replaced by doubles to steer each path.
 * The state machines' own calls (invoking the functions, starting child executions, publishing
 * alerts) are authorized against the template's policies, as in local mode.
 */
const template = synthesizeTemplate({
  heartbeat: Duration.seconds(1),
  offlineRetryInterval: Duration.seconds(1),
  offlineRetryWindow: Duration.seconds(2),
  // A 2-second offline wait fits no check-in interval (the stack refuses it): these connectors stay connected.
  connectorPresence: 'always',
});
const deployment = readLocalDeployment(template);
const authorizer = new IamAuthorizer(readIamModel(template));
const topics = new Set(
  Object.entries(template.Resources)
    .filter(([, r]) => r.Type === 'AWS::SNS::Topic')
    .map(([id]) => `arn:aws:sns:us-east-1:000000000000:${id}`),
);
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

const runRef = (event: Record<string, unknown>) => ({
  runId: (event.execution as { name: string }).name,
  tenantId: 'acme',
  trigger: 'schedule',
  startedAt: new Date().toISOString(),
});
const failWith = (name: string, message: string) => () => {
  throw Object.assign(new Error(message), { name });
};
const happy: Doubles = {
  'prepare-run': runRef,
  'request-backup': (event, sfn) => {
    const token = event.taskToken as string;
    setTimeout(() => {
      try {
        sfn.sendTaskHeartbeat(token);
        sfn.sendTaskSuccess(
          token,
          JSON.stringify({ manifest: { key: 'incoming/acme/acme-2026-11-25-daily/manifest.json', versionId: 'v1' } }),
        );
      } catch (error) {
        // A test that does not wait for this run may have ended (and stopped it) before the connector's answer.
        if (!['TaskTimedOut', 'InvalidToken'].includes((error as Error).name)) throw error;
      }
    }, 50);
    return { connectionId: 'c1' };
  },
  'validate-run': () => ({ ok: true, checks: 5, problems: [], databases: [], totalBytes: 1 }),
  'finalize-run': () => ({ status: 'SUCCEEDED', failed: false, uploadedBytes: 1 }),
  'mark-run-failed': (event) => ({
    subject: 'so-backup: backup FAILED',
    message: `failed: ${JSON.stringify((event.state as { error: unknown }).error)}`,
  }),
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
    const alert = {
      subject: 'so-backup: backup of acme needs action',
      message: '- database SuperOffice: the private key of TDE certificate "TDECert" has never been backed up',
    };
    const { sfn, calls, alerts } = setup({
      ...happy,
      'finalize-run': () => ({ status: 'SUCCEEDED_WITH_WARNINGS', failed: false, warnings: 1, alert }),
    });
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
    const { sfn } = setup({
      ...happy,
      'finalize-run': () => ({ status: 'FAILED', failed: true, failureCause: 'database 2two: SQL_DATABASE_OFFLINE' }),
    });
    const execution = await run(sfn);
    const events = execution.history.map(historyEvent).map((e) => ({ ...e, timestamp: new Date(e.timestamp * 1000) })) as HistoryEvent[];
    const steps = stepsFromHistory(events);
    expect(steps.map((s) => s.name)).toEqual([
      'Prepare',
      'Request backup',
      'Validate',
      'Finalize',
      'All parts kept?',
      'Some parts failed',
      'Mark run failed',
      'Publish alert',
      'Backup failed',
    ]);
    expect(steps.at(-1)).toMatchObject({ name: 'Backup failed', outcome: 'failed', error: expect.stringMatching(/^PartsFailed/) });
  });

  test('GIVEN no connector online for the whole window WHEN run THEN it asks again, then marks the run failed, alerts, and FAILS with ConnectorOffline', async () => {
    const { sfn, calls, alerts } = setup({
      ...happy,
      'request-backup': failWith('ConnectorOffline', 'no connector of tenant "acme" is connected'),
    });
    const execution = await run(sfn);
    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe('ConnectorOffline');
    expect(calls).toEqual(['prepare-run', 'request-backup', 'request-backup', 'request-backup', 'mark-run-failed']);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.message).toMatch(/ConnectorOffline/);
  });

  test('GIVEN a connector offline at schedule time that comes back within the window WHEN run THEN the retry takes the backup', async () => {
    let attempts = 0;
    const { sfn, calls } = setup({
      ...happy,
      'request-backup': (event, s) => {
        if (++attempts === 1) throw Object.assign(new Error('offline'), { name: 'ConnectorOffline' });
        return happy['request-backup']!(event, s);
      },
    });
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

  test("GIVEN the connector reports a failure WHEN SendTaskFailure arrives THEN its code is the run's error", async () => {
    const { sfn } = setup({
      ...happy,
      'request-backup': (event, s) => {
        setTimeout(() => s.sendTaskFailure(event.taskToken as string, 'BackupFailed', 'SQL_BACKUP_FOLDER_DENIED: cannot write'), 20);
        return {};
      },
    });
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
    const { sfn } = setup({
      ...happy,
      'request-backup': (event, s) => {
        token = event.taskToken as string;
        setTimeout(() => s.sendTaskSuccess(token, JSON.stringify({ manifest: { key: 'k', versionId: 'v' } })), 20);
        return {};
      },
    });
    await run(sfn);
    expect(() => sfn.sendTaskSuccess(token, '{}')).toThrow(expect.objectContaining({ name: 'TaskTimedOut' }));
  });

  test('StopExecution aborts a running execution with the given error and cause, and runs no failure path', async () => {
    const { sfn, calls, alerts } = setup({ ...happy, 'request-backup': () => ({ connectionId: 'c1' }) }); // the connector never answers
    const execution = sfn.startExecution(
      backupRunArn,
      JSON.stringify({ tenantId: 'acme', trigger: 'operator', requestedBy: 'test' }),
      'acme-2026-11-25-operator',
    );
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
    expect(() => sfn.startExecution(backupRunArn, '{}', 'acme-2026-11-25-operator')).toThrow(
      expect.objectContaining({ name: 'ExecutionAlreadyExists' }),
    );
  });
});

describe('DailyBackups, executed locally', () => {
  const settings = { timeZone: 'Europe/Oslo', windowStartHour: 2, windowHours: 4 };
  const tenant = (tenantId: string) => tenantRecord(tenantId);
  /** The real start-due-backups service over an in-memory tenant list, starting BackupRuns on the local Step Functions. */
  const starter =
    (tenants: TenantRecord[], start: (sfn: LocalStepFunctions, name: string, input: unknown) => Promise<'started' | 'exists'>) =>
    (event: Record<string, unknown>, sfn: LocalStepFunctions) => {
      const state = event.state as { cursor?: string; everyTenant?: boolean; scheduledTime?: string };
      return startDueBackups(
        { listPage: async () => ({ tenants }), recentRunIds: async () => [], start: (name, input) => start(sfn, name, input) },
        {
          windowStart: new Date(state.scheduledTime ?? '2026-11-25T01:00:00Z'),
          everyTenant: state.everyTenant ?? false,
          requestedBy: (event.execution as { name: string }).name,
          settings,
        },
      ).then((result) => ({ everyTenant: state.everyTenant ?? false, scheduledTime: state.scheduledTime, ...result }));
    };
  const startLocally = async (sfn: LocalStepFunctions, name: string, input: unknown) => {
    sfn.startExecution(backupRunArn, JSON.stringify(input), name);
    return 'started' as const;
  };

  test('GIVEN an offline tenant listed first WHEN the quarter hour starts THEN the online tenant is asked at once, DailyBackups ends without waiting, and only the offline run waits out its window', async () => {
    const requested = new Map<string, number>();
    const began = Date.now();
    const { sfn } = setup({
      ...happy,
      'list-tenants': starter([tenant('offline'), tenant('online')], startLocally),
      'prepare-run': (event) => ({ ...runRef(event), tenantId: (event.input as { tenantId: string }).tenantId }),
      'request-backup': (event, local) => {
        const { tenantId } = event.run as { tenantId: string };
        if (!requested.has(tenantId)) requested.set(tenantId, Date.now() - began);
        if (tenantId === 'offline')
          throw Object.assign(new Error('no connector of tenant "offline" is connected'), { name: 'ConnectorOffline' });
        return happy['request-backup']!(event, local);
      },
    });
    const daily = sfn.startExecution(
      dailyArn,
      JSON.stringify({ trigger: 'schedule', scheduledTime: '2026-11-25T01:00:00Z' }),
      'daily-2026-11-25T0100',
    );
    await daily.done;
    expect(daily.status).toBe('SUCCEEDED');
    const run = (name: string) => sfn.describe(`${backupRunArn.replace(':stateMachine:', ':execution:')}:${name}`);
    expect(run('offline-2026-11-25-daily').status).toBe('RUNNING'); // still inside its offline window
    await run('online-2026-11-25-daily').done;
    expect(run('online-2026-11-25-daily').status).toBe('SUCCEEDED');
    // Asked together with the offline one, not after its retries (every 1 s).
    expect(Math.abs(requested.get('online')! - requested.get('offline')!)).toBeLessThan(500);
    await run('offline-2026-11-25-daily').done; // 2 s window, asked every 1 s
    expect(run('offline-2026-11-25-daily')).toMatchObject({ status: 'FAILED', error: 'ConnectorOffline' });
    expect(JSON.parse(daily.output!)).toMatchObject({
      page: { due: 2, started: 2, alreadyStarted: 0, startedRuns: ['offline-2026-11-25-daily', 'online-2026-11-25-daily'] },
    });
  });

  test('GIVEN the schedule fires twice for the same quarter hour WHEN the second DailyBackups runs THEN nothing starts twice: the names are taken', async () => {
    const { sfn } = setup({
      ...happy,
      'list-tenants': starter([tenant('acme')], async (local, name, input) => {
        try {
          local.startExecution(backupRunArn, JSON.stringify(input), name);
          return 'started';
        } catch (error) {
          if ((error as Error).name === 'ExecutionAlreadyExists') return 'exists';
          throw error;
        }
      }),
    });
    const input = JSON.stringify({ trigger: 'schedule', scheduledTime: '2026-11-25T01:00:00Z' });
    const first = sfn.startExecution(dailyArn, input, 'daily-a');
    await first.done;
    const second = sfn.startExecution(dailyArn, input, 'daily-b');
    await second.done;
    expect(JSON.parse(second.output!)).toMatchObject({ page: { due: 1, started: 0, alreadyStarted: 1 } });
    expect([...sfn.executions.values()].filter((e) => e.stateMachineArn === backupRunArn)).toHaveLength(1);
  });

  test('GIVEN more tenants than one page WHEN DailyBackups runs THEN it comes back with the cursor, carrying the mode and the quarter hour', async () => {
    const listed: unknown[] = [];
    const { sfn } = setup({
      'list-tenants': (event) => {
        const state = event.state as { cursor?: string; everyTenant?: boolean; scheduledTime?: string };
        listed.push(state);
        return {
          everyTenant: state.everyTenant ?? false,
          scheduledTime: '2026-11-25T12:00:00.000Z',
          ...(state.cursor ? {} : { next: 'beta' }),
          scanned: 1,
          due: 1,
          started: 1,
          alreadyStarted: 0,
          startedRuns: [],
        };
      },
    });
    const daily = sfn.startExecution(dailyArn, JSON.stringify({ trigger: 'schedule', everyTenant: true }), 'daily-2026-11-25-catch-up');
    await daily.done;
    expect(daily.status).toBe('SUCCEEDED');
    expect(listed).toEqual([
      { trigger: 'schedule', everyTenant: true },
      { cursor: 'beta', everyTenant: true, scheduledTime: '2026-11-25T12:00:00.000Z' },
    ]);
  });

  test("GIVEN 200 due tenants and a StartExecution quota of 20, refilled 40/s WHEN started through the Step Functions API with the SDK's adaptive retries THEN Step Functions throttles, and every tenant still gets its run", async () => {
    const { sfn: local } = setup({ ...happy });
    // The quota's clock moves 20 ms per StartExecution call: 0.8 of a token refills per call, so the
    // starts outrun the quota however fast or slow this machine serves them (a busy machine never throttled a wall clock's 40/s).
    let simulated = Date.now();
    const throttled = new LocalStepFunctions(
      deployment,
      { invoke: async () => ({}) },
      {
        authorizer,
        sns: new LocalSns(topics, authorizer, () => undefined),
        startExecutionQuota: { burst: 20, ratePerSecond: 40, clock: () => (simulated += 20) },
      },
    );
    const port = await freePort();
    // The Step Functions API as the AWS endpoint serves it (stepFunctionsApi), without the endpoint's IAM check: this test is about the quota.
    const serve = stepFunctionsApi(throttled);
    const api = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on(
        'end',
        () =>
          void serve(
            String(req.headers['x-amz-target'] ?? '')
              .split('.')
              .pop() ?? '',
            JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, string | undefined>,
          ).then((answer) => {
            res.writeHead(answer.status, { 'content-type': 'application/x-amz-json-1.0' });
            res.end(JSON.stringify(answer.body));
          }),
      );
    });
    await new Promise<void>((resolve) => api.listen(port, '127.0.0.1', () => resolve()));
    const client = new SFNClient({
      endpoint: `http://127.0.0.1:${port}`,
      region: 'us-east-1',
      credentials: { accessKeyId: 'a', secretAccessKey: 's' },
      maxAttempts: 10,
      retryMode: 'adaptive',
    });
    try {
      const tenants = Array.from({ length: 200 }, (_, i) => tenant(`t${i}`));
      const result = await startDueBackups(
        {
          listPage: async () => ({ tenants }),
          recentRunIds: async () => [],
          start: async (name, input) => {
            await client.send(
              new StartExecutionCommand({ stateMachineArn: backupRunArn, name, input: JSON.stringify({ ...input, tenantId: 'acme' }) }),
            );
            return 'started';
          },
        },
        {
          windowStart: new Date('2026-11-25T01:00:00Z'),
          everyTenant: false,
          requestedBy: 'd',
          settings,
          maxStartsPerSecond: 300,
          concurrency: 20,
        },
      );
      expect(result).toMatchObject({ due: 200, started: 200 });
      expect(throttled.counters.startsThrottled).toBeGreaterThan(0);
      expect([...throttled.executions.values()].filter((e) => e.stateMachineArn === backupRunArn)).toHaveLength(200);
    } finally {
      for (const e of throttled.executions.values()) await throttled.stopExecution(e.executionArn);
      client.destroy();
      api.closeAllConnections();
      await new Promise((resolve) => api.close(resolve));
      void local;
    }
  }, 180_000);
});

describe('local Step Functions runs definitions as AWS does', () => {
  test("GIVEN a Task without TimeoutSeconds WHEN it takes longer than the States Language spec's 60 s default THEN it is not timed out (AWS's default is 99,999,999 s)", () => {
    const definition = withAwsTaskTimeouts({
      StartAt: 'A',
      States: {
        A: { Type: 'Task', Resource: 'x', End: true },
        B: { Type: 'Task', Resource: 'y', TimeoutSeconds: 5, End: true },
        C: { Type: 'Map', ItemProcessor: { StartAt: 'D', States: { D: { Type: 'Task', Resource: 'z', End: true } } }, End: true },
      },
    });
    const states = definition.States as Record<string, Record<string, unknown>>;
    expect(states.A!.TimeoutSeconds).toBe(2_147_483); // as long as a Node timer can wait
    expect(states.B!.TimeoutSeconds).toBe(5);
    expect((states.C!.ItemProcessor as { States: Record<string, Record<string, unknown>> }).States.D!.TimeoutSeconds).toBe(2_147_483);
  });

  test('GIVEN a task that answers after a moment WHEN run THEN it is not timed out at once by an overflowing timer', async () => {
    const { sfn } = setup({
      ...happy,
      'validate-run': async () => (
        await new Promise((r) => setTimeout(r, 300)), { ok: true, checks: 5, problems: [], databases: [], totalBytes: 1 }
      ),
    });
    const execution = await run(sfn, 'acme-2026-11-26-daily');
    expect(execution.status).toBe('SUCCEEDED');
  });
});
