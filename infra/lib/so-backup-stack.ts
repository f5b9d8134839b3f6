import { ArnFormat, CfnOutput, type Duration, Stack, type StackProps } from 'aws-cdk-lib';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Key } from 'aws-cdk-lib/aws-kms';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { BackupAlarms } from './constructs/backup-alarms';
import { BackupBucket } from './constructs/backup-bucket';
import { BackupDashboard } from './constructs/backup-dashboard';
import { BackupRunStateMachine, DEFAULT_OFFLINE_RETRY_INTERVAL, DEFAULT_OFFLINE_RETRY_WINDOW } from './constructs/backup-run-state-machine';
import { BackupTables } from './constructs/backup-tables';
import { ConnectorApi } from './constructs/connector-api';
import { DailyBackupsStateMachine } from './constructs/daily-backups-state-machine';
import { RestoreDrills } from './constructs/restore-drills';
import { acceptKeyUse } from './constructs/reviewed-finding';
import { validateRange } from './constructs/validate-props';
import { PRESENCE } from '../../protocol/presence';
import {
  CHECK_IN_GRACE_MINUTES,
  CHECK_IN_MINUTES_RANGE,
  DEFAULT_CHECK_IN_MINUTES,
  PRESENCE_MODES,
  type PresenceMode,
  type PresenceSettings,
} from '../../core/presence';

export interface SoBackupStackProps extends StackProps {
  /** See BackupBucketProps.dailyBackupsKept. @default 14 */
  readonly dailyBackupsKept?: number;
  /** See BackupBucketProps.weeklyBackupsKept. @default 5 */
  readonly weeklyBackupsKept?: number;
  /** See BackupBucketProps.monthlyBackupsKept. @default 12 */
  readonly monthlyBackupsKept?: number;
  /** See BackupBucketProps.archiveVersionRetention. @default 90 days, or the longest tier */
  readonly archiveVersionRetention?: Duration;
  /** See BackupBucketProps.stagingExpiration. @default Duration.days(3) */
  readonly stagingExpiration?: Duration;
  /** See DailyBackupsStateMachineProps.backupHour. @default 2 */
  readonly backupHour?: number;
  /** See DailyBackupsStateMachineProps.backupWindowHours. @default 4 */
  readonly backupWindowHours?: number;
  /** @default 'Europe/Oslo' */
  readonly scheduleTimeZone?: string;
  /** See BackupBucketProps.objectLock. @default no Object Lock */
  readonly objectLock?: { mode: 'GOVERNANCE' | 'COMPLIANCE'; days: number };
  /** See BackupBucketProps.breakGlassRoleArn. @default nobody may delete backup versions */
  readonly breakGlassRoleArn?: string;
  /** See BackupAlarmsProps.staleAfterHours. @default 26 */
  readonly staleAfterHours?: number;
  /** See RestoreDrillsProps.intervalDays. @default 7 */
  readonly drillIntervalDays?: number;
  /** See RestoreDrillsProps.sampleFiles. @default 20 */
  readonly drillSampleFiles?: number;
  /** See RestoreDrillsProps.database. @default true */
  readonly drillDatabase?: boolean;
  /** See BackupAlarmsProps.offlineAfterHours. @default 6 */
  readonly offlineAfterHours?: number;
  /** See BackupAlarmsProps.seedingStalledAfterHours. @default 24 */
  readonly seedingStalledAfterHours?: number;
  /** E-mail address subscribed to alerts. @default no subscription */
  readonly alertEmail?: string;
  /** See BackupRunStateMachineProps.heartbeat. @default Duration.minutes(10) */
  readonly heartbeat?: Duration;
  /** See BackupRunStateMachineProps.backupTimeout. @default Duration.hours(12) */
  readonly backupTimeout?: Duration;
  /** See BackupRunStateMachineProps.offlineRetryInterval. @default DEFAULT_OFFLINE_RETRY_INTERVAL (5 minutes) */
  readonly offlineRetryInterval?: Duration;
  /** See BackupRunStateMachineProps.runWindow (not backupWindowHours, which spreads the runs' start). @default Duration.hours(8) */
  readonly runWindow?: Duration;
  /** See BackupRunStateMachineProps.offlineRetryWindow. @default Duration.hours(4) */
  readonly offlineRetryWindow?: Duration;
  /**
   * When connectors stay connected, unless a tenant has its own (`so-backup tenants set --presence`):
   * `check-in` (connect, do the work, leave; back at the next check-in or before the next backup:
   * protocol/presence.ts, core/presence.ts) or `always`. @default 'check-in'
   */
  readonly connectorPresence?: PresenceMode;
  /**
   * Minutes between a resting connector's check-ins (1–360); shorter than offlineAfterHours, or
   * the connectors-offline alarm would fire between check-ins. @default 60
   */
  readonly checkInMinutes?: number;
}

/** so-backup's whole cloud side. Composes the constructs; holds no logic of its own. */
export class SoBackupStack extends Stack {
  constructor(scope: Construct, id: string, props: SoBackupStackProps = {}) {
    super(scope, id, props);
    const presence = validatePresence(props);
    const bucket = new BackupBucket(this, 'Backups', {
      dailyBackupsKept: props.dailyBackupsKept,
      weeklyBackupsKept: props.weeklyBackupsKept,
      monthlyBackupsKept: props.monthlyBackupsKept,
      archiveVersionRetention: props.archiveVersionRetention,
      breakGlassRoleArn: props.breakGlassRoleArn,
      objectLock: props.objectLock,
      stagingExpiration: props.stagingExpiration,
    });
    const tables = new BackupTables(this, 'Tables');
    const alertsKey = new Key(this, 'AlertsKey', { enableKeyRotation: true, description: 'so-backup alerts topic' });
    // CloudWatch alarms publish to the encrypted topic.
    alertsKey.grant(new ServicePrincipal('cloudwatch.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey*');
    const alerts = new Topic(this, 'Alerts', { displayName: 'so-backup alerts', masterKey: alertsKey, enforceSSL: true });
    // A topic policy replaces SNS's default one: the alarms (CloudWatch, not a role of this
    // account) may publish only if it says so. The stack's own roles publish by their policies.
    alerts.addToResourcePolicy(
      new PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [alerts.topicArn],
        conditions: {
          ArnLike: {
            'aws:SourceArn': this.formatArn({
              service: 'cloudwatch',
              resource: 'alarm',
              resourceName: '*',
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
          StringEquals: { 'aws:SourceAccount': this.account },
        },
      }),
    );
    if (props.alertEmail) alerts.addSubscription(new EmailSubscription(props.alertEmail));
    const connectorApi = new ConnectorApi(this, 'ConnectorApi', { tables });
    const backupRun = new BackupRunStateMachine(this, 'BackupRun', {
      tables,
      bucket,
      connectorApi,
      alerts,
      heartbeat: props.heartbeat,
      backupTimeout: props.backupTimeout,
      offlineRetryInterval: props.offlineRetryInterval,
      offlineRetryWindow: props.offlineRetryWindow,
      runWindow: props.runWindow,
    });
    const daily = new DailyBackupsStateMachine(this, 'DailyBackups', {
      tables,
      backupRun: backupRun.stateMachine,
      backupHour: props.backupHour,
      backupWindowHours: props.backupWindowHours,
      scheduleTimeZone: props.scheduleTimeZone,
    });

    alertsKey.grant(backupRun.stateMachine, 'kms:Decrypt', 'kms:GenerateDataKey*');
    acceptKeyUse(backupRun.stateMachine, 'Publishing failure alerts to the encrypted alerts topic, with its own key.');
    new BackupAlarms(this, 'Alarms', {
      tables,
      alerts,
      backupRun: backupRun.stateMachine,
      staleAfterHours: props.staleAfterHours,
      offlineAfterHours: props.offlineAfterHours,
      seedingStalledAfterHours: props.seedingStalledAfterHours,
    });
    const drills = new RestoreDrills(this, 'RestoreDrills', {
      tables,
      connectorApi,
      uploadRole: backupRun.uploadRole,
      alerts,
      intervalDays: props.drillIntervalDays,
      sampleFiles: props.drillSampleFiles,
      database: props.drillDatabase,
    });
    // What the message function tells connectors about staying connected (functions/src/message/presence-environment.ts),
    // and how it asks a checking-in connector for a due drill (the hourly check seldom finds one connected).
    for (const [name, value] of Object.entries({
      CONNECTOR_PRESENCE: presence.mode,
      CHECK_IN_SECONDS: String(presence.checkInMinutes * 60),
      ...daily.scheduleEnvironment,
      OFFLINE_RETRY_SECONDS: String(backupRun.offlineRetrySeconds),
      OFFLINE_RETRY_WINDOW_SECONDS: String(backupRun.offlineRetryWindowSeconds),
      ...drills.drillEnvironment,
    }))
      connectorApi.messageFunction.addEnvironment(name, value);
    new CfnOutput(this, 'PresenceSettings', {
      value: JSON.stringify({
        defaultMode: presence.mode,
        checkInSeconds: presence.checkInMinutes * 60,
        schedule: { timeZone: daily.timeZone, windowStartHour: props.backupHour ?? 2, windowHours: props.backupWindowHours ?? 4 },
        offlineRetrySeconds: backupRun.offlineRetrySeconds,
        offlineRetryWindowSeconds: backupRun.offlineRetryWindowSeconds,
      } satisfies PresenceSettings),
      description:
        "connectors' presence (core/presence.ts PresenceSettings, JSON): the default mode, the check-in interval, the schedule, the offline retries",
    });
    const dashboard = new BackupDashboard(this, 'Dashboard', { backupRun: backupRun.stateMachine });

    new CfnOutput(this, 'ConnectorEndpoint', { value: connectorApi.stage.url, description: 'wss:// endpoint for so-connector' });
    new CfnOutput(this, 'BackupBucketName', { value: bucket.bucket.bucketName });
    new CfnOutput(this, 'BackupRunStateMachineArn', { value: backupRun.stateMachine.stateMachineArn });
    new CfnOutput(this, 'DailyBackupsStateMachineArn', { value: daily.stateMachine.stateMachineArn });
    new CfnOutput(this, 'TenantsTableName', { value: tables.tenants.tableName });
    new CfnOutput(this, 'ConnectionsTableName', { value: tables.connections.tableName });
    new CfnOutput(this, 'RunsTableName', { value: tables.runs.tableName });
    new CfnOutput(this, 'ScheduleTimeZone', { value: daily.timeZone, description: "time zone of backup times; names every run's day" });
    new CfnOutput(this, 'RunTimeoutSeconds', {
      value: String(backupRun.runTimeoutSeconds),
      description: 'how long a RUNNING run counts as running',
    });
    new CfnOutput(this, 'RunWindowSeconds', {
      value: String(backupRun.runWindowSeconds),
      description: "the stack's backup window: seconds after a run starts that its archive may go on (0: none)",
    });
    new CfnOutput(this, 'AlertsTopicArn', { value: alerts.topicArn });
    new CfnOutput(this, 'DashboardName', { value: dashboard.dashboard.dashboardName });
  }
}

/**
 * The stack's presence settings, checked: a mode of PRESENCE_MODES; a check-in interval of 1–360
 * minutes which, with its jitter and CHECK_IN_GRACE_MINUTES for a late one, fits in
 * offlineAfterHours (or the connectors-offline alarm would fire between check-ins) and, with one
 * retry interval, in offlineRetryWindow (or a support backup asked for just after a check-in would
 * give up before the next one); and BackupRun's offline retry no longer than PRESENCE.holdMinutes,
 * the time a connector stays after its backup's slot (or a run that missed it would not find it at
 * its next retry). Applies also to an `always` stack (a tenant may check in on its own setting),
 * except the retry window, which is checked for a check-in stack.
 */
function validatePresence(props: SoBackupStackProps): { mode: PresenceMode; checkInMinutes: number } {
  const mode = props.connectorPresence ?? 'check-in';
  if (!PRESENCE_MODES.includes(mode))
    throw new Error(`connectorPresence must be ${PRESENCE_MODES.join(' or ')}, but "${String(mode)}" was provided`);
  validateRange('checkInMinutes', props.checkInMinutes, CHECK_IN_MINUTES_RANGE.min, CHECK_IN_MINUTES_RANGE.max, ' minutes');
  const checkInMinutes = props.checkInMinutes ?? DEFAULT_CHECK_IN_MINUTES;
  const offlineAfterHours = props.offlineAfterHours ?? 6;
  // A connector comes back at most checkInMinutes × (1 + jitter) after it left (protocol/presence.ts presenceDecision).
  const longestAway = Math.ceil((checkInMinutes * Math.round(100 * (1 + PRESENCE.checkInJitter))) / 100);
  const away = `checkInMinutes (${checkInMinutes}; with its ±${PRESENCE.checkInJitter * 100} % jitter up to ${longestAway} minutes between check-ins)`;
  if (longestAway + CHECK_IN_GRACE_MINUTES > offlineAfterHours * 60)
    throw new Error(
      `${away} must leave ${CHECK_IN_GRACE_MINUTES} minutes for a late check-in inside offlineAfterHours (${offlineAfterHours} h = ${offlineAfterHours * 60} minutes): the connectors-offline alarm would fire between a connector's check-ins`,
    );
  const retry = props.offlineRetryInterval;
  if (retry && !retry.isUnresolved() && retry.toSeconds() > PRESENCE.holdMinutes * 60)
    throw new Error(
      `offlineRetryInterval (${retry.toSeconds()} seconds) must be at most PRESENCE.holdMinutes (${PRESENCE.holdMinutes} minutes): a checking-in connector stays that long after its backup's slot, and a run that missed it must find it at its next retry`,
    );
  // A support backup asked for just after a check-in must still be retrying when the connector comes back.
  const retryMinutes = (retry && !retry.isUnresolved() ? retry : DEFAULT_OFFLINE_RETRY_INTERVAL).toSeconds() / 60;
  const windowMinutes = (props.offlineRetryWindow ?? DEFAULT_OFFLINE_RETRY_WINDOW).toSeconds() / 60; // tests use seconds
  // (On an `always` stack only tenants set to check-in one by one would wait; the stack's own default decides.)
  if (mode === 'check-in' && longestAway + retryMinutes > windowMinutes)
    throw new Error(
      `${away} must be shorter than offlineRetryWindow (${windowMinutes} minutes) less one offlineRetryInterval (${retryMinutes} minutes): a backup asked for just after a check-in would stop waiting for the connector before its next check-in`,
    );
  return { mode, checkInMinutes };
}
