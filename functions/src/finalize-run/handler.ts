import { z } from 'zod';
import { manifestPointerSchema } from '../../../protocol';
import { awsClients, logger, parseEvent, putMetrics, readEnvironment, RunStore, runRefSchema, tableEnvironmentSchema, TenantStore } from '../shared';
import { finalizeRun, validationSummarySchema } from './finalize-run';

const env = readEnvironment(tableEnvironmentSchema);
const runs = new RunStore(awsClients().dynamo, env.RUNS_TABLE);
const tenants = new TenantStore(awsClients().dynamo, env.TENANTS_TABLE);
const eventSchema = z.object({ run: runRefSchema, manifest: manifestPointerSchema, validation: validationSummarySchema });

export async function handler(event: unknown) {
  const { run, validation } = parseEvent(eventSchema, event, 'Finalize input');
  const summary = await finalizeRun({ runs, tenants }, run, validation);
  logger.info({ runId: run.runId, ...summary }, 'run succeeded');
  // For the dashboard: what each validated run moved and how long it took.
  putMetrics(
    { BackupUploadedBytes: summary.uploadedBytes, BackupDurationSeconds: summary.durationSeconds, ArchiveFilesSkipped: summary.skippedFiles },
    { BackupUploadedBytes: 'Bytes', BackupDurationSeconds: 'Seconds' },
  );
  return summary;
}
