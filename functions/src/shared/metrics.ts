/** The CloudWatch namespace of so-backup's own metrics. */
export const METRICS_NAMESPACE = 'SoBackup';

export type MetricUnit = 'Count' | 'Bytes' | 'Seconds';

/**
 * Publishes fleet-level metrics as one CloudWatch embedded-metric-format line on stdout: Lambda's
 * log pipeline turns it into metrics, with no API call and no extra permission.
 */
export function putMetrics(
  values: Record<string, number>,
  units: Record<string, MetricUnit> = {},
  write: (line: string) => void = (line) => process.stdout.write(line),
): void {
  write(
    `${JSON.stringify({
      _aws: {
        Timestamp: Date.now(),
        CloudWatchMetrics: [
          {
            Namespace: METRICS_NAMESPACE,
            Dimensions: [[]],
            Metrics: Object.keys(values).map((name) => ({ Name: name, Unit: units[name] ?? 'Count' })),
          },
        ],
      },
      ...values,
    })}\n`,
  );
}

/** An invocation's metrics, published together as one line when it ends (nothing when none were added). */
export class MetricsBuffer {
  private readonly values: Record<string, number> = {};
  private readonly units: Record<string, MetricUnit> = {};

  constructor(private readonly write?: (line: string) => void) {}

  /** Adds metrics (a name added again replaces its value); Count unless `units` says otherwise. */
  add(values: Record<string, number>, units: Record<string, MetricUnit> = {}): void {
    Object.assign(this.values, values);
    Object.assign(this.units, units);
  }

  flush(): void {
    if (Object.keys(this.values).length === 0) return;
    putMetrics({ ...this.values }, { ...this.units }, this.write);
    for (const name of Object.keys(this.values)) delete this.values[name];
  }
}
