import { Duration } from 'aws-cdk-lib';
import { Dashboard, GraphWidget, Metric, SingleValueWidget, TextWidget } from 'aws-cdk-lib/aws-cloudwatch';
import type { StateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { fleetMetric } from './backup-alarms';

export interface BackupDashboardProps {
  readonly backupRun: StateMachine;
}

/** One CloudWatch dashboard for the fleet: runs, bytes, durations, stale tenants, connectors. */
export class BackupDashboard extends Construct {
  readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: BackupDashboardProps) {
    super(scope, id);
    const daily = { period: Duration.days(1) };
    const run = (name: string, statistic: string, label: string) =>
      new Metric({ namespace: 'SoBackup', metricName: name, statistic, label, ...daily });
    this.dashboard = new Dashboard(this, 'Dashboard', { defaultInterval: Duration.days(14) });
    this.dashboard.addWidgets(
      new TextWidget({
        markdown: '# so-backup\nEvery enabled tenant should have a validated backup from the last 26 h and a connected connector.',
        width: 24,
        height: 2,
      }),
      new SingleValueWidget({
        title: 'Now',
        metrics: [
          fleetMetric('StaleTenants'),
          fleetMetric('ConnectorsOffline'),
          fleetMetric('SeedingStalled'),
          fleetMetric('ConnectorsOnline'),
        ],
        width: 24,
      }),
      new GraphWidget({
        title: 'Backup runs per day',
        width: 12,
        left: [
          props.backupRun.metricSucceeded({ ...daily, label: 'succeeded' }),
          props.backupRun.metricFailed({ ...daily, label: 'failed' }),
          props.backupRun.metricTimedOut({ ...daily, label: 'timed out' }),
          props.backupRun.metricAborted({ ...daily, label: 'aborted' }),
        ],
      }),
      new GraphWidget({
        title: 'Stale tenants and connectors',
        width: 12,
        left: [fleetMetric('StaleTenants'), fleetMetric('ConnectorsOffline'), fleetMetric('SeedingStalled')],
        right: [fleetMetric('ConnectorsOnline')],
      }),
      new GraphWidget({ title: 'Bytes uploaded per day', width: 12, left: [run('BackupUploadedBytes', 'Sum', 'bytes')] }),
      new GraphWidget({
        title: 'Run duration (s)',
        width: 12,
        left: [run('BackupDurationSeconds', 'p50', 'median'), run('BackupDurationSeconds', 'Maximum', 'longest')],
        right: [run('ArchiveFilesSkipped', 'Sum', 'archive files skipped')],
      }),
    );
  }
}
