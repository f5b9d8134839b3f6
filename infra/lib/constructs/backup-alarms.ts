import { Duration } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { BackupFunction, invokeHourly } from './backup-function';
import type { BackupTables } from './backup-tables';
import { acceptKeyUse } from './reviewed-finding';
import { validateRange } from './validate-props';

export interface BackupAlarmsProps {
  readonly tables: BackupTables;
  readonly alerts: ITopic;
  readonly backupRun: StateMachine;
  /**
   * A tenant without a validated backup for this many hours is stale. Range 2 to 720.
   * @default 26
   */
  readonly staleAfterHours?: number;
  /**
   * An enabled tenant whose connector has not been connected for this many hours is alarmed on
   * (its next backups would fail). Range 1 to 168.
   * @default 6
   */
  readonly offlineAfterHours?: number;
  /**
   * A tenant whose archive is being seeded over several nights (core/seeding.ts) and made no
   * progress for this many hours is alarmed on (it is not stale: its databases validate). Range 24 to 720.
   * @default 24
   */
  readonly seedingStalledAfterHours?: number;
}

/** One of the hourly fleet metrics (published by the check, embedded metric format). */
export function fleetMetric(name: string, statistic = 'Maximum'): Metric {
  return new Metric({ namespace: 'SoBackup', metricName: name, period: Duration.hours(1), statistic });
}

/**
 * Loud on failure and on silence: an alarm on failed, timed-out or aborted BackupRun executions,
 * and an hourly check that alarms (and names the tenants) when any enabled tenant has had no
 * validated backup for `staleAfterHours`, its connector offline for `offlineAfterHours`, or its
 * archive seeding stalled for `seedingStalledAfterHours`, including when the check itself stops reporting.
 */
export class BackupAlarms extends Construct {
  constructor(scope: Construct, id: string, props: BackupAlarmsProps) {
    super(scope, id);
    validateRange('staleAfterHours', props.staleAfterHours, 2, 720);
    validateRange('offlineAfterHours', props.offlineAfterHours, 1, 168);
    validateRange('seedingStalledAfterHours', props.seedingStalledAfterHours, 24, 720);
    const action = new SnsAction(props.alerts);

    const failed = new Alarm(this, 'FailedRuns', {
      alarmDescription: 'A BackupRun execution failed, timed out or was aborted',
      metric: props.backupRun.metricFailed({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    failed.addAlarmAction(action);
    for (const [name, metric] of [
      ['TimedOutRuns', props.backupRun.metricTimedOut()],
      ['AbortedRuns', props.backupRun.metricAborted()],
    ] as const) {
      new Alarm(this, name, {
        metric: metric.with({ period: Duration.minutes(5), statistic: 'Sum' }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }).addAlarmAction(action);
    }

    const checkFn = new BackupFunction(this, 'CheckStaleTenants', {
      handler: 'check-stale-tenants',
      environment: {
        ...props.tables.environment(),
        ALERTS_TOPIC_ARN: props.alerts.topicArn,
        STALE_AFTER_HOURS: String(props.staleAfterHours ?? 26),
        OFFLINE_AFTER_HOURS: String(props.offlineAfterHours ?? 6),
        SEEDING_STALLED_AFTER_HOURS: String(props.seedingStalledAfterHours ?? 24),
      },
      timeout: Duration.minutes(2),
    });
    props.tables.tenants.grant(checkFn, 'dynamodb:Scan'); // the enabled tenants
    props.tables.connections.grant(checkFn, 'dynamodb:Scan'); // who is online
    props.alerts.grantPublish(checkFn);
    acceptKeyUse(checkFn, 'Publishing to the encrypted alerts topic, with its own key.');
    invokeHourly(this, checkFn, 'Hourly check for tenants without a recent validated backup and connectors offline too long');
    const hourly = [
      {
        name: 'StaleTenants',
        description: `An enabled tenant has had no validated backup for ${props.staleAfterHours ?? 26} h (the alert names them)`,
      },
      {
        name: 'ConnectorsOffline',
        description: `An enabled tenant's connector has not been connected for ${props.offlineAfterHours ?? 6} h (the alert names them)`,
      },
      {
        name: 'SeedingStalled',
        description: `An enabled tenant's archive, sent over several nights (seeding), made no progress for ${props.seedingStalledAfterHours ?? 24} h (the alert names them)`,
      },
    ];
    for (const { name, description } of hourly) {
      new Alarm(this, name, {
        alarmDescription: description,
        metric: fleetMetric(name),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        // No data means the check itself stopped: that is silence too.
        treatMissingData: TreatMissingData.BREACHING,
      }).addAlarmAction(action);
    }
  }
}
