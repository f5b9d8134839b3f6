import { z } from 'zod';
import { backupRun, type TaskResult } from '../../../core/workflow';
import { type ManifestPointer, parseManifest } from '../../../protocol';
import { defineHandler, tableStores } from '../handler';
import { awsClients, tableEnvironmentSchema } from '../shared';
import { S3ArtifactReader } from '../validate-run/artifact-reader';
import { finalizeRun } from './finalize-run';
import { S3VersionCopier } from './s3-version-copier';

const task = backupRun.tasks.finalize;

export const handler = defineHandler(
  {
    name: 'finalize-run',
    environment: tableEnvironmentSchema.extend({
      BACKUP_BUCKET: z.string().min(1),
      WEEKLY_BACKUPS_KEPT: z.coerce.number().int().min(0),
      MONTHLY_BACKUPS_KEPT: z.coerce.number().int().min(0),
    }),
    setup: (env) => {
      const { s3 } = awsClients();
      const reader = new S3ArtifactReader(s3, env.BACKUP_BUCKET);
      return {
        ...tableStores(env),
        copier: new S3VersionCopier(s3, env.BACKUP_BUCKET),
        readManifest: async (pointer: ManifestPointer) => parseManifest(await reader.read(pointer.key, pointer.versionId)),
        kept: { weekly: env.WEEKLY_BACKUPS_KEPT, monthly: env.MONTHLY_BACKUPS_KEPT },
      };
    },
    event: { schema: task.event, what: 'Finalize input' },
    bind: ({ run }) => ({ runId: run.runId }),
  },
  async ({ run, manifest, validation }, { deps, log, metrics }): Promise<TaskResult<typeof task>> => {
    const summary = await finalizeRun(deps, run, manifest, validation);
    log[summary.failed ? 'error' : 'info'](
      { ...summary },
      summary.failed ? 'run kept its validated parts; others failed' : 'run succeeded',
    );
    // For the dashboard: what each validated run moved and how long it took.
    metrics.add(
      {
        BackupUploadedBytes: summary.uploadedBytes,
        BackupDurationSeconds: summary.durationSeconds,
        ArchiveFilesSkipped: summary.skippedFiles,
      },
      { BackupUploadedBytes: 'Bytes', BackupDurationSeconds: 'Seconds' },
    );
    return summary;
  },
);
