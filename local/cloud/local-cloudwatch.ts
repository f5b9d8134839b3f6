import { LOCAL_ACCOUNT, LOCAL_REGION, type LocalAlarm } from './local-deployment';
import { AccessDeniedError } from '../iam/iam-authorizer';
import type { LocalSns } from './local-sns';

/** One data point of a metric. */
export interface Datapoint {
  namespace: string;
  metricName: string;
  dimensions: Record<string, string>;
  value: number;
  at: number;
}

/** What an alarm did, as CloudWatch's alarm history records it. */
export interface AlarmHistoryItem {
  alarmName: string;
  type: 'StateUpdate' | 'Action';
  summary: string;
  at: string;
}

/**
 * CloudWatch alarms on this machine, for the stack's alarms: data points come from what the
 * functions print in the embedded metric format (what Lambda's log pipeline turns into metrics)
 * and from Step Functions executions ending (AWS/States ExecutionsFailed and its siblings, by
 * StateMachineArn). An alarm whose period's statistic crosses its threshold goes to ALARM and
 * notifies its actions' topics as cloudwatch.amazonaws.com, which only the topic policy (and the
 * topic key's policy) can allow; a refused notification is recorded in the alarm's history as
 * CloudWatch records it. Not modelled: several evaluation periods, missing-data treatment.
 */
export class LocalCloudWatch {
  readonly history: AlarmHistoryItem[] = [];
  private readonly datapoints: Datapoint[] = [];
  private readonly states = new Map<string, 'OK' | 'ALARM' | 'INSUFFICIENT_DATA'>();
  private pending: Promise<void> = Promise.resolve();

  constructor(
    private readonly alarms: LocalAlarm[],
    private readonly sns: LocalSns,
    private readonly record: (item: AlarmHistoryItem) => void = () => undefined,
  ) {}

  /** Takes one line a function printed; embedded-metric-format lines become data points. */
  readEmbeddedMetrics(line: string): void {
    if (!line.startsWith('{') || !line.includes('"_aws"')) return;
    let record: {
      _aws?: {
        Timestamp?: number;
        CloudWatchMetrics?: Array<{ Namespace: string; Dimensions?: string[][]; Metrics: Array<{ Name: string }> }>;
      };
    } & Record<string, unknown>;
    try {
      record = JSON.parse(line);
    } catch {
      return;
    }
    for (const directive of record._aws?.CloudWatchMetrics ?? []) {
      for (const dimensionSet of directive.Dimensions?.length ? directive.Dimensions : [[]]) {
        const dimensions = Object.fromEntries(dimensionSet.map((name) => [name, String(record[name])]));
        for (const metric of directive.Metrics) {
          const value = Number(record[metric.Name]);
          if (Number.isFinite(value))
            this.put({
              namespace: directive.Namespace,
              metricName: metric.Name,
              dimensions,
              value,
              at: record._aws?.Timestamp ?? Date.now(),
            });
        }
      }
    }
  }

  /** Step Functions' own metrics for an execution that ended. */
  executionEnded(stateMachineArn: string, status: string): void {
    const metric = {
      SUCCEEDED: 'ExecutionsSucceeded',
      FAILED: 'ExecutionsFailed',
      TIMED_OUT: 'ExecutionsTimedOut',
      ABORTED: 'ExecutionsAborted',
    }[status];
    if (metric)
      this.put({ namespace: 'AWS/States', metricName: metric, dimensions: { StateMachineArn: stateMachineArn }, value: 1, at: Date.now() });
  }

  /** Waits until every alarm action started so far has run. */
  settled(): Promise<void> {
    return this.pending;
  }

  put(point: Datapoint): void {
    this.datapoints.push(point);
    if (this.datapoints.length > 10_000) this.datapoints.splice(0, 5_000);
    for (const alarm of this.alarms) {
      if (
        alarm.namespace !== point.namespace ||
        alarm.metricName !== point.metricName ||
        !sameDimensions(alarm.dimensions, point.dimensions)
      )
        continue;
      this.pending = this.pending.then(() => this.evaluate(alarm, point.at));
    }
  }

  private async evaluate(alarm: LocalAlarm, at: number): Promise<void> {
    const periodMs = alarm.periodSeconds * 1000;
    const start = Math.floor(at / periodMs) * periodMs;
    const values = this.datapoints
      .filter(
        (p) =>
          p.namespace === alarm.namespace &&
          p.metricName === alarm.metricName &&
          sameDimensions(alarm.dimensions, p.dimensions) &&
          p.at >= start &&
          p.at < start + periodMs,
      )
      .map((p) => p.value);
    if (values.length === 0) return;
    const statistic =
      {
        Sum: values.reduce((a, b) => a + b, 0),
        Maximum: Math.max(...values),
        Minimum: Math.min(...values),
        SampleCount: values.length,
        Average: values.reduce((a, b) => a + b, 0) / values.length,
      }[alarm.statistic] ?? Math.max(...values);
    const breaching =
      {
        GreaterThanOrEqualToThreshold: statistic >= alarm.threshold,
        GreaterThanThreshold: statistic > alarm.threshold,
        LessThanThreshold: statistic < alarm.threshold,
        LessThanOrEqualToThreshold: statistic <= alarm.threshold,
      }[alarm.comparison] ?? false;
    const before = this.states.get(alarm.name) ?? 'INSUFFICIENT_DATA';
    const after = breaching ? 'ALARM' : 'OK';
    if (before === after) return;
    this.states.set(alarm.name, after);
    const reason = `Threshold Crossed: 1 datapoint [${statistic}] was ${breaching ? '' : 'not '}${alarm.comparison
      .replace(/([A-Z])/g, ' $1')
      .trim()
      .toLowerCase()} (${alarm.threshold}).`;
    this.add({
      alarmName: alarm.name,
      type: 'StateUpdate',
      summary: `Alarm updated from ${before} to ${after}`,
      at: new Date().toISOString(),
    });
    if (after !== 'ALARM') return;
    const message = JSON.stringify({
      AlarmName: alarm.name,
      AlarmDescription: alarm.description ?? null,
      AWSAccountId: LOCAL_ACCOUNT,
      AlarmArn: alarm.arn,
      NewStateValue: 'ALARM',
      NewStateReason: reason,
      StateChangeTime: new Date().toISOString(),
      Region: LOCAL_REGION,
      OldStateValue: before,
      Trigger: {
        MetricName: alarm.metricName,
        Namespace: alarm.namespace,
        Statistic: alarm.statistic.toUpperCase(),
        Period: alarm.periodSeconds,
        Threshold: alarm.threshold,
        ComparisonOperator: alarm.comparison,
        Dimensions: Object.entries(alarm.dimensions).map(([name, value]) => ({ name, value })),
      },
    });
    for (const topic of alarm.alarmActions) {
      try {
        await this.sns.publish(
          { kind: 'service', service: 'cloudwatch.amazonaws.com', sourceArn: alarm.arn, sourceAccount: LOCAL_ACCOUNT },
          topic,
          message,
          `ALARM: "${alarm.name}" in ${LOCAL_REGION}`,
        );
        this.add({ alarmName: alarm.name, type: 'Action', summary: `Successfully executed action ${topic}`, at: new Date().toISOString() });
      } catch (error) {
        const why = error instanceof AccessDeniedError ? error.message : (error as Error).message;
        this.add({
          alarmName: alarm.name,
          type: 'Action',
          summary: `Failed to execute action ${topic}. Received error: "${why}"`,
          at: new Date().toISOString(),
        });
      }
    }
  }

  private add(item: AlarmHistoryItem): void {
    this.history.push(item);
    this.record(item);
  }
}

function sameDimensions(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}
