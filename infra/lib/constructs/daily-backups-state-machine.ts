import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { CfnSchedule } from 'aws-cdk-lib/aws-scheduler';
import {
  type CfnStateMachine,
  Choice,
  Condition,
  DefinitionBody,
  JitterType,
  LogLevel,
  Pass,
  StateMachine,
  Succeed,
  Timeout,
} from 'aws-cdk-lib/aws-stepfunctions';
import { LambdaInvoke } from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { BackupFunction } from './backup-function';
import type { BackupTables } from './backup-tables';
import { dailyBackups } from '../../../core/workflow';
import { LAMBDA_THROTTLED_ERRORS, STATE_MACHINE_METADATA_KEY } from './backup-run-state-machine';
import { acceptStateMachineRole } from './reviewed-finding';
import { validateRange } from './validate-props';
import { renderPayload, taskPayload } from './workflow-payload';

export interface DailyBackupsStateMachineProps {
  readonly tables: BackupTables;
  readonly backupRun: StateMachine;
  /**
   * First hour (0–23, in `scheduleTimeZone`) of the backup window: tenants without their own
   * backup time are spread over the window's quarter hours. A tenant's own `backupHour` (and
   * `backupMinute`) overrides it.
   * @default 2
   */
  readonly backupHour?: number;
  /**
   * Hours in the backup window (1–24).
   * @default 4
   */
  readonly backupWindowHours?: number;
  /** @default 'Europe/Oslo' */
  readonly scheduleTimeZone?: string;
  /**
   * BackupRun executions started per second at most (1–300). Step Functions throttles
   * StartExecution per account and region (a bucket of 800 refilled at 150/s in most regions,
   * 1,300 and 300/s in the largest); the rest is left to support backups and retries.
   * @default 100
   */
  readonly maxStartsPerSecond?: number;
}

/**
 * DailyBackups, started every quarter hour (UTC): pages through the enabled tenants and starts a
 * BackupRun for each one whose backup slot falls in this quarter hour
 * (functions/src/list-tenants/start-due-backups.ts), without waiting for it: every run is its own
 * execution, so no tenant's backup, and no offline connector's wait, delays another's start.
 * Started by hand with `{"everyTenant": true}` it starts every enabled tenant at once (a catch-up run).
 */
export class DailyBackupsStateMachine extends Construct {
  readonly stateMachine: StateMachine;
  /** The IANA time zone of backup times; it names every run's day. */
  readonly timeZone: string;
  /** The environment that says where each tenant's daily slot lies (core/schedule.ts ScheduleSettings). */
  readonly scheduleEnvironment: Record<'SCHEDULE_TIME_ZONE' | 'DEFAULT_BACKUP_HOUR' | 'BACKUP_WINDOW_HOURS', string>;

  constructor(scope: Construct, id: string, props: DailyBackupsStateMachineProps) {
    super(scope, id);
    validateRange('backupHour', props.backupHour, 0, 23);
    validateRange('backupWindowHours', props.backupWindowHours, 1, 24);
    validateRange('maxStartsPerSecond', props.maxStartsPerSecond, 1, 300);
    const timeZone = props.scheduleTimeZone ?? 'Europe/Oslo';
    this.timeZone = timeZone;
    this.scheduleEnvironment = {
      SCHEDULE_TIME_ZONE: timeZone,
      DEFAULT_BACKUP_HOUR: String(props.backupHour ?? 2),
      BACKUP_WINDOW_HOURS: String(props.backupWindowHours ?? 4),
    };
    const startFn = new BackupFunction(this, 'ListTenants', {
      handler: 'list-tenants',
      environment: {
        ...props.tables.environment(),
        ...this.scheduleEnvironment,
        BACKUP_RUN_STATE_MACHINE_ARN: props.backupRun.stateMachineArn,
        MAX_STARTS_PER_SECOND: String(props.maxStartsPerSecond ?? 100),
      },
      // A page of starts at 100/s; the state machine comes back for the rest.
      timeout: Duration.minutes(5),
    });
    props.tables.tenants.grant(startFn, 'dynamodb:Scan'); // a page of tenants
    props.tables.runs.grant(startFn, 'dynamodb:Query'); // each tenant's latest runs (by-tenant index)
    props.backupRun.grantStartExecution(startFn);

    const start = new LambdaInvoke(this, 'Start due backups', {
      lambdaFunction: startFn,
      // Payloads and paths come from the workflow contract (core/workflow/daily-backups.ts).
      payload: taskPayload(dailyBackups.tasks.startDueBackups.payload),
      payloadResponseOnly: true,
      resultPath: dailyBackups.tasks.startDueBackups.result.$,
      // The function's own timeout: a page is never cut short (and so started twice) by the state's.
      taskTimeout: Timeout.duration(Duration.minutes(5)),
    });
    // A page is idempotent (runs are named by tenant and day): a failed one is simply done again.
    start.addRetry({
      errors: LAMBDA_THROTTLED_ERRORS,
      interval: Duration.seconds(2),
      maxAttempts: 8,
      backoffRate: 2,
      maxDelay: Duration.minutes(1),
      jitterStrategy: JitterType.FULL,
    });
    start.addRetry({
      errors: ['States.ALL'],
      interval: Duration.seconds(10),
      maxAttempts: 4,
      backoffRate: 2,
      jitterStrategy: JitterType.FULL,
    });
    // Only the cursor and the mode go on to the next page, so the state stays small.
    const nextPage = new Pass(this, 'Next page', { parameters: renderPayload(dailyBackups.nextPage) });
    const morePages = new Choice(this, 'More tenants?')
      .when(Condition.isPresent(dailyBackups.state.page.next.$), nextPage.next(start))
      .otherwise(new Succeed(this, 'Due backups started'));

    const logs = new LogGroup(this, 'Logs', { retention: RetentionDays.SIX_MONTHS, removalPolicy: RemovalPolicy.DESTROY });
    this.stateMachine = new StateMachine(this, 'StateMachine', {
      definitionBody: DefinitionBody.fromChainable(start.next(morePages)),
      timeout: Duration.hours(1),
      tracingEnabled: true,
      logs: { destination: logs, level: LogLevel.ALL, includeExecutionData: false },
    });
    (this.stateMachine.node.defaultChild as CfnStateMachine).addMetadata(STATE_MACHINE_METADATA_KEY, dailyBackups.name);
    acceptStateMachineRole(this.stateMachine, [startFn]);

    const schedulerRole = new Role(this, 'SchedulerRole', { assumedBy: new ServicePrincipal('scheduler.amazonaws.com') });
    schedulerRole.addToPolicy(new PolicyStatement({ actions: ['states:StartExecution'], resources: [this.stateMachine.stateMachineArn] }));
    new CfnSchedule(this, 'Schedule', {
      description: 'Every quarter hour, starts the daily backups whose slot it is',
      // UTC: every quarter hour happens exactly once, whatever daylight saving does to local time.
      scheduleExpression: 'cron(0/15 * * * ? *)',
      scheduleExpressionTimezone: 'UTC',
      flexibleTimeWindow: { mode: 'OFF' },
      target: {
        arn: this.stateMachine.stateMachineArn,
        roleArn: schedulerRole.roleArn,
        // The scheduled time, not the time of delivery: a late or retried delivery starts the same quarter hour's tenants.
        input: JSON.stringify(dailyBackups.scheduledInput),
        retryPolicy: { maximumRetryAttempts: 10, maximumEventAgeInSeconds: 900 },
      },
    });
  }
}
