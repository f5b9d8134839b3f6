import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { z } from 'zod';
import { backupRun, dailyBackups, type JsonPathOf, jsonPaths, type PayloadPaths, type TaskResult } from '../../core/workflow';
import type { HandlerName } from '../../functions/src/handler-names';
import { BackupBucket } from '../../infra/lib/constructs/backup-bucket';
import { BackupRunStateMachine } from '../../infra/lib/constructs/backup-run-state-machine';
import { BackupTables } from '../../infra/lib/constructs/backup-tables';
import { ConnectorApi } from '../../infra/lib/constructs/connector-api';
import { RestoreDrills } from '../../infra/lib/constructs/restore-drills';
import { readLocalDeployment } from '../../local/cloud/local-deployment';
import { type FunctionInvoker, LambdaFunctionError } from '../../local/cloud/local-lambda';
import { LocalSns } from '../../local/cloud/local-sns';
import { LocalStepFunctions } from '../../local/cloud/local-step-functions';
import { synthesizeTemplate } from '../../local/cloud/synthesize-template';
import { IamAuthorizer } from '../../local/iam/iam-authorizer';
import { readIamModel } from '../../local/iam/iam-model';

/**
 * The workflow contract (core/workflow) against the synthesized state machines: every path a
 * definition reads or writes is a place of the contract, and what each Lambda task is invoked
 * with (run by the local runner from the synthesized definition) parses with the schema its
 * handler parses it with.
 */
const template = synthesizeTemplate({ heartbeat: Duration.seconds(1) });
const deployment = readLocalDeployment(template);
const machine = (name: string) => deployment.stateMachines.find((m) => m.name === name)!;

/** Every place of a contract tree, and every path its payloads name. */
function contractPaths(tree: JsonPathOf & object, payloads: PayloadPaths[]): Set<string> {
  const places = new Set<string>();
  const walk = (node: object) => {
    for (const [key, value] of Object.entries(node)) {
      if (key === '$' && typeof value === 'string') places.add(value);
      else if (key !== '$schema' && typeof value === 'object' && value !== null) walk(value);
    }
  };
  walk(tree);
  const addPayload = (paths: PayloadPaths): void => {
    for (const value of Object.values(paths)) {
      if (typeof value === 'string') places.add(value);
      else addPayload(value);
    }
  };
  for (const payload of payloads) addPayload(payload);
  return places;
}

const PATH_FIELDS = new Set([
  'ResultPath',
  'InputPath',
  'OutputPath',
  'ErrorPath',
  'CausePath',
  'Variable',
  'SecondsPath',
  'TimestampPath',
  'ItemsPath',
]);

/** Every reference path in a States Language definition: path fields, and the values of `….$` parameters. */
function referencePaths(definition: unknown): string[] {
  const found: string[] = [];
  const walk = (value: unknown) => {
    if (Array.isArray(value)) value.forEach(walk);
    else if (value && typeof value === 'object') {
      for (const [key, inner] of Object.entries(value)) {
        if ((PATH_FIELDS.has(key) || key.endsWith('.$')) && typeof inner === 'string') found.push(inner);
        else walk(inner);
      }
    }
  };
  walk(definition);
  return found;
}

const backupRunPaths = contractPaths(
  backupRun.state,
  Object.values(backupRun.tasks).map((t) => t.payload),
);
const dailyPaths = contractPaths(dailyBackups.state, [dailyBackups.tasks.startDueBackups.payload, dailyBackups.nextPage]);

describe('workflow contract', () => {
  test.each([
    ['BackupRun', backupRunPaths],
    ['DailyBackups', dailyPaths],
  ])('every path %s reads or writes is a place of the contract', (name, places) => {
    const paths = referencePaths(machine(name).definition);
    expect(paths.length).toBeGreaterThan(5);
    expect(paths.filter((p) => !places.has(p))).toEqual([]);
  });

  test('a path written by hand that the contract lacks is found (a misspelt field)', () => {
    const definition = { States: { Validate: { Parameters: { 'manifest.$': '$.backup.manfest' }, ResultPath: '$.validation' } } };
    expect(referencePaths(definition).filter((p) => !backupRunPaths.has(p))).toEqual(['$.backup.manfest']);
  });

  test('a field name that cannot be a dotted path is refused when the contract is built', () => {
    expect(() => jsonPaths(z.object({ 'bad-name': z.string() }))).toThrow(/field "bad-name" cannot be written as a dotted JSONPath/);
  });

  test("the schedule starts DailyBackups with the contract's input, whose scheduled time the page reads", () => {
    const schedule = Object.values(template.Resources).find(
      (r) => r.Type === 'AWS::Scheduler::Schedule' && JSON.stringify(r.Properties).includes('DailyBackups'),
    );
    const input = JSON.parse((schedule!.Properties as { Target: { Input: string } }).Target.Input) as unknown;
    expect(input).toEqual(dailyBackups.scheduledInput);
    expect(dailyBackups.tasks.startDueBackups.event.shape.state.parse(input)).toMatchObject({
      scheduledTime: '<aws.scheduler.scheduled-time>',
      everyTenant: false,
    });
  });
});

type Doubles = Partial<Record<HandlerName, (event: unknown, sfn: LocalStepFunctions) => unknown>>;

/** Runs the synthesized definitions with each function replaced by a double that parses its event as the real handler does. */
function runner(doubles: Doubles) {
  const authorizer = new IamAuthorizer(readIamModel(template));
  const topics = new Set(
    Object.entries(template.Resources)
      .filter(([, r]) => r.Type === 'AWS::SNS::Topic')
      .map(([id]) => `arn:aws:sns:us-east-1:000000000000:${id}`),
  );
  const alerts: Array<{ subject?: string; message: string }> = [];
  let sfn!: LocalStepFunctions;
  const invoker: FunctionInvoker = {
    invoke: async (arn, event) => {
      const handler = deployment.functions.find((f) => f.arn === arn)!.handler;
      const double = doubles[handler];
      if (!double) throw new Error(`no double for ${handler}`);
      try {
        return await double(event, sfn);
      } catch (error) {
        throw new LambdaFunctionError((error as Error).name, (error as Error).message);
      }
    },
  };
  sfn = new LocalStepFunctions(deployment, invoker, { authorizer, sns: new LocalSns(topics, authorizer, (alert) => alerts.push(alert)) });
  return { sfn, alerts };
}

const { tasks } = backupRun;
const manifest = { key: 'incoming/acme/acme-2026-11-25-daily/manifest.json', versionId: 'v1' };
const parsed: Record<string, unknown> = {};

const contractDoubles: Doubles = {
  'prepare-run': (event): TaskResult<typeof tasks.prepare> => {
    const { input, execution } = (parsed.prepare = tasks.prepare.event.parse(event));
    return { runId: execution.name, tenantId: input.tenantId, trigger: input.trigger, startedAt: execution.startTime };
  },
  'request-backup': (event, sfn) => {
    const { taskToken } = (parsed.request = tasks.requestBackup.event.parse(event));
    // The connector's result, as the message handler completes the task with it.
    const result: TaskResult<typeof tasks.requestBackup> = { manifest };
    setTimeout(() => sfn.sendTaskSuccess(taskToken, JSON.stringify(result)), 20);
    return { connectionId: 'c1' };
  },
  'validate-run': (event): TaskResult<typeof tasks.validate> => {
    parsed.validate = tasks.validate.event.parse(event);
    return {
      ok: true,
      promotable: true,
      checks: 5,
      totalBytes: 1,
      artifacts: [{ kind: 'database', name: 'SuperOffice', ok: true, problems: [] }],
      databases: [],
    };
  },
  'finalize-run': (event): TaskResult<typeof tasks.finalize> => {
    parsed.finalize = tasks.finalize.event.parse(event);
    return { failed: false };
  },
  'mark-run-failed': (event): TaskResult<typeof tasks.markFailed> => {
    const { state } = (parsed.markFailed = tasks.markFailed.event.parse(event));
    return { subject: 'so-backup: backup FAILED', message: `${state.error.Error}: ${state.error.Cause}` };
  },
};

describe('BackupRun delivers what each handler parses (the synthesized definition, run locally)', () => {
  beforeEach(() => {
    for (const key of Object.keys(parsed)) delete parsed[key];
  });

  test('GIVEN a backup that validates WHEN run THEN every task parses its payload, and Validate and Finalize get the manifest the connector reported', async () => {
    const { sfn } = runner(contractDoubles);
    const execution = sfn.startExecution(
      machine('BackupRun').arn,
      JSON.stringify({ tenantId: 'acme', trigger: 'support', requestedBy: 'ops', reason: 'before an upgrade' }),
      'acme-2026-11-25-support',
    );
    await execution.done;
    expect(execution.status).toBe('SUCCEEDED');
    expect(parsed.prepare).toMatchObject({
      input: { tenantId: 'acme', trigger: 'support', requestedBy: 'ops', reason: 'before an upgrade' },
      execution: { name: 'acme-2026-11-25-support' },
    });
    expect(parsed.validate).toEqual({ run: expect.objectContaining({ runId: 'acme-2026-11-25-support', trigger: 'support' }), manifest });
    expect(parsed.finalize).toMatchObject({ manifest, validation: { promotable: true } });
    expect(parsed.markFailed).toBeUndefined();
  });

  test('GIVEN a run that fails before its input was checked WHEN run THEN Mark run failed parses the state it gets and the alert is published', async () => {
    const { sfn, alerts } = runner({
      ...contractDoubles,
      'prepare-run': () => {
        throw Object.assign(new Error('tenant "nobody" does not exist'), { name: 'TenantNotFound' });
      },
    });
    const execution = sfn.startExecution(machine('BackupRun').arn, JSON.stringify({ tenantId: 'nobody' }), 'nobody-2026-11-25-operator');
    await execution.done;
    expect(execution.status).toBe('FAILED');
    expect(parsed.markFailed).toMatchObject({
      state: { tenantId: 'nobody', error: { Error: 'TenantNotFound' } },
      execution: { name: 'nobody-2026-11-25-operator' },
    });
    expect(alerts).toEqual([expect.objectContaining({ subject: 'so-backup: backup FAILED' })]);
  });
});

describe('DailyBackups delivers what Start due backups parses', () => {
  test("GIVEN two pages of tenants WHEN run THEN the second page gets the first page's cursor, mode and quarter hour", async () => {
    const pages: Array<ReturnType<typeof dailyBackups.tasks.startDueBackups.event.parse>> = [];
    const { sfn } = runner({
      'list-tenants': (event): TaskResult<typeof dailyBackups.tasks.startDueBackups> => {
        const page = dailyBackups.tasks.startDueBackups.event.parse(event);
        pages.push(page);
        return {
          everyTenant: page.state.everyTenant,
          scheduledTime: '2026-11-25T01:00:00.000Z',
          ...(pages.length === 1 ? { next: 'tenant-500' } : {}),
        };
      },
    });
    const execution = sfn.startExecution(
      machine('DailyBackups').arn,
      JSON.stringify({ trigger: 'schedule', scheduledTime: '2026-11-25T01:00:03Z', everyTenant: true }),
      'daily-1',
    );
    await execution.done;
    expect(execution.status).toBe('SUCCEEDED');
    expect(pages.map((p) => p.state)).toEqual([
      { trigger: 'schedule', scheduledTime: '2026-11-25T01:00:03Z', everyTenant: true },
      { cursor: 'tenant-500', everyTenant: true, scheduledTime: '2026-11-25T01:00:00.000Z' },
    ]);
    expect(pages[1]!.execution.name).toBe('daily-1');
  });
});

describe('the upload role', () => {
  /** A stack whose BackupRun hands out 30-minute credentials, with restore drills minting from the same role. */
  function stackWithLifetime(lifetime: Duration): Template {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'Test');
    const tables = new BackupTables(stack, 'Tables');
    const bucket = new BackupBucket(stack, 'Backups');
    const connectorApi = new ConnectorApi(stack, 'ConnectorApi', { tables });
    const alerts = new Topic(stack, 'Alerts');
    const backupRunConstruct = new BackupRunStateMachine(stack, 'BackupRun', {
      tables,
      bucket,
      connectorApi,
      alerts,
      uploadCredentialLifetime: lifetime,
    });
    new RestoreDrills(stack, 'RestoreDrills', { tables, connectorApi, uploadRole: backupRunConstruct.uploadRole, alerts });
    return Template.fromStack(stack);
  }

  test('GIVEN a credential lifetime of 30 minutes WHEN synthesized THEN every function that mints (request backup, message, restore drills) gets the same UPLOAD_* environment, may assume the role, and is trusted by it', () => {
    const template = stackWithLifetime(Duration.minutes(30));
    const functions = Object.entries(template.findResources('AWS::Lambda::Function')).map(([id, r]) => ({
      id,
      handler: (r.Metadata as Record<string, string>)['so-backup:handler'],
      env: (r.Properties as { Environment: { Variables: Record<string, unknown> } }).Environment.Variables,
    }));
    const minting = functions.filter((f) => 'UPLOAD_ROLE_ARN' in f.env);
    expect(minting.map((f) => f.handler).sort()).toEqual(['message', 'request-backup', 'request-drills']);
    const [role] = Object.keys(
      template.findResources('AWS::IAM::Role', {
        Properties: { Description: 'so-backup connectors upload with credentials minted from this role, narrowed to one tenant per run' },
      }),
    );
    for (const fn of minting) {
      // Restore drills used to hard-code 3600 whatever BackupRun's lifetime was.
      expect({
        handler: fn.handler,
        seconds: fn.env.UPLOAD_CREDENTIAL_SECONDS,
        role: fn.env.UPLOAD_ROLE_ARN,
        bucket: fn.env.BACKUP_BUCKET,
      }).toEqual({
        handler: fn.handler,
        seconds: '1800',
        role: { 'Fn::GetAtt': [role, 'Arn'] },
        bucket: { Ref: expect.stringMatching(/^Backups/) },
      });
    }
    const trust = JSON.stringify(template.findResources('AWS::IAM::Role')[role!]!.Properties.AssumeRolePolicyDocument);
    const policies = JSON.stringify(template.findResources('AWS::IAM::Policy'));
    for (const fn of minting) {
      const fnRole = (template.findResources('AWS::Lambda::Function')[fn.id]!.Properties as { Role: { 'Fn::GetAtt': [string, string] } })
        .Role['Fn::GetAtt'][0];
      expect(trust).toContain(fnRole);
      expect(policies).toMatch(
        new RegExp(`"Action":\\["sts:AssumeRole","sts:TagSession"\\],"Effect":"Allow","Resource":\\{"Fn::GetAtt":\\["${role}","Arn"\\]\\}`),
      );
    }
  });

  test('a lifetime STS role chaining does not allow is refused, naming it', () => {
    expect(() => stackWithLifetime(Duration.hours(2))).toThrow(/uploadCredentialLifetime/);
  });
});
