import { z } from 'zod';
import { backupRun, type TaskResult } from '../../../core/workflow';
import { defineHandler, tableStores } from '../handler';
import { awsClients, tableEnvironmentSchema } from '../shared';
import { restorableManifest, RunError } from '../../../core';
import { S3ArtifactReader } from './artifact-reader';
import { loadPreviousSnapshot, validateRun } from './validate-run';

const task = backupRun.tasks.validate;

/**
 * Validate: stores the report with the run (each artifact's verdict, and what the connector
 * could not back up); fails the state, naming every problem, only when nothing can be kept.
 */
export const handler = defineHandler(
  {
    name: 'validate-run',
    environment: tableEnvironmentSchema.extend({ BACKUP_BUCKET: z.string().min(3) }),
    setup: (env) => ({
      ...tableStores(env),
      reader: new S3ArtifactReader(awsClients().s3, env.BACKUP_BUCKET),
    }),
    event: { schema: task.event, what: 'Validate input' },
    bind: ({ run }) => ({ runId: run.runId }),
  },
  async ({ run, manifest }, { deps: { runs, tenants, reader }, log }): Promise<TaskResult<typeof task>> => {
    // The tenant's last validated run: its snapshot is what this one is compared with.
    const lastRunId = (await tenants.get(run.tenantId))?.lastRunId;
    const last = lastRunId && lastRunId !== run.runId ? await runs.get(lastRunId) : undefined;
    const lastManifest = last && restorableManifest(last);
    const previous = last && lastManifest ? await loadPreviousSnapshot(reader, last.runId, lastManifest) : undefined;
    const report = await validateRun(reader, run, manifest, new Date(), previous);
    await runs.update(run.runId, {
      validation: {
        ok: report.ok,
        checkedAt: new Date().toISOString(),
        checks: report.checks,
        problems: report.problems.slice(0, 50),
        artifacts: report.artifacts.map((a) => ({
          kind: a.kind,
          name: a.name,
          ok: a.ok,
          problems: a.problems.slice(0, 10),
          ...(a.checked ? { checked: a.checked } : {}),
        })),
      },
      failures: report.failures,
    });
    log.info(
      {
        ok: report.ok,
        promotable: report.promotable,
        checks: report.checks,
        problems: report.problems.length,
        failures: report.failures.length,
        archive: report.archive,
      },
      'run validated',
    );
    if (!report.promotable) {
      const failed = report.failures.map((f) => `${f.kind} ${f.name}: ${f.error.code}: ${f.error.message}`);
      throw new RunError(
        'ValidationFailed',
        [`${report.problems.length} problem(s): ${report.problems.slice(0, 10).join('; ')}`, ...failed].join(' | '),
      );
    }
    return { ...report, promotable: true };
  },
);
