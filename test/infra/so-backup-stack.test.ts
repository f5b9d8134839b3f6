import { App, Duration } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { checkStateMachines } from '../../scripts/check-template';
import type { CfnTemplate } from '../../local/cloud/synthesize-template';
import { HANDLER_NAMES } from '../../functions/src/handler-names';
import { SoBackupStack, type SoBackupStackProps } from '../../infra/lib/so-backup-stack';
import { stackPropsFromContext } from '../../infra/lib/stack-props-from-context';
import { presenceSettingsSchema } from '../../core';

function synth(props: SoBackupStackProps = {}): Template {
  // Skip bundling: these tests are about the template, not the function code.
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  return Template.fromStack(new SoBackupStack(app, 'Test', props));
}

const template = synth();

function definitionOf(name: string): string {
  const machines = template.findResources('AWS::StepFunctions::StateMachine', { Metadata: { 'so-backup:state-machine': name } });
  const [machine] = Object.values(machines);
  return JSON.stringify(machine?.Properties?.DefinitionString);
}

describe('backup bucket', () => {
  test('is versioned, KMS-encrypted and private', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      VersioningConfiguration: { Status: 'Enabled' },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms' }, BucketKeyEnabled: true }],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
    });
  });

  test('denies every request that is not TLS', () => {
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
      },
    });
  });

  test('denies destroying backups (deleting versions, suspending versioning) to everyone but the break-glass role', () => {
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'DenyDestroyingBackups',
            Effect: 'Deny',
            Principal: { AWS: '*' },
            Action: ['s3:DeleteObjectVersion', 's3:PutBucketVersioning', 's3:DeleteBucket'],
          }),
        ]),
      },
    });
    const withBreakGlass = synth({ breakGlassRoleArn: 'arn:aws:iam::123456789012:role/break-glass' });
    withBreakGlass.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'DenyDestroyingBackups',
            Condition: { ArnNotEquals: { 'aws:PrincipalArn': 'arn:aws:iam::123456789012:role/break-glass' } },
          }),
        ]),
      },
    });
    // With a break-glass role, retention rules and the policy itself are locked to it as well.
    withBreakGlass.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'DenyWeakeningRetention',
            Effect: 'Deny',
            Principal: { AWS: '*' },
            Action: ['s3:PutLifecycleConfiguration', 's3:PutBucketPolicy', 's3:DeleteBucketPolicy', 's3:PutBucketObjectLockConfiguration'],
            Condition: { ArnNotEquals: { 'aws:PrincipalArn': 'arn:aws:iam::123456789012:role/break-glass' } },
          }),
        ]),
      },
    });
    expect(JSON.stringify(template.findResources('AWS::S3::BucketPolicy'))).not.toContain('DenyWeakeningRetention');
  });

  test('can put every new version under S3 Object Lock (WORM) for a number of days', () => {
    expect(JSON.stringify(template.findResources('AWS::S3::Bucket'))).not.toContain('ObjectLock');
    synth({ objectLock: { mode: 'COMPLIANCE', days: 30 } }).hasResourceProperties('AWS::S3::Bucket', {
      ObjectLockEnabled: true,
      ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 30 } } },
    });
    expect(() => synth({ objectLock: { mode: 'GOVERNANCE', days: 0 } })).toThrow(/objectLock.days/);
  });

  test('keeps the last N database backups by count (NewerNoncurrentVersions) and aborts incomplete uploads', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 } }),
          Match.objectLike({ Prefix: 'db/daily/', NoncurrentVersionExpiration: { NoncurrentDays: 1, NewerNoncurrentVersions: 13 } }),
        ]),
      },
    });
  });

  const rules = (t: Template) =>
    (
      Object.values(t.findResources('AWS::S3::Bucket', { Properties: { VersioningConfiguration: { Status: 'Enabled' } } }))[0]!
        .Properties as { LifecycleConfiguration: { Rules: Array<Record<string, unknown>> } }
    ).LifecycleConfiguration.Rules;

  test('GFS tiers: database backups and manifests of each tier keep their last N by count; archive versions outlive the longest tier', () => {
    const byPrefix = (t: Template) =>
      Object.fromEntries(
        rules(t)
          .filter((r) => r.Prefix && r.Prefix !== 'incoming/')
          .map((r) => [r.Prefix, r.NoncurrentVersionExpiration]),
      );
    expect(byPrefix(template)).toEqual({
      'db/daily/': { NoncurrentDays: 1, NewerNoncurrentVersions: 13 },
      'manifests/daily/': { NoncurrentDays: 1, NewerNoncurrentVersions: 13 },
      'db/weekly/': { NoncurrentDays: 1, NewerNoncurrentVersions: 4 },
      'manifests/weekly/': { NoncurrentDays: 1, NewerNoncurrentVersions: 4 },
      'db/monthly/': { NoncurrentDays: 1, NewerNoncurrentVersions: 11 },
      'manifests/monthly/': { NoncurrentDays: 1, NewerNoncurrentVersions: 11 },
      'archive/': { NoncurrentDays: 372 }, // 12 monthly × 31 days
    });
    // No rule expires a current version by age, except in staging: when backups stop, the last ones stay.
    expect(
      rules(template)
        .filter((r) => r.ExpirationInDays !== undefined)
        .map((r) => r.Prefix),
    ).toEqual(['incoming/']);
    const custom = byPrefix(synth({ weeklyBackupsKept: 0, monthlyBackupsKept: 1 }));
    expect(Object.keys(custom)).not.toContain('db/weekly/');
    expect(custom['db/monthly/']).toEqual({ NoncurrentDays: 1 });
    expect(custom['archive/']).toEqual({ NoncurrentDays: 90 });
    expect(() => synth({ monthlyBackupsKept: 24, archiveVersionRetention: Duration.days(365) })).toThrow(
      'archiveVersionRetention of 365 days is shorter than the longest tier (744 days: daily 14, weekly 5 × 7, monthly 24 × 31): give at least 744 days, or keep fewer backups',
    );
  });

  test("staging: every run's uploads expire by age whatever happens (3 days by default, longer than any run), promoted copies a day after their delete marker", () => {
    expect(rules(template).filter((r) => r.Prefix === 'incoming/')).toEqual([
      {
        Id: 'incoming-expire',
        Prefix: 'incoming/',
        Status: 'Enabled',
        ExpirationInDays: 3,
        NoncurrentVersionExpiration: { NoncurrentDays: 1 },
      },
      { Id: 'incoming-delete-markers', Prefix: 'incoming/', Status: 'Enabled', ExpiredObjectDeleteMarker: true },
    ]);
    expect(
      rules(synth({ stagingExpiration: Duration.days(9), backupTimeout: Duration.days(7) })).find((r) => r.Id === 'incoming-expire'),
    ).toMatchObject({ ExpirationInDays: 9 });
    expect(() => synth({ backupTimeout: Duration.days(3) })).toThrow(
      'stagingExpiration must be at least backupTimeout + offlineRetryWindow + 1 day (5 days), but 3 days was provided',
    );
    expect(() => synth({ stagingExpiration: Duration.days(1) })).toThrow(/stagingExpiration must be 172800 seconds or more/);
  });

  test('finalize promotes into every tier, puts delete markers only in staging, and knows how many each tier keeps; connectors can write no tier', () => {
    const [finalize] = Object.values(
      template.findResources('AWS::Lambda::Function', { Metadata: { 'so-backup:handler': 'finalize-run' } }),
    );
    expect((finalize!.Properties as { Environment: { Variables: Record<string, unknown> } }).Environment.Variables).toMatchObject({
      WEEKLY_BACKUPS_KEPT: '5',
      MONTHLY_BACKUPS_KEPT: '12',
    });
    const policyOf = (logicalIdPart: string) =>
      JSON.stringify(
        Object.entries(template.findResources('AWS::IAM::Policy'))
          .filter(([id]) => id.includes(logicalIdPart))
          .map(([, p]) => p),
      );
    const finalizePolicy = policyOf('FinalizeRun');
    for (const prefix of ['db/daily/*', 'db/weekly/*', 'db/monthly/*', 'manifests/daily/*', 'manifests/weekly/*', 'manifests/monthly/*'])
      expect(finalizePolicy).toContain(`/${prefix}`);
    expect(finalizePolicy).toMatch(
      /"Action":"s3:DeleteObject","Effect":"Allow","Resource":\{"Fn::Join":\["",\[\{"Fn::GetAtt":\[[^\]]+\]\},"\/incoming\/\*"\]\]\}/,
    );
    expect(finalizePolicy).not.toMatch(/DeleteObjectVersion|archive\//);
    // The role connector sessions are minted from: staging and archive writes, never a tier.
    const uploadRole = policyOf('UploadRole');
    expect(uploadRole).toMatch(/incoming\/\*/);
    expect(uploadRole).not.toMatch(/"s3:PutObject"[^}]*\/(db|manifests)\//);
    expect(uploadRole).not.toMatch(/DeleteObjectVersion/);
  });

  test('dailyBackupsKept is configurable and range-checked', () => {
    synth({ dailyBackupsKept: 30 }).hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ Prefix: 'db/daily/', NoncurrentVersionExpiration: { NoncurrentDays: 1, NewerNoncurrentVersions: 29 } }),
        ]),
      },
    });
    expect(() => synth({ dailyBackupsKept: 0 })).toThrow(/dailyBackupsKept must be a whole number from 1 to 101, but 0 was provided/);
    expect(() => synth({ heartbeat: Duration.hours(2) })).toThrow(
      /heartbeat must be 1 seconds or more and at most 3600 seconds, but 7200 was provided/,
    );
  });
});

describe('tables', () => {
  test('tenants, connections, runs and nonces are on demand with point-in-time recovery', () => {
    template.resourceCountIs('AWS::DynamoDB::Table', 4);
    template.allResourcesProperties('AWS::DynamoDB::Table', {
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    });
  });
});

describe('connector API', () => {
  test('is a WebSocket API whose $connect route requires the Lambda authorizer', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'WEBSOCKET' });
    template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'REQUEST',
      IdentitySource: ['route.request.header.Authorization'],
    });
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: '$connect', AuthorizationType: 'CUSTOM' });
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: '$disconnect' });
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: '$default' });
  });
});

describe('functions', () => {
  test('every function runs Node.js 24 on arm64 and names its handler for local mode', () => {
    const functions = template.findResources('AWS::Lambda::Function', { Metadata: { 'so-backup:handler': Match.anyValue() } });
    expect(Object.keys(functions)).toHaveLength(HANDLER_NAMES.length);
    for (const fn of Object.values(functions)) {
      expect(fn.Properties.Runtime).toBe('nodejs24.x');
      expect(fn.Properties.Architectures).toEqual(['arm64']);
    }
  });
});

describe('BackupRun', () => {
  const definition = definitionOf('BackupRun');

  test('waits for the connector with a task token, a heartbeat and a timeout', () => {
    expect(definition).toMatch(/lambda:invoke\.waitForTaskToken/);
    expect(definition).toMatch(/\\"TimeoutSeconds\\":43200,\\"HeartbeatSeconds\\":600/);
    expect(definition).toMatch(/\\"taskToken\.\$\\":\\"\$\$\.Task\.Token\\"/);
  });

  test('runs prepare → request → validate → finalize, and every failure marks the run failed and alerts', () => {
    for (const state of ['Prepare', 'Request backup', 'Validate', 'Finalize', 'Mark run failed', 'Publish alert', 'Backup failed']) {
      expect(definition).toContain(`\\"${state}\\"`);
    }
    // Each task's catch, and "Some parts failed" after finalize kept the good parts.
    expect(definition.match(/\\"Next\\":\\"Mark run failed\\"/g)).toHaveLength(5);
    expect(definition).toMatch(/\\"Some parts failed\\":\{\\"Type\\":\\"Pass\\"/);
    expect(definition).toMatch(/sns:publish/);
  });

  test('a connector offline at schedule time is asked again every 5 minutes for 4 hours before the run fails (a checking-in connector stays until the next try: T18 #2)', () => {
    expect(definition).toMatch(
      /\{\\"ErrorEquals\\":\[\\"ConnectorOffline\\"\],\\"IntervalSeconds\\":300,\\"MaxAttempts\\":48,\\"BackoffRate\\":1\}/,
    );
  });

  test('is a JSONPath state machine (the local runner cannot execute JSONata)', () => {
    expect(definition).not.toMatch(/JSONata/);
  });
});

describe('DailyBackups', () => {
  /** The state machine definition as plain JSON text (the template holds it escaped inside Fn::Join). */
  const plain = (name: string) => definitionOf(name).split('\\"').join('"');

  test('starts each due BackupRun from a Lambda that does not wait for it (no .sync, no Map holding a slot per tenant), page after page, retried whole', () => {
    const definition = plain('DailyBackups');
    expect(definition).not.toContain('startExecution.sync');
    expect(definition).not.toContain('"Type":"Map"');
    expect(definition).toContain('"Start due backups"');
    expect(definition).toMatch(/"ErrorEquals":\["Lambda.TooManyRequestsException"\][^}]*"JitterStrategy":"FULL"/);
    const [start] = Object.values(template.findResources('AWS::Lambda::Function', { Metadata: { 'so-backup:handler': 'list-tenants' } }));
    expect((start!.Properties as { Environment: { Variables: Record<string, unknown> } }).Environment.Variables).toMatchObject({
      SCHEDULE_TIME_ZONE: 'Europe/Oslo',
      DEFAULT_BACKUP_HOUR: '2',
      BACKUP_WINDOW_HOURS: '4',
      MAX_STARTS_PER_SECOND: '100',
      BACKUP_RUN_STATE_MACHINE_ARN: { Ref: expect.stringMatching(/^BackupRunStateMachine/) },
    });
  });

  test('is started every quarter hour in UTC with the scheduled time, so daylight saving never skips or repeats a run', () => {
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0/15 * * * ? *)',
      ScheduleExpressionTimezone: 'UTC',
      Target: Match.objectLike({ Input: JSON.stringify({ trigger: 'schedule', scheduledTime: '<aws.scheduler.scheduled-time>' }) }),
    });
    expect(() => synth({ backupHour: 24 })).toThrow('backupHour must be a whole number from 0 to 23, but 24 was provided');
    expect(() => synth({ backupWindowHours: 0 })).toThrow('backupWindowHours must be a whole number from 1 to 24, but 0 was provided');
  });

  test("BackupRun retries Lambda throttling with jitter on every step (a burst of thousands of runs can meet Lambda's concurrency quota)", () => {
    const definition = plain('BackupRun');
    // Prepare, Request backup, Validate, Finalize and Mark run failed.
    expect(
      definition.match(
        /"ErrorEquals":\["Lambda.TooManyRequestsException"\],"IntervalSeconds":1,"MaxAttempts":8,"BackoffRate":2,"MaxDelaySeconds":60,"JitterStrategy":"FULL"/g,
      ),
    ).toHaveLength(5);
  });
});

describe('alarms', () => {
  test('failed, timed-out and aborted runs alarm to the alerts topic', () => {
    for (const metric of ['ExecutionsFailed', 'ExecutionsTimedOut', 'ExecutionsAborted']) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: metric,
        Namespace: 'AWS/States',
        Threshold: 1,
        AlarmActions: [Match.anyValue()],
      });
    }
  });

  test('silence alarms too: an hourly check publishes StaleTenants, and missing data counts as breaching', () => {
    template.hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'rate(1 hour)' });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'StaleTenants',
      Namespace: 'SoBackup',
      TreatMissingData: 'breaching',
      AlarmActions: [Match.anyValue()],
    });
    const functions = template.findResources('AWS::Lambda::Function', { Metadata: { 'so-backup:handler': 'check-stale-tenants' } });
    expect(Object.values(functions)[0]?.Properties.Environment.Variables.STALE_AFTER_HOURS).toBe('26');
  });

  test('connectors offline for more than 6 h (configurable) alarm, named in the hourly alert', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ConnectorsOffline',
      Namespace: 'SoBackup',
      TreatMissingData: 'breaching',
      AlarmActions: [Match.anyValue()],
    });
    const functions = synth({ offlineAfterHours: 12 }).findResources('AWS::Lambda::Function', {
      Metadata: { 'so-backup:handler': 'check-stale-tenants' },
    });
    expect(Object.values(functions)[0]?.Properties.Environment.Variables.OFFLINE_AFTER_HOURS).toBe('12');
    expect(() => synth({ offlineAfterHours: 0 })).toThrow(/offlineAfterHours/);
  });

  test('an archive whose seeding made no progress for 24 h (configurable) alarms, named in the hourly alert (issue 20)', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'SeedingStalled',
      Namespace: 'SoBackup',
      Threshold: 1,
      TreatMissingData: 'breaching',
      AlarmActions: [Match.anyValue()],
    });
    const env = (t: Template) =>
      Object.values(t.findResources('AWS::Lambda::Function', { Metadata: { 'so-backup:handler': 'check-stale-tenants' } }))[0]?.Properties
        .Environment.Variables;
    expect(env(template).SEEDING_STALLED_AFTER_HOURS).toBe('24');
    expect(env(synth({ seedingStalledAfterHours: 48 })).SEEDING_STALLED_AFTER_HOURS).toBe('48');
    expect(() => synth({ seedingStalledAfterHours: 12 })).toThrow(/seedingStalledAfterHours must be a whole number from 24 to 720/);
  });

  test("the backup window (runWindow, default 8 h; not backupWindowHours, the start spread) reaches Prepare and the CLI's outputs; one the backup timeout would cut short is refused (issue 20)", () => {
    const prepare = (t: Template) =>
      Object.values(t.findResources('AWS::Lambda::Function', { Metadata: { 'so-backup:handler': 'prepare-run' } }))[0]?.Properties
        .Environment.Variables;
    expect(prepare(template).RUN_WINDOW_SECONDS).toBe('28800');
    template.hasOutput('RunWindowSeconds', { Value: '28800' });
    const sixHours = synth({ runWindow: Duration.hours(6) });
    expect(prepare(sixHours).RUN_WINDOW_SECONDS).toBe('21600');
    expect(prepare(synth({ runWindow: Duration.seconds(0) })).RUN_WINDOW_SECONDS).toBe('0');
    expect(() => synth({ runWindow: Duration.hours(12) })).toThrow(
      /runWindow \(43200 seconds\) must be shorter than backupTimeout \(43200 seconds\)/,
    );
    expect(() => synth({ runWindow: Duration.hours(24), backupTimeout: Duration.hours(30) })).toThrow(
      /runWindow must be 0 seconds or more and at most 82800/,
    );
    const props = (context: Record<string, string>) => stackPropsFromContext(new App({ context }).node);
    expect(props({ runWindowHours: '6' }).runWindow?.toSeconds()).toBe(21_600);
    expect(props({ runWindowHours: '0.5' }).runWindow?.toSeconds()).toBe(1800);
    expect(props({ runWindowHours: '0' }).runWindow?.toSeconds()).toBe(0);
  });

  test('weekly restore drills: asked for hourly when due, read-only credentials, and an alarm when a drill fails or does not report', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'RestoreDrillsFailing',
      Threshold: 1,
      TreatMissingData: 'breaching',
    });
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(1 hour)',
      Description: Match.stringLikeRegexp('restore drill'),
    });
    const [drills] = Object.values(
      template.findResources('AWS::Lambda::Function', { Metadata: { 'so-backup:handler': 'request-drills' } }),
    );
    expect((drills!.Properties as { Environment: { Variables: Record<string, unknown> } }).Environment.Variables).toMatchObject({
      DRILL_INTERVAL_DAYS: '7',
      DRILL_SAMPLE_FILES: '20',
      DRILL_DATABASE: 'true',
      UPLOAD_ROLE_ARN: { 'Fn::GetAtt': [expect.stringMatching(/^BackupRunUploadRole/), 'Arn'] },
    });
    expect(() => synth({ drillIntervalDays: 0 })).toThrow('drillIntervalDays must be a whole number from 1 to 90, but 0 was provided');
  });

  test('a dashboard shows runs, bytes, durations, stale tenants and connectors', () => {
    const [dashboard] = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
    const body = JSON.stringify(dashboard?.Properties.DashboardBody);
    for (const shown of [
      'ExecutionsSucceeded',
      'ExecutionsFailed',
      'BackupUploadedBytes',
      'BackupDurationSeconds',
      'StaleTenants',
      'ConnectorsOffline',
      'ConnectorsOnline',
      'SeedingStalled',
    ])
      expect(body).toContain(shown);
  });
});

test('alerts go to an encrypted SNS topic, with an optional e-mail subscription', () => {
  template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
  synth({ alertEmail: 'ops@example.com' }).hasResourceProperties('AWS::SNS::Subscription', {
    Protocol: 'email',
    Endpoint: 'ops@example.com',
  });
});

test('stack properties come from CDK context, and bad values are named', () => {
  const props = (context: Record<string, string>) => stackPropsFromContext(new App({ context }).node);
  expect(props({ dailyBackupsKept: '30', objectLockMode: 'GOVERNANCE', objectLockDays: '35', offlineAfterHours: '12' })).toMatchObject({
    dailyBackupsKept: 30,
    objectLock: { mode: 'GOVERNANCE', days: 35 },
    offlineAfterHours: 12,
  });
  expect(() => props({ dailyBackupsKept: 'thirty' })).toThrow('context "dailyBackupsKept" must be a number, but "thirty" was provided');
  expect(() => props({ objectLockMode: 'WORM', objectLockDays: '30' })).toThrow(/GOVERNANCE or COMPLIANCE/);
  expect(() => props({ objectLockMode: 'COMPLIANCE' })).toThrow(/give both "objectLockMode" and "objectLockDays"/);
});

describe('connector presence (issue 18)', () => {
  const messageEnv = (t: Template) =>
    Object.values(t.findResources('AWS::Lambda::Function', { Metadata: { 'so-backup:handler': 'message' } }))[0]?.Properties.Environment
      .Variables as Record<string, string>;
  const props = (context: Record<string, string>) => stackPropsFromContext(new App({ context }).node);

  test('the message function gets the default presence, the check-in interval, the schedule, the offline retries and the drill settings', () => {
    expect(messageEnv(template)).toMatchObject({
      CONNECTOR_PRESENCE: 'check-in',
      CHECK_IN_SECONDS: '3600',
      SCHEDULE_TIME_ZONE: 'Europe/Oslo',
      DEFAULT_BACKUP_HOUR: '2',
      BACKUP_WINDOW_HOURS: '4',
      OFFLINE_RETRY_SECONDS: '300',
      OFFLINE_RETRY_WINDOW_SECONDS: '14400',
      DRILL_INTERVAL_DAYS: '7',
      DRILL_SAMPLE_FILES: '20',
      DRILL_DATABASE: 'true',
    });
    const outputs = template.findOutputs('PresenceSettings');
    expect(presenceSettingsSchema.parse(JSON.parse(String(Object.values(outputs)[0]?.Value)))).toEqual({
      defaultMode: 'check-in',
      checkInSeconds: 3600,
      schedule: { timeZone: 'Europe/Oslo', windowStartHour: 2, windowHours: 4 },
      offlineRetrySeconds: 300,
      offlineRetryWindowSeconds: 14400,
    });
    const custom = synth(props({ connectorPresence: 'always', checkInMinutes: '1', scheduleTimeZone: 'UTC', drillIntervalDays: '3' }));
    expect(messageEnv(custom)).toMatchObject({
      CONNECTOR_PRESENCE: 'always',
      CHECK_IN_SECONDS: '60',
      SCHEDULE_TIME_ZONE: 'UTC',
      DRILL_INTERVAL_DAYS: '3',
    });
  });

  test('context: connectorPresence and checkInMinutes, bad values named', () => {
    expect(props({ connectorPresence: 'check-in', checkInMinutes: '30' })).toMatchObject({
      connectorPresence: 'check-in',
      checkInMinutes: 30,
    });
    expect(() => props({ connectorPresence: 'sometimes' })).toThrow(
      'context "connectorPresence" must be always or check-in, but "sometimes" was provided',
    );
    expect(() => props({ checkInMinutes: 'hourly' })).toThrow('context "checkInMinutes" must be a number, but "hourly" was provided');
    // Written as a decimal number only: what Number() would also take is refused (T18 #8).
    for (const text of ['0x3c', '1e2', '', ' ', '60m'])
      expect(() => props({ checkInMinutes: text })).toThrow(`context "checkInMinutes" must be a number, but "${text}" was provided`);
    expect(props({ checkInMinutes: ' 45 ' })).toMatchObject({ checkInMinutes: 45 });
    expect(() => synth(props({ checkInMinutes: '0' }))).toThrow(
      'checkInMinutes must be a whole number from 1 to 360 minutes, but 0 was provided',
    );
    expect(() => synth(props({ checkInMinutes: '361' }))).toThrow(/checkInMinutes must be a whole number from 1 to 360/);
    expect(() => synth(props({ checkInMinutes: '1.5' }))).toThrow(/checkInMinutes must be a whole number/);
  });

  test('a check-in interval that does not fit in offlineAfterHours (with a late check-in) or in offlineRetryWindow (with one retry), or an offline retry longer than PRESENCE.holdMinutes, is refused (T18 #1)', () => {
    expect(() => synth({ checkInMinutes: 360, offlineAfterHours: 6 })).toThrow(
      "checkInMinutes (360; with its ±10 % jitter up to 396 minutes between check-ins) must leave 15 minutes for a late check-in inside offlineAfterHours (6 h = 360 minutes): the connectors-offline alarm would fire between a connector's check-ins",
    );
    // 320 minutes come back after up to 352: a late check-in is past 6 h.
    expect(() => synth({ checkInMinutes: 320, offlineAfterHours: 6 })).toThrow(/up to 352 minutes/);
    expect(() => synth({ checkInMinutes: 100, offlineAfterHours: 2 })).toThrow(/inside offlineAfterHours/);
    // 300 and 326 minutes fit the alarm of 24 h but not the 4 h a support backup waits for the connector.
    for (const checkInMinutes of [300, 326])
      expect(() => synth({ checkInMinutes, offlineAfterHours: 24 })).toThrow(
        /must be shorter than offlineRetryWindow \(240 minutes\) less one offlineRetryInterval \(5 minutes\): a backup asked for just after a check-in would stop waiting/,
      );
    expect(() => synth({ checkInMinutes: 214 })).toThrow(/up to 236 minutes.*offlineRetryWindow/);
    expect(messageEnv(synth({ checkInMinutes: 213 })).CHECK_IN_SECONDS).toBe('12780');
    expect(messageEnv(synth({ checkInMinutes: 360, offlineAfterHours: 7, offlineRetryWindow: Duration.hours(8) })).CHECK_IN_SECONDS).toBe(
      '21600',
    );
    expect(() => synth({ offlineRetryInterval: Duration.minutes(30) })).toThrow(
      /offlineRetryInterval \(1800 seconds\) must be at most PRESENCE.holdMinutes \(20 minutes\)/,
    );
    expect(messageEnv(synth({ offlineRetryInterval: Duration.minutes(20) })).OFFLINE_RETRY_SECONDS).toBe('1200');
  });
});

test('the state machine definitions are valid Amazon States Language (asl-validator), and a broken one is caught', () => {
  const stack = template.toJSON() as CfnTemplate;
  expect(checkStateMachines(stack)).toEqual([
    { name: 'BackupRun', valid: true, errors: '' },
    { name: 'DailyBackups', valid: true, errors: '' },
  ]);
  const broken = JSON.parse(JSON.stringify(stack)) as CfnTemplate;
  const [id] = Object.entries(broken.Resources).find(([, r]) => r.Type === 'AWS::StepFunctions::StateMachine')!;
  const definition = broken.Resources[id]!.Properties!;
  definition.DefinitionString = JSON.stringify({ StartAt: 'Missing', States: { Only: { Type: 'Pass', Next: 'Nowhere' } } });
  expect(checkStateMachines(broken).find((r) => !r.valid)).toBeDefined();
});

describe('grants are what the code calls (t14 F8)', () => {
  /**
   * Each function's DynamoDB actions per table, as the template grants them. Declared here from the
   * store methods each handler calls (core/stores.ts: get → GetItem, create/put/add/useOnce →
   * PutItem, remove → DeleteItem, every record…/update…/set…/issue… → UpdateItem, list… and
   * onlineTenants → Scan, forTenant → Query on the by-tenant index): a grant the code does not call
   * fails here, as does a call the grants forgot.
   */
  const EXPECTED: Record<string, Record<string, string[]>> = {
    authorizer: { Tenants: ['GetItem', 'UpdateItem'], Nonces: ['PutItem'] },
    connect: { Connections: ['PutItem', 'Query'], Tenants: ['GetItem'] },
    disconnect: { Connections: ['DeleteItem'], Tenants: ['UpdateItem'] },
    message: { Runs: ['GetItem', 'Query', 'UpdateItem'], Tenants: ['GetItem', 'UpdateItem'], Connections: ['DeleteItem'] },
    'prepare-run': { Tenants: ['GetItem'], Runs: ['GetItem', 'PutItem', 'Query'] },
    'request-backup': { Runs: ['UpdateItem'], Connections: ['DeleteItem', 'Query'], Tenants: ['GetItem'] },
    'validate-run': { Runs: ['GetItem', 'UpdateItem'], Tenants: ['GetItem'] },
    'finalize-run': { Runs: ['GetItem', 'UpdateItem'], Tenants: ['GetItem', 'UpdateItem'] },
    'mark-run-failed': { Runs: ['GetItem', 'PutItem', 'UpdateItem'] },
    'list-tenants': { Tenants: ['Scan'], Runs: ['Query'] },
    'check-stale-tenants': { Tenants: ['Scan'], Connections: ['Scan'] },
    'request-drills': { Tenants: ['Scan', 'UpdateItem'], Runs: ['Query'], Connections: ['DeleteItem', 'Query', 'Scan'] },
  };

  /**
   * Each function's other actions (any resource): what its handler calls — @connections replies and
   * closes (execute-api:ManageConnections), task tokens (core/task-responder.ts), minting from the
   * upload role (sts:AssumeRole with its session tag), reading backups at versions (ListBucket only
   * so that a missing key is a 404), finalize's server-side copies and staging delete markers,
   * starting runs, and publishing alerts to the encrypted topic (its key's data keys).
   */
  const EXPECTED_OTHER: Record<string, string[]> = {
    authorizer: [],
    connect: ['execute-api:ManageConnections'],
    disconnect: [],
    message: [
      'execute-api:ManageConnections',
      'states:SendTaskFailure',
      'states:SendTaskHeartbeat',
      'states:SendTaskSuccess',
      'sts:AssumeRole',
      'sts:TagSession',
    ],
    'prepare-run': [],
    'request-backup': ['execute-api:ManageConnections', 'sts:AssumeRole', 'sts:TagSession'],
    'validate-run': ['kms:Decrypt', 's3:GetObject', 's3:GetObjectVersion', 's3:ListBucket'],
    'finalize-run': [
      'kms:Decrypt',
      'kms:GenerateDataKey',
      's3:AbortMultipartUpload',
      's3:DeleteObject',
      's3:GetObject',
      's3:GetObjectVersion',
      's3:ListBucket',
      's3:PutObject',
    ],
    'mark-run-failed': [],
    'list-tenants': ['states:StartExecution'],
    'check-stale-tenants': ['kms:Decrypt', 'kms:GenerateDataKey*', 'sns:Publish'],
    'request-drills': [
      'execute-api:ManageConnections',
      'kms:Decrypt',
      'kms:GenerateDataKey*',
      'sns:Publish',
      'sts:AssumeRole',
      'sts:TagSession',
    ],
  };

  test("each function's role may do on each table exactly what its handler's store calls need, and nothing else beyond what it calls", () => {
    const tables = template.findResources('AWS::DynamoDB::Table');
    const tableOf = (resource: unknown): string | undefined => {
      const text = JSON.stringify(resource);
      const id = Object.keys(tables).find((logicalId) => text.includes(`"${logicalId}"`));
      return id ? (['Tenants', 'Runs', 'Connections', 'Nonces'].find((name) => id.includes(name)) ?? id) : undefined;
    };
    const policies = Object.values(template.findResources('AWS::IAM::Policy'));
    const functions = template.findResources('AWS::Lambda::Function', { Metadata: { 'so-backup:handler': Match.anyValue() } });
    const granted: Record<string, Record<string, string[]>> = {};
    const other: Record<string, string[]> = {};
    for (const fn of Object.values(functions)) {
      const handler = fn.Metadata['so-backup:handler'] as string;
      const role = (fn.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
      const byTable: Record<string, Set<string>> = {};
      const others = new Set<string>();
      for (const policy of policies.filter((p) => JSON.stringify(p.Properties.Roles).includes(`"${role}"`))) {
        for (const statement of policy.Properties.PolicyDocument.Statement as Array<{ Action: string | string[]; Resource: unknown }>) {
          for (const action of [statement.Action].flat().filter((a) => !a.startsWith('dynamodb:'))) others.add(action);
          const actions = [statement.Action].flat().filter((a) => a.startsWith('dynamodb:'));
          if (actions.length === 0) continue;
          for (const resource of [statement.Resource].flat()) {
            const name = tableOf(resource) ?? String(resource);
            for (const action of actions) (byTable[name] ??= new Set()).add(action.replace('dynamodb:', ''));
          }
        }
      }
      other[handler] = [...others].sort();
      granted[handler] = Object.fromEntries(Object.entries(byTable).map(([name, actions]) => [name, [...actions].sort()]));
    }
    const expected = Object.fromEntries(
      Object.entries(EXPECTED).map(([handler, byTable]) => [
        handler,
        Object.fromEntries(Object.entries(byTable).map(([name, actions]) => [name, [...actions].sort()])),
      ]),
    );
    expect(granted).toEqual(expected);
    expect(other).toEqual(EXPECTED_OTHER);
  });
});
