import { type CfnElement, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { CfnSchedule } from 'aws-cdk-lib/aws-scheduler';
import {
  type CfnStateMachine, Choice, Condition, DefinitionBody, IntegrationPattern, JsonPath, LogLevel, Map as MapState, Pass, StateMachine, Succeed, TaskInput,
} from 'aws-cdk-lib/aws-stepfunctions';
import { LambdaInvoke, StepFunctionsStartExecution } from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { BackupFunction } from './backup-function';
import type { BackupTables } from './backup-tables';
import { STATE_MACHINE_METADATA_KEY } from './backup-run-state-machine';
import { acceptFinding, acceptStateMachineRole } from './reviewed-finding';
import { validateRange } from './validate-props';

export interface DailyBackupsStateMachineProps {
  readonly tables: BackupTables;
  readonly backupRun: StateMachine;
  /**
   * The hour (0–23, in `scheduleTimeZone`) a tenant's daily backup starts unless the tenant has
   * its own `backupHour`. DailyBackups runs every hour and starts the tenants whose hour it is.
   * @default 2
   */
  readonly backupHour?: number;
  /** @default 'Europe/Oslo' */
  readonly scheduleTimeZone?: string;
  /**
   * Tenants backed up at the same time. Range 1 to 40.
   * @default 10
   */
  readonly maxConcurrency?: number;
}

/**
 * DailyBackups, started every hour: pages through the enabled tenants and starts one BackupRun
 * per tenant whose backup hour it is (a child execution each, so every tenant has its own
 * history); one tenant's failure never stops the others. Started by hand with
 * `{"everyTenant": true}` it backs up every enabled tenant at once (a catch-up run).
 */
export class DailyBackupsStateMachine extends Construct {
  readonly stateMachine: StateMachine;

  constructor(scope: Construct, id: string, props: DailyBackupsStateMachineProps) {
    super(scope, id);
    validateRange('maxConcurrency', props.maxConcurrency, 1, 40);
    validateRange('backupHour', props.backupHour, 0, 23);
    const timeZone = props.scheduleTimeZone ?? 'Europe/Oslo';
    const listFn = new BackupFunction(this, 'ListTenants', {
      handler: 'list-tenants',
      environment: { ...props.tables.environment(), SCHEDULE_TIME_ZONE: timeZone, DEFAULT_BACKUP_HOUR: String(props.backupHour ?? 2) },
    });
    props.tables.tenants.grantReadData(listFn);
    props.tables.runs.grantReadData(listFn);

    const list = new LambdaInvoke(this, 'List tenants', {
      lambdaFunction: listFn,
      payload: TaskInput.fromObject({
        execution: { name: JsonPath.stringAt('$$.Execution.Name'), startTime: JsonPath.stringAt('$$.Execution.StartTime') },
        state: JsonPath.entirePayload,
      }),
      payloadResponseOnly: true,
      resultPath: '$.page',
    });
    const startRun = new StepFunctionsStartExecution(this, 'Back up tenant', {
      stateMachine: props.backupRun,
      integrationPattern: IntegrationPattern.RUN_JOB,
      name: JsonPath.stringAt('$.executionName'),
      input: TaskInput.fromJsonPathAt('$.input'),
      associateWithParent: false,
      resultSelector: { 'executionName.$': '$.Name', 'status.$': '$.Status' },
    });
    startRun.addCatch(new Pass(this, 'Tenant failed', {
      parameters: { 'executionName.$': '$.executionName', status: 'FAILED', 'error.$': '$.error.Error' },
    }), { errors: ['States.ALL'], resultPath: '$.error' });
    const fanOut = new MapState(this, 'For each tenant', {
      itemsPath: '$.page.runs',
      maxConcurrency: props.maxConcurrency ?? 10,
      resultPath: '$.results',
    });
    fanOut.itemProcessor(startRun);
    // Only the cursor and the mode go on to the next page, so the state stays small.
    const nextPage = new Pass(this, 'Next page', { parameters: { 'cursor.$': '$.page.next', 'everyTenant.$': '$.page.everyTenant' } });
    const morePages = new Choice(this, 'More tenants?')
      .when(Condition.isPresent('$.page.next'), nextPage.next(list))
      .otherwise(new Succeed(this, 'All tenants started'));

    const logs = new LogGroup(this, 'Logs', { retention: RetentionDays.SIX_MONTHS, removalPolicy: RemovalPolicy.DESTROY });
    this.stateMachine = new StateMachine(this, 'StateMachine', {
      definitionBody: DefinitionBody.fromChainable(list.next(fanOut).next(morePages)),
      timeout: Duration.hours(23),
      tracingEnabled: true,
      logs: { destination: logs, level: LogLevel.ALL, includeExecutionData: false },
    });
    (this.stateMachine.node.defaultChild as CfnStateMachine).addMetadata(STATE_MACHINE_METADATA_KEY, 'DailyBackups');
    acceptStateMachineRole(this.stateMachine, [listFn]);
    // StartExecution .sync polls and stops the child executions it started; their names are made per run.
    const backupRunId = Stack.of(this).getLogicalId(props.backupRun.node.defaultChild as CfnElement);
    acceptFinding(this.stateMachine, `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"${backupRunId}"}]}]}*]`,
      'DescribeExecution and StopExecution on executions of the BackupRun state machine only, which .sync needs; their names are made per run.');

    const schedulerRole = new Role(this, 'SchedulerRole', { assumedBy: new ServicePrincipal('scheduler.amazonaws.com') });
    schedulerRole.addToPolicy(new PolicyStatement({ actions: ['states:StartExecution'], resources: [this.stateMachine.stateMachineArn] }));
    new CfnSchedule(this, 'Schedule', {
      description: 'Every hour, starts the daily backups of the tenants whose backup hour it is',
      scheduleExpression: 'cron(0 * * * ? *)',
      scheduleExpressionTimezone: timeZone,
      flexibleTimeWindow: { mode: 'OFF' },
      target: {
        arn: this.stateMachine.stateMachineArn,
        roleArn: schedulerRole.roleArn,
        input: JSON.stringify({ trigger: 'schedule' }),
        retryPolicy: { maximumRetryAttempts: 10, maximumEventAgeInSeconds: 3600 },
      },
    });
  }
}
