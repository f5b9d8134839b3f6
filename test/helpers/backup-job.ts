import { pino } from 'pino';
import { runBackupJob } from '../../connector/src/backup';
import type { BackupJob } from '../../protocol';

/** What runBackupJob takes besides the job. */
export type BackupJobDependencies = Parameters<typeof runBackupJob>[1];

/**
 * runBackupJob as a test runs it: connector version "test", a silent logger and no progress reports
 * unless deps give them. Resolves to the manifest pointer runBackupJob resolves to; rejects as it does.
 */
export function runQuietBackupJob(
  job: BackupJob,
  deps: Omit<BackupJobDependencies, 'connectorVersion' | 'logger' | 'report'> & Partial<BackupJobDependencies>,
): ReturnType<typeof runBackupJob> {
  return runBackupJob(job, { connectorVersion: 'test', logger: pino({ level: 'silent' }), report: () => undefined, ...deps });
}

/** A backup job for tenant "acme" into bucket "bkt" with placeholder credentials valid for `expiresInMs`. */
export function testBackupJob(runId: string, expiresInMs = 3600_000): BackupJob {
  return {
    type: 'backup-job',
    v: 1,
    runId,
    tenantId: 'acme',
    requestedAt: new Date().toISOString(),
    target: { bucket: 'bkt', region: 'us-east-1', forcePathStyle: false },
    credentials: { accessKeyId: 'a', secretAccessKey: 's', expiration: new Date(Date.now() + expiresInMs).toISOString() },
  };
}
