/** The CloudWatch namespace of so-backup's own metrics. */
export const METRICS_NAMESPACE = 'SoBackup';

type Unit = 'Count' | 'Bytes' | 'Seconds';

/**
 * Publishes fleet-level metrics as one CloudWatch embedded-metric-format line on stdout: Lambda's
 * log pipeline turns it into metrics, with no API call and no extra permission.
 */
export function putMetrics(values: Record<string, number>, units: Record<string, Unit> = {}, write: (line: string) => void = (line) => process.stdout.write(line)): void {
  write(JSON.stringify({
    _aws: { Timestamp: Date.now(), CloudWatchMetrics: [{ Namespace: METRICS_NAMESPACE, Dimensions: [[]], Metrics: Object.keys(values).map((name) => ({ Name: name, Unit: units[name] ?? 'Count' })) }] },
    ...values,
  }) + '\n');
}
