import { readFileSync } from 'node:fs';
import path from 'node:path';
import { newTenant } from '../../core';
import type { CfnTemplate } from '../../local/cloud/synthesize-template';
import { type CloudHarness, startCloudHarness } from '../helpers/cloud-harness';

/**
 * Local mode enforces the template's IAM on every call: the stack's functions run from their
 * bundles with their own roles, and the state machines, the schedules and the alarms act as
 * theirs. A grant taken out of the synthesized stack fails where AWS would fail, with AWS's
 * AccessDenied naming the function, the action and the resource.
 */
jest.setTimeout(300_000); // the first harness after a source change bundles the functions

/** Takes `action` out of every statement of the role's attached policies (the role found by logical-id prefix). */
function removeGrant(template: CfnTemplate, rolePrefix: string, action: string): void {
  let removed = 0;
  for (const resource of Object.values(template.Resources)) {
    if (resource.Type !== 'AWS::IAM::Policy') continue;
    const roles = JSON.stringify(resource.Properties?.Roles ?? []);
    if (!roles.includes(`"${rolePrefix}`)) continue;
    const document = resource.Properties!.PolicyDocument as { Statement: Array<{ Action: string | string[] }> };
    for (const statement of document.Statement) {
      const actions = ([] as string[]).concat(statement.Action);
      if (actions.includes(action)) {
        statement.Action = actions.filter((a) => a !== action);
        removed++;
      }
    }
  }
  if (removed === 0) throw new Error(`no grant of ${action} to ${rolePrefix}* in the template`);
}

/** Takes the statement with this Sid out of a resource policy of the given type. */
function removeStatement(template: CfnTemplate, type: string, sid: string): void {
  const policy = Object.values(template.Resources).find((r) => r.Type === type)!;
  const document = policy.Properties!.PolicyDocument as { Statement: Array<{ Sid?: string }> };
  const before = document.Statement.length;
  document.Statement = document.Statement.filter((s) => s.Sid !== sid);
  if (document.Statement.length === before) throw new Error(`no statement ${sid} in ${type}`);
}

const backupRunArn = (cloud: CloudHarness) => cloud.deployment.stateMachines.find((m) => m.name === 'BackupRun')!.arn;
const alerts = (cloud: CloudHarness) => {
  try {
    return readFileSync(path.join(cloud.dir, 'alerts.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { subject?: string; message: string; publishedBy: string });
  } catch {
    return [];
  }
};

describe('a grant taken out of the synthesized stack', () => {
  let cloud: CloudHarness;
  beforeAll(async () => {
    cloud = await startCloudHarness({
      editTemplate: (template) => removeGrant(template, 'BackupRunPrepareRunServiceRole', 'dynamodb:PutItem'),
    });
  });
  afterAll(() => cloud.stop());

  test('GIVEN PrepareRun without dynamodb:PutItem on the runs table WHEN a backup runs THEN it FAILS with AccessDenied naming the function, the action and the table', async () => {
    await cloud.tenants.put(newTenant('acme', 'Acme AS'));
    const execution = cloud.cloud.sfn.startExecution(
      backupRunArn(cloud),
      JSON.stringify({ tenantId: 'acme', trigger: 'operator', requestedBy: 'test' }),
      'acme-2026-11-30-operator',
    );
    await execution.done;
    expect(execution.status).toBe('FAILED');
    const runsTable = cloud.deployment.tables.find((t) => t.name.includes('Runs'))!.name;
    const fn = cloud.deployment.functions.find((f) => f.handler === 'prepare-run')!.name;
    expect(execution.error).toBe('AccessDeniedException');
    expect(execution.cause).toContain(
      `assumed-role/BackupRunPrepareRunServiceRole82C468F9/${fn} is not authorized to perform: dynamodb:PutItem on resource: arn:aws:dynamodb:us-east-1:000000000000:table/${runsTable} because no identity-based policy allows the dynamodb:PutItem action`,
    );
    expect(cloud.cloud.denials).toEqual([
      expect.objectContaining({ service: 'dynamodb', operation: 'PutItem', principal: expect.stringContaining(`/${fn}`) }),
    ]);
  });
});

describe('the stack as synthesized', () => {
  let cloud: CloudHarness;
  beforeAll(async () => {
    cloud = await startCloudHarness();
  });
  afterAll(() => cloud.stop());

  test('GIVEN Prepare retried by Step Functions after its put went through WHEN it runs again for the same execution THEN it finds its own run record (GetItem granted) and answers the same run, nothing refused', async () => {
    await cloud.tenants.put(newTenant('echo', 'Echo AS'));
    const fn = cloud.deployment.functions.find((f) => f.handler === 'prepare-run')!;
    const machine = cloud.deployment.stateMachines.find((m) => m.name === 'BackupRun')!;
    const event = {
      input: { tenantId: 'echo', trigger: 'operator', requestedBy: 'test' },
      execution: {
        name: 'echo-2026-11-30-operator',
        id: `${machine.arn.replace(':stateMachine:', ':execution:')}:echo-2026-11-30-operator`,
        startTime: new Date().toISOString(),
      },
    };
    const as = { kind: 'role' as const, roleArn: machine.roleArn, sessionName: 'test' };
    const first = await cloud.cloud.lambda.invoke(fn.arn, event, as);
    const retried = await cloud.cloud.lambda.invoke(fn.arn, event, as);
    expect(retried).toEqual(first);
    expect(first).toMatchObject({ runId: 'echo-2026-11-30-operator', tenantId: 'echo' });
    expect(cloud.cloud.denials).toEqual([]);
  });

  test('GIVEN a run that fails WHEN it ends THEN the state machine publishes the alert as its role, and the FailedRuns alarm notifies the topic as CloudWatch', async () => {
    const execution = cloud.cloud.sfn.startExecution(
      backupRunArn(cloud),
      JSON.stringify({ tenantId: 'nobody', trigger: 'operator', requestedBy: 'test' }),
      'nobody-2026-11-30-operator',
    );
    await execution.done;
    await cloud.cloud.cloudWatch.settled();
    expect(execution).toMatchObject({ status: 'FAILED', error: 'TenantNotFound' });
    const published = alerts(cloud);
    expect(published.find((a) => a.publishedBy.includes('assumed-role/BackupRunStateMachineRole'))?.message).toContain('nobody');
    expect(published.find((a) => a.publishedBy === 'cloudwatch.amazonaws.com')).toMatchObject({
      subject: expect.stringContaining('AlarmsFailedRuns'),
    });
    expect(cloud.cloud.cloudWatch.history).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'Action', summary: expect.stringMatching(/^Successfully executed action arn:aws:sns:/) }),
      ]),
    );
    expect(cloud.cloud.denials).toEqual([]);
  });

  test("GIVEN a tenant without a validated backup WHEN the hourly check's schedule fires THEN its role invokes the function, which publishes the alert through SNS (key policy included) and the StaleTenants alarm notifies", async () => {
    await cloud.tenants.put({ ...newTenant('stale', 'Stale AS'), createdAt: new Date(Date.now() - 48 * 3600_000).toISOString() });
    const schedule = cloud.deployment.schedules.find((s) => s.name.startsWith('AlarmsHourlyCheck'))!;
    await expect(cloud.cloud.scheduler.fire(schedule.name)).resolves.toMatchObject({ ok: true });
    await cloud.cloud.cloudWatch.settled();
    const published = alerts(cloud);
    expect(published.find((a) => a.publishedBy.includes('assumed-role/AlarmsCheckStaleTenantsServiceRole'))?.message).toContain('stale');
    expect(cloud.cloud.cloudWatch.history).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          alarmName: expect.stringContaining('AlarmsStaleTenants'),
          type: 'StateUpdate',
          summary: 'Alarm updated from INSUFFICIENT_DATA to ALARM',
        }),
      ]),
    );
    expect(published.filter((a) => a.publishedBy === 'cloudwatch.amazonaws.com').map((a) => a.subject)).toEqual(
      expect.arrayContaining([expect.stringContaining('AlarmsStaleTenants')]),
    );
  });
});

describe("without the alerts topic's statement for CloudWatch (a topic policy replaces SNS's default one)", () => {
  let cloud: CloudHarness;
  beforeAll(async () => {
    cloud = await startCloudHarness({
      editTemplate: (template) => {
        removeStatement(template, 'AWS::SNS::TopicPolicy', 'CloudWatchAlarmsPublish');
        removeGrant(template, 'AlarmsSchedulerRole', 'lambda:InvokeFunction');
      },
    });
  });
  afterAll(() => cloud.stop());

  test('GIVEN a failed run WHEN the FailedRuns alarm fires THEN its notification is refused: only the topic policy could let CloudWatch publish', async () => {
    const execution = cloud.cloud.sfn.startExecution(
      backupRunArn(cloud),
      JSON.stringify({ tenantId: 'nobody', trigger: 'operator', requestedBy: 'test' }),
      'nobody-2026-11-30-operator',
    );
    await execution.done;
    await cloud.cloud.cloudWatch.settled();
    expect(cloud.cloud.cloudWatch.history).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          type: 'Action',
          summary: expect.stringContaining(
            'is not authorized to perform: sns:Publish on resource: arn:aws:sns:us-east-1:000000000000:Alerts91F83244 because no resource-based policy allows the sns:Publish action',
          ),
        }),
      ]),
    );
    expect(alerts(cloud).filter((a) => a.publishedBy === 'cloudwatch.amazonaws.com')).toEqual([]);
  });

  test("GIVEN the scheduler's role without lambda:InvokeFunction WHEN the schedule fires THEN the invocation is refused, naming the role and the function", async () => {
    const schedule = cloud.deployment.schedules.find((s) => s.name.startsWith('AlarmsHourlyCheck'))!;
    await expect(cloud.cloud.scheduler.fire(schedule.name)).rejects.toThrow(
      /AccessDeniedException: User: arn:aws:sts::000000000000:assumed-role\/AlarmsSchedulerRole91C51C89\/AlarmsHourlyCheck\w+ is not authorized to perform: lambda:InvokeFunction on resource: arn:aws:lambda:us-east-1:000000000000:function:AlarmsCheckStaleTenants\w+/,
    );
  });
});
