import { type CfnElement, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { CfnSchedule } from 'aws-cdk-lib/aws-scheduler';
import {
  type CfnStateMachine, DefinitionBody, IntegrationPattern, JsonPath, LogLevel, Map as MapState, Pass, StateMachine, TaskInput,
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
   * When the daily backups start (EventBridge Scheduler expression).
   * @default 'cron(0 2 * * ? *)' (02:00 every day)
   */
  readonly scheduleExpression?: string;
  /** @default 'Europe/Oslo' */
  readonly scheduleTimeZone?: string;
  /**
   * Tenants backed up at the same time. Range 1 to 40.
   * @default 10
   */
  readonly maxConcurrency?: number;
}

/**
 * DailyBackups: lists the enabled tenants and starts one BackupRun per tenant (a child execution
 * each, so every tenant has its own history); one tenant's failure never stops the others.
 */
export class DailyBackupsStateMachine extends Construct {
  readonly stateMachine: StateMachine;

  constructor(scope: Construct, id: string, props: DailyBackupsStateMachineProps) {
    super(scope, id);
    validateRange('maxConcurrency', props.maxConcurrency, 1, 40);
    const listFn = new BackupFunction(this, 'ListTenants', { handler: 'list-tenants', environment: props.tables.environment() });
    props.tables.tenants.grantReadData(listFn);

    const list = new LambdaInvoke(this, 'List tenants', {
      lambdaFunction: listFn,
      payload: TaskInput.fromObject({ execution: { name: JsonPath.stringAt('$$.Execution.Name'), startTime: JsonPath.stringAt('$$.Execution.StartTime') } }),
      payloadResponseOnly: true,
      resultPath: '$.tenants',
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
      itemsPath: '$.tenants.runs',
      maxConcurrency: props.maxConcurrency ?? 10,
      resultPath: '$.results',
    });
    fanOut.itemProcessor(startRun);

    const logs = new LogGroup(this, 'Logs', { retention: RetentionDays.SIX_MONTHS, removalPolicy: RemovalPolicy.DESTROY });
    this.stateMachine = new StateMachine(this, 'StateMachine', {
      definitionBody: DefinitionBody.fromChainable(list.next(fanOut)),
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
      description: 'Starts the daily backups of every enabled tenant',
      scheduleExpression: props.scheduleExpression ?? 'cron(0 2 * * ? *)',
      scheduleExpressionTimezone: props.scheduleTimeZone ?? 'Europe/Oslo',
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
