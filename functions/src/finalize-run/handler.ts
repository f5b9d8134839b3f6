import { z } from 'zod';
import { manifestPointerSchema, manifestSchema } from '../../../protocol';
import { RunStore, TenantStore } from '../../../core';
import { awsClients, logger, parseEvent, putMetrics, readEnvironment, runRefSchema, tableEnvironmentSchema } from '../shared';
import { S3ArtifactReader } from '../validate-run/artifact-reader';
import { finalizeRun, validationSummarySchema } from './finalize-run';
import { S3VersionCopier } from './s3-version-copier';

const env = readEnvironment(tableEnvironmentSchema.extend({
  BACKUP_BUCKET: z.string().min(1),
  WEEKLY_BACKUPS_KEPT: z.coerce.number().int().min(0),
  MONTHLY_BACKUPS_KEPT: z.coerce.number().int().min(0),
}));
const { s3, dynamo } = awsClients();
const reader = new S3ArtifactReader(s3, env.BACKUP_BUCKET);
const deps = {
  runs: new RunStore(dynamo, env.RUNS_TABLE),
  tenants: new TenantStore(dynamo, env.TENANTS_TABLE),
  copier: new S3VersionCopier(s3, env.BACKUP_BUCKET),
  readManifest: async (pointer: z.infer<typeof manifestPointerSchema>) => manifestSchema.parse(JSON.parse((await reader.read(pointer.key, pointer.versionId)).toString('utf8'))),
  kept: { weekly: env.WEEKLY_BACKUPS_KEPT, monthly: env.MONTHLY_BACKUPS_KEPT },
};
const eventSchema = z.object({ run: runRefSchema, manifest: manifestPointerSchema, validation: validationSummarySchema });

export async function handler(event: unknown) {
  const { run, manifest, validation } = parseEvent(eventSchema, event, 'Finalize input');
  const summary = await finalizeRun(deps, run, manifest, validation);
  logger[summary.failed ? 'error' : 'info']({ runId: run.runId, ...summary }, summary.failed ? 'run kept its validated parts; others failed' : 'run succeeded');
  // For the dashboard: what each validated run moved and how long it took.
  putMetrics(
    { BackupUploadedBytes: summary.uploadedBytes, BackupDurationSeconds: summary.durationSeconds, ArchiveFilesSkipped: summary.skippedFiles },
    { BackupUploadedBytes: 'Bytes', BackupDurationSeconds: 'Seconds' },
  );
  return summary;
}
