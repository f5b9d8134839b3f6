import { ArnFormat, CfnOutput, type Duration, Stack, type StackProps } from 'aws-cdk-lib';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Key } from 'aws-cdk-lib/aws-kms';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { BackupAlarms } from './constructs/backup-alarms';
import { BackupBucket } from './constructs/backup-bucket';
import { BackupDashboard } from './constructs/backup-dashboard';
import { BackupRunStateMachine } from './constructs/backup-run-state-machine';
import { BackupTables } from './constructs/backup-tables';
import { ConnectorApi } from './constructs/connector-api';
import { DailyBackupsStateMachine } from './constructs/daily-backups-state-machine';
import { RestoreDrills } from './constructs/restore-drills';
import { acceptKeyUse } from './constructs/reviewed-finding';

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
  /** See BackupRunStateMachineProps.offlineRetryInterval. @default Duration.minutes(15) */
  readonly offlineRetryInterval?: Duration;
  /** See BackupRunStateMachineProps.runWindow (not backupWindowHours, which spreads the runs' start). @default Duration.hours(8) */
  readonly runWindow?: Duration;
  /** See BackupRunStateMachineProps.offlineRetryWindow. @default Duration.hours(4) */
  readonly offlineRetryWindow?: Duration;
}

/** so-backup's whole cloud side. Composes the constructs; holds no logic of its own. */
export class SoBackupStack extends Stack {
  constructor(scope: Construct, id: string, props: SoBackupStackProps = {}) {
    super(scope, id, props);
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
    new RestoreDrills(this, 'RestoreDrills', {
      tables,
      connectorApi,
      uploadRole: backupRun.uploadRole,
      alerts,
      intervalDays: props.drillIntervalDays,
      sampleFiles: props.drillSampleFiles,
      database: props.drillDatabase,
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
