import { Duration } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { fleetMetric } from './backup-alarms';
import { BackupFunction, invokeHourly } from './backup-function';
import type { BackupTables } from './backup-tables';
import type { ConnectorApi } from './connector-api';
import { acceptKeyUse } from './reviewed-finding';
import type { UploadRole } from './upload-role';
import { validateRange } from './validate-props';

export interface RestoreDrillsProps {
  readonly tables: BackupTables;
  readonly connectorApi: ConnectorApi;
  /** The role connector credentials are minted from (restore drills get read-only sessions of it). */
  readonly uploadRole: UploadRole;
  readonly alerts: ITopic;
  /**
   * Days between restore drills per tenant. Range 1 to 90.
   * @default 7
   */
  readonly intervalDays?: number;
  /**
   * Archive files downloaded and checked per drill. Range 0 to 1000.
   * @default 20
   */
  readonly sampleFiles?: number;
  /**
   * Restore the database to a scratch database and run DBCC CHECKDB (when the server has room).
   * @default true
   */
  readonly database?: boolean;
}

/**
 * Weekly restore drills: an hourly function asks each online tenant whose last drill is due to
 * restore its newest validated run (database to a scratch database with DBCC CHECKDB, a sample of
 * archive files), and alarms when a tenant's drill failed or has not reported for a day.
 */
export class RestoreDrills extends Construct {
  /** How drills are asked (functions/src/request-drills/ask-for-drill.ts drillEnvironmentSchema): the message function asks checking-in connectors too. */
  readonly drillEnvironment: Record<'DRILL_INTERVAL_DAYS' | 'DRILL_SAMPLE_FILES' | 'DRILL_DATABASE', string>;

  constructor(scope: Construct, id: string, props: RestoreDrillsProps) {
    super(scope, id);
    validateRange('drillIntervalDays', props.intervalDays, 1, 90);
    validateRange('drillSampleFiles', props.sampleFiles, 0, 1000);
    this.drillEnvironment = {
      DRILL_INTERVAL_DAYS: String(props.intervalDays ?? 7),
      DRILL_SAMPLE_FILES: String(props.sampleFiles ?? 20),
      DRILL_DATABASE: String(props.database ?? true),
    };
    const fn = new BackupFunction(this, 'RequestDrills', {
      handler: 'request-drills',
      environment: {
        ...props.tables.environment(),
        ALERTS_TOPIC_ARN: props.alerts.topicArn,
        CONNECTIONS_ENDPOINT: props.connectorApi.connectionsEndpoint,
        ...this.drillEnvironment,
      },
      timeout: Duration.minutes(5),
    });
    props.tables.tenants.grant(fn, 'dynamodb:Scan', 'dynamodb:UpdateItem'); // the enabled tenants; drills issued and requested
    props.tables.runs.grant(fn, 'dynamodb:Query'); // the tenant's runs (by-tenant index)
    props.tables.connections.grant(fn, 'dynamodb:Scan', 'dynamodb:Query'); // who is online; the tenant's connections
    // A drill sent to a connection API Gateway reports gone forgets it (core's postToConnection).
    props.tables.connections.grant(fn, 'dynamodb:DeleteItem');
    props.connectorApi.grantManageConnections(fn);
    props.uploadRole.grantMint(fn);
    props.alerts.grantPublish(fn);
    acceptKeyUse(fn, 'Publishing to the encrypted alerts topic, with its own key.');
    invokeHourly(this, fn, 'Hourly: asks tenants whose restore drill is due to run one, and alarms on failing drills');
    new Alarm(this, 'RestoreDrillsFailing', {
      alarmDescription: "A tenant's latest restore drill failed, or did not report within a day (the alert names them)",
      metric: fleetMetric('RestoreDrillsFailing'),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      // No data means the drill requests stopped: silence is a failure too.
      treatMissingData: TreatMissingData.BREACHING,
    }).addAlarmAction(new SnsAction(props.alerts));
  }
}
