import { Duration } from 'aws-cdk-lib';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import {
  type CfnStateMachine,
  Choice,
  Condition,
  DefinitionBody,
  Fail,
  IntegrationPattern,
  JitterType,
  JsonPath,
  LogLevel,
  Pass,
  StateMachine,
  StateMachineType,
  Succeed,
  TaskInput,
  Timeout,
} from 'aws-cdk-lib/aws-stepfunctions';
import { LambdaInvoke, SnsPublish } from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { RemovalPolicy } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { BackupFunction } from './backup-function';
import { taskPayload } from './workflow-payload';
import type { BackupBucket } from './backup-bucket';
import type { BackupTables } from './backup-tables';
import type { ConnectorApi } from './connector-api';
import { backupRun } from '../../../core/workflow';
import { acceptStateMachineRole } from './reviewed-finding';
import { UploadRole } from './upload-role';
import { validateDuration } from './validate-props';
import { DEFAULT_RUN_WINDOW_SECONDS, MAX_RUN_WINDOW_SECONDS } from '../../../core/backup-window';

export interface BackupRunStateMachineProps {
  readonly tables: BackupTables;
  readonly bucket: BackupBucket;
  readonly connectorApi: ConnectorApi;
  readonly alerts: ITopic;
  /**
   * The connector must report progress at least this often while a backup runs.
   * @default Duration.minutes(10)
   */
  readonly heartbeat?: Duration;
  /**
   * The longest a connector may take for one backup.
   * @default Duration.hours(12)
   */
  readonly backupTimeout?: Duration;
  /**
   * A connector offline when its backup is due is asked again this often… (a connector checking
   * in stays until the next try, so this is how long a support backup waits after it comes)
   * @default DEFAULT_OFFLINE_RETRY_INTERVAL (5 minutes)
   */
  readonly offlineRetryInterval?: Duration;
  /**
   * …for this long; then the run fails loudly (alert).
   * @default DEFAULT_OFFLINE_RETRY_WINDOW (4 hours)
   */
  readonly offlineRetryWindow?: Duration;
  /**
   * How long the S3 credentials handed to a connector for one run last (STS role chaining caps this at 1 h).
   * @default Duration.hours(1)
   */
  readonly uploadCredentialLifetime?: Duration;
  /**
   * The backup window: how long after a run starts its connector may go on sending the archive
   * (tenants and runs may set their own). Databases always complete; at the window's end the
   * archive starts no new file and the next run goes on from there (seeding a large archive over
   * several nights). `Duration.seconds(0)`: no window. Shorter than backupTimeout, at most 23 hours.
   * Not the DailyBackups `backupWindowHours`, which spreads the runs' *start* (core/backup-window.ts).
   * @default Duration.hours(8)
   */
  readonly runWindow?: Duration;
}

/**
 * Lambda's throttling error as Step Functions names it: a burst of thousands of runs can meet
 * Lambda's concurrency quota (1,000 per region by default) or its scaling rate; it is retried with
 * jittered backoff instead of failing the run. (LambdaInvoke already retries Lambda's service errors.)
 */
/**
 * BackupRun's retry of a connector that is not connected: every 5 minutes (a try is one state
 * transition and one Lambda call: about 48 a day for a connector that is really offline, $0.04 a
 * month), for 4 hours. A connector checking in (protocol/presence.ts) stays until the next try, so a
 * support backup of a resting tenant starts at most this long after its check-in.
 */
export const DEFAULT_OFFLINE_RETRY_INTERVAL = Duration.minutes(5);
export const DEFAULT_OFFLINE_RETRY_WINDOW = Duration.hours(4);

export const LAMBDA_THROTTLED_ERRORS = ['Lambda.TooManyRequestsException'];

/** Metadata key naming a state machine for local mode. */
export const STATE_MACHINE_METADATA_KEY = 'so-backup:state-machine';

/**
 * BackupRun, one execution per backup of one tenant:
 * prepare → request backup (wait for the connector's result, heartbeat, timeout) → validate →
 * finalize (promote what validated) → succeeded (after publishing an "action needed" alert when
 * a kept backup needs action to restore elsewhere, e.g. a TDE certificate never backed up), or,
 * when a database or the archive failed while the rest was kept, "Some parts failed"; any failure → mark the run failed → publish an
 * alert → fail.
 */
export class BackupRunStateMachine extends Construct {
  readonly stateMachine: StateMachine;
  /** The role the connector's per-run credentials are minted from (narrowed per run by a session policy). */
  readonly uploadRole: UploadRole;
  /** How long a RUNNING run counts as running (the backup timeout plus an hour for the failure path), in seconds: Prepare's and the CLI's one-run-at-a-time rule. */
  readonly runTimeoutSeconds: number;
  /** The stack's backup window in seconds (0: none), for tenants and runs without their own. */
  readonly runWindowSeconds: number;
  /** How often "Request backup" is retried while the connector is offline (offlineRetryInterval), in seconds. */
  readonly offlineRetrySeconds: number;
  /** How long it is retried (offlineRetryWindow), in seconds. */
  readonly offlineRetryWindowSeconds: number;

  constructor(scope: Construct, id: string, props: BackupRunStateMachineProps) {
    super(scope, id);
    validateDuration('heartbeat', props.heartbeat, 1, 3600);
    validateDuration('backupTimeout', props.backupTimeout, 60, 7 * 86_400);
    validateDuration('runWindow', props.runWindow, 0, MAX_RUN_WINDOW_SECONDS);
    const runWindowSeconds = props.runWindow?.isUnresolved() ? undefined : (props.runWindow?.toSeconds() ?? DEFAULT_RUN_WINDOW_SECONDS);
    const backupTimeoutSeconds = (props.backupTimeout ?? Duration.hours(12)).toSeconds();
    if (runWindowSeconds !== undefined && runWindowSeconds >= backupTimeoutSeconds)
      throw new Error(
        `runWindow (${runWindowSeconds} seconds) must be shorter than backupTimeout (${backupTimeoutSeconds} seconds): a run still sending when its window ends would be timed out instead of paused`,
      );
    this.runWindowSeconds = runWindowSeconds ?? DEFAULT_RUN_WINDOW_SECONDS;
    validateDuration('offlineRetryInterval', props.offlineRetryInterval, 1, 86_400);
    validateDuration('offlineRetryWindow', props.offlineRetryWindow, 0, 86_400);
    const retryInterval = props.offlineRetryInterval ?? DEFAULT_OFFLINE_RETRY_INTERVAL;
    const retryAttempts = Math.floor((props.offlineRetryWindow ?? DEFAULT_OFFLINE_RETRY_WINDOW).toSeconds() / retryInterval.toSeconds());
    this.offlineRetrySeconds = retryInterval.toSeconds();
    this.offlineRetryWindowSeconds = (props.offlineRetryWindow ?? DEFAULT_OFFLINE_RETRY_WINDOW).toSeconds();
    const { tables, bucket } = props;
    // A run's uploads must still be in staging when finalize promotes them.
    const longestRun =
      (props.backupTimeout ?? Duration.hours(12)).toSeconds() + (props.offlineRetryWindow ?? Duration.hours(4)).toSeconds() + 86_400;
    if (!bucket.stagingExpiration.isUnresolved() && bucket.stagingExpiration.toSeconds() < longestRun) {
      throw new Error(
        `stagingExpiration must be at least backupTimeout + offlineRetryWindow + 1 day (${Math.ceil(longestRun / 86_400)} days), but ${bucket.stagingExpiration.toDays()} days was provided: staged uploads would expire before finalize promotes them`,
      );
    }
    const environment = { ...tables.environment(), BACKUP_BUCKET: bucket.bucket.bucketName };

    this.runTimeoutSeconds = (props.backupTimeout ?? Duration.hours(12)).toSeconds() + 3600;
    const prepareFn = new BackupFunction(this, 'PrepareRun', {
      handler: 'prepare-run',
      environment: {
        ...environment,
        RUN_TIMEOUT_SECONDS: String(this.runTimeoutSeconds),
        RUN_WINDOW_SECONDS: String(this.runWindowSeconds),
      },
    });
    tables.tenants.grant(prepareFn, 'dynamodb:GetItem');
    // A conditional put, and the record it finds when Step Functions retries Prepare after the put
    // went through (RunStore.create reads it back); the tenant's runs (by-tenant index).
    tables.runs.grant(prepareFn, 'dynamodb:PutItem', 'dynamodb:GetItem', 'dynamodb:Query');

    const requestFn = new BackupFunction(this, 'RequestBackup', {
      handler: 'request-backup',
      environment: { ...environment, CONNECTIONS_ENDPOINT: props.connectorApi.connectionsEndpoint },
    });
    tables.runs.grant(requestFn, 'dynamodb:UpdateItem');
    tables.connections.grant(requestFn, 'dynamodb:Query'); // the tenant's connections (by-tenant index)
    tables.tenants.grant(requestFn, 'dynamodb:GetItem'); // jobs go only to sessions of the tenant's current keys
    // A connection API Gateway reports gone (GoneException) is forgotten, so the next run does not try it again.
    tables.connections.grant(requestFn, 'dynamodb:DeleteItem');
    props.connectorApi.grantManageConnections(requestFn);
    this.uploadRole = new UploadRole(this, 'UploadRole', {
      bucket,
      mintedBy: requestFn,
      credentialLifetime: props.uploadCredentialLifetime,
    });
    // The message function refreshes credentials for uploads that outlive the first ones.
    this.uploadRole.grantMint(props.connectorApi.messageFunction);

    const validateFn = new BackupFunction(this, 'ValidateRun', { handler: 'validate-run', environment, timeout: Duration.minutes(15) });
    bucket.grantReadBackups(validateFn);
    tables.runs.grant(validateFn, 'dynamodb:GetItem', 'dynamodb:UpdateItem');
    tables.tenants.grant(validateFn, 'dynamodb:GetItem');
    const finalizeFn = new BackupFunction(this, 'FinalizeRun', {
      handler: 'finalize-run',
      environment: { ...environment, WEEKLY_BACKUPS_KEPT: String(bucket.kept.weekly), MONTHLY_BACKUPS_KEPT: String(bucket.kept.monthly) },
      // Copies of large backups to the weekly and monthly tiers run inside S3, part by part.
      timeout: Duration.minutes(15),
    });
    bucket.grantPromotions(finalizeFn);
    tables.runs.grant(finalizeFn, 'dynamodb:GetItem', 'dynamodb:UpdateItem');
    tables.tenants.grant(finalizeFn, 'dynamodb:GetItem', 'dynamodb:UpdateItem'); // the promotion and the success, conditional updates
    const markFailedFn = new BackupFunction(this, 'MarkRunFailed', { handler: 'mark-run-failed', environment });
    tables.runs.grant(markFailedFn, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem');

    // Every payload, result path and reference below comes from the workflow contract (core/workflow/backup-run.ts).
    const { state, tasks } = backupRun;
    const prepare = new LambdaInvoke(this, 'Prepare', {
      lambdaFunction: prepareFn,
      payload: taskPayload(tasks.prepare.payload),
      payloadResponseOnly: true,
      resultPath: tasks.prepare.result.$,
    });
    const request = new LambdaInvoke(this, 'Request backup', {
      lambdaFunction: requestFn,
      integrationPattern: IntegrationPattern.WAIT_FOR_TASK_TOKEN,
      payload: taskPayload(tasks.requestBackup.payload),
      heartbeatTimeout: Timeout.duration(props.heartbeat ?? Duration.minutes(10)),
      taskTimeout: Timeout.duration(props.backupTimeout ?? Duration.hours(12)),
      resultPath: tasks.requestBackup.result.$,
    });
    if (retryAttempts > 0) {
      // Offline at schedule time: wait and ask again within the window, then fail loudly.
      request.addRetry({ errors: ['ConnectorOffline'], interval: retryInterval, maxAttempts: retryAttempts, backoffRate: 1 });
    }
    const validate = new LambdaInvoke(this, 'Validate', {
      lambdaFunction: validateFn,
      payload: taskPayload(tasks.validate.payload),
      payloadResponseOnly: true,
      resultPath: tasks.validate.result.$,
    });
    const finalize = new LambdaInvoke(this, 'Finalize', {
      lambdaFunction: finalizeFn,
      payload: taskPayload(tasks.finalize.payload),
      payloadResponseOnly: true,
      resultPath: tasks.finalize.result.$,
    });
    const markFailed = new LambdaInvoke(this, 'Mark run failed', {
      lambdaFunction: markFailedFn,
      payload: taskPayload(tasks.markFailed.payload),
      payloadResponseOnly: true,
      resultPath: tasks.markFailed.result.$,
    });
    const notify = new SnsPublish(this, 'Publish alert', {
      topic: props.alerts,
      subject: JsonPath.stringAt(state.alert.subject.$),
      message: TaskInput.fromJsonPathAt(state.alert.message.$),
      resultPath: JsonPath.DISCARD,
    });
    const failed = new Fail(this, 'Backup failed', { errorPath: state.error.Error.$, causePath: state.error.Cause.$ });
    markFailed.next(notify).next(failed);
    // Finalize kept and counted the good parts; the run still fails, loudly, naming what failed.
    const partsFailed = new Pass(this, 'Some parts failed', {
      parameters: { Error: 'PartsFailed', Cause: JsonPath.stringAt(state.final.failureCause.$) },
      resultPath: state.error.$,
    }).next(markFailed);
    const succeeded = new Succeed(this, 'Backup succeeded');
    // Kept and validated, but not restorable after a server loss until someone acts (a TDE certificate never backed up): alert.
    const notifyAction = new SnsPublish(this, 'Publish action needed', {
      topic: props.alerts,
      subject: JsonPath.stringAt(state.final.alert.subject.$),
      message: TaskInput.fromJsonPathAt(state.final.alert.message.$),
      resultPath: JsonPath.DISCARD,
    });
    const outcome = new Choice(this, 'All parts kept?')
      .when(Condition.and(Condition.isPresent(state.final.failed.$), Condition.booleanEquals(state.final.failed.$, true)), partsFailed)
      .when(Condition.isPresent(state.final.alert.$), notifyAction.next(succeeded))
      .otherwise(succeeded);
    for (const step of [prepare, request, validate, finalize, markFailed]) {
      step.addRetry({
        errors: LAMBDA_THROTTLED_ERRORS,
        interval: Duration.seconds(1),
        maxAttempts: 8,
        backoffRate: 2,
        maxDelay: Duration.minutes(1),
        jitterStrategy: JitterType.FULL,
      });
    }
    for (const step of [prepare, request, validate, finalize]) {
      step.addCatch(markFailed, { errors: ['States.ALL'], resultPath: state.error.$ });
    }

    const logs = new LogGroup(this, 'Logs', { retention: RetentionDays.SIX_MONTHS, removalPolicy: RemovalPolicy.DESTROY });
    this.stateMachine = new StateMachine(this, 'StateMachine', {
      stateMachineType: StateMachineType.STANDARD,
      definitionBody: DefinitionBody.fromChainable(prepare.next(request).next(validate).next(finalize).next(outcome)),
      tracingEnabled: true,
      logs: { destination: logs, level: LogLevel.ALL, includeExecutionData: false },
    });
    (this.stateMachine.node.defaultChild as CfnStateMachine).addMetadata(STATE_MACHINE_METADATA_KEY, backupRun.name);
    this.stateMachine.grantTaskResponse(props.connectorApi.messageFunction);
    acceptStateMachineRole(this.stateMachine, [prepareFn, requestFn, validateFn, finalizeFn, markFailedFn]);
  }
}
