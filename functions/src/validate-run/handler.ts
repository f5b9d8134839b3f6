import { z } from 'zod';
import { manifestPointerSchema } from '../../../protocol';
import { awsClients, logger, parseEvent, readEnvironment, RunError, RunStore, runRefSchema, tableEnvironmentSchema } from '../shared';
import { S3ArtifactReader } from './artifact-reader';
import { type ValidationReport, validateRun } from './validate-run';

const env = readEnvironment(tableEnvironmentSchema.extend({ BACKUP_BUCKET: z.string().min(3) }));
const runs = new RunStore(awsClients().dynamo, env.RUNS_TABLE);
const reader = new S3ArtifactReader(awsClients().s3, env.BACKUP_BUCKET);
const eventSchema = z.object({ run: runRefSchema, manifest: manifestPointerSchema });

/** Validate: stores the report with the run; fails the state with every problem named. */
export async function handler(event: unknown): Promise<ValidationReport> {
  const { run, manifest } = parseEvent(eventSchema, event, 'Validate input');
  const report = await validateRun(reader, run, manifest);
  await runs.update(run.runId, { validation: { ok: report.ok, checkedAt: new Date().toISOString(), checks: report.checks, problems: report.problems.slice(0, 50) } });
  logger.info({ runId: run.runId, ok: report.ok, checks: report.checks, problems: report.problems.length }, 'run validated');
  if (!report.ok) throw new RunError('ValidationFailed', `${report.problems.length} problem(s): ${report.problems.slice(0, 10).join('; ')}`);
  return report;
}
