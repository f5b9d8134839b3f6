import { readFile, rm, statfs, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import {
  type BackupJob, type BackupPhase, type DatabaseBackup, keyLayout, type Manifest, type ManifestPointer,
} from '../../../protocol';
import type { ConnectorConfig } from '../config';
import { ConnectorError } from '../errors';
import type { BackupMetadata, DatabaseServer } from '../sql/database-server';
import { SHUTDOWN } from '../store/s3-object-store';
import type { ObjectStore } from '../store/object-store';
import { backupArchive } from './archive-backup';

export interface JobProgress {
  phase: BackupPhase;
  percent?: number;
  bytesDone?: number;
  detail?: string;
}

export interface BackupJobDeps {
  config: ConnectorConfig;
  connectorVersion: string;
  /** Present when SQL Server is configured. */
  databaseServer?: DatabaseServer;
  /** The store for this job's target and credentials. */
  store: ObjectStore;
  logger: Logger;
  report(progress: JobProgress): void;
  signal?: AbortSignal;
}

const EXPRESS_EDITION = 4;

/**
 * One backup job, in order: each configured database (COPY_ONLY backup to the staging folder,
 * then upload), the archive mirror and its snapshot, and last the manifest that names every
 * artifact at its exact version. Returns where the manifest is.
 */
export async function runBackupJob(job: BackupJob, deps: BackupJobDeps): Promise<ManifestPointer> {
  const { config, store, logger } = deps;
  const startedAt = new Date().toISOString();
  deps.report({ phase: 'starting' });
  const databases: DatabaseBackup[] = [];

  if (config.sql && deps.databaseServer) {
    const server = deps.databaseServer;
    const info = await server.describe();
    let compression = config.sql.compression && info.engineEdition !== EXPRESS_EDITION;
    logger.info({ edition: info.edition, version: info.productVersion, compression }, 'SQL Server');
    for (const database of config.sql.databases) {
      deps.signal?.throwIfAborted();
      if (!(await server.databaseExists(database))) {
        throw new ConnectorError('SQL_DATABASE_MISSING', `database "${database}" does not exist on ${info.serverName}; check sql.databases in the connector configuration`, { permanent: true });
      }
      const file = path.join(config.sql.stagingFolder, `${database}-${job.runId}.bak`);
      try {
        const marker = `${file}.verified.json`;
        let metadata = await readVerifiedMarker(marker);
        if (metadata) {
          logger.info({ database, file }, 'reusing the verified staging file of the interrupted run');
        } else {
          // An uncompressed backup is at most the allocated size; refuse early rather than fail at 90 %.
          const needed = await server.allocatedBytes(database);
          const space = await statfs(config.sql.stagingFolder);
          if (space.bavail * space.bsize < needed) {
            throw new ConnectorError('STAGING_TOO_SMALL', `the staging folder ${config.sql.stagingFolder} has ${(space.bavail * space.bsize / 1024 ** 3).toFixed(1)} GiB free; backing up "${database}" needs up to ${(needed / 1024 ** 3).toFixed(1)} GiB. Free space or point sql.stagingFolder at a larger disk.`, { permanent: true });
          }
          const backup = (withCompression: boolean) => server.backupDatabase({
            database, file, compression: withCompression, signal: deps.signal,
            onProgress: (percent) => deps.report({ phase: 'database', percent, detail: database }),
          });
          try {
            await backup(compression);
          } catch (error) {
            if (error instanceof ConnectorError && error.code === 'SQL_BACKUP_FOLDER_DENIED') {
              const account = await server.serviceAccount();
              throw new ConnectorError(error.code, account
                ? error.message.replace('The SQL Server service account cannot write the staging folder', `The SQL Server service account "${account}" cannot write to ${config.sql.stagingFolder}`)
                : error.message, { cause: error, permanent: true });
            }
            if (!(error instanceof ConnectorError && error.code === 'SQL_COMPRESSION_UNSUPPORTED')) throw error;
            logger.warn('this edition cannot compress backups; backing up without compression');
            compression = false;
            await backup(false);
          }
          // Never upload a backup SQL Server cannot read back.
          deps.report({ phase: 'database', percent: 100, detail: `verifying ${database}` });
          await server.verifyBackup(file);
          metadata = await server.backupMetadata(file);
          if (!metadata.isCopyOnly || !metadata.hasChecksums || metadata.databaseName !== database) {
            throw new ConnectorError('BACKUP_UNEXPECTED', `SQL Server recorded ${file} as a backup of "${metadata.databaseName}" (copy-only: ${metadata.isCopyOnly}, checksums: ${metadata.hasChecksums}); expected a copy-only backup with checksums of "${database}"`);
          }
          await writeFile(marker, JSON.stringify(metadata));
        }
        const artifact = await store.putFile(keyLayout.databaseBackup(job.tenantId, database), file, {
          signal: deps.signal,
          onProgress: (bytesDone) => deps.report({ phase: 'upload', bytesDone, detail: database }),
        });
        databases.push({
          database, artifact, startedAt: metadata.startedAt, finishedAt: metadata.finishedAt, copyOnly: true, checksums: true, compressed: metadata.compressed,
          edition: info.edition, serverVersion: info.productVersion,
          header: { serverName: metadata.serverName, firstLsn: metadata.firstLsn, lastLsn: metadata.lastLsn, backupSize: metadata.backupSize, verified: true },
        });
        logger.info({ database, bytes: artifact.size, versionId: artifact.versionId }, 'database backed up');
      } finally {
        // Kept only when a service stop interrupted the job: the next start resumes from it.
        if (!(deps.signal?.aborted && deps.signal.reason === SHUTDOWN)) {
          await rm(file, { force: true });
          await rm(`${file}.verified.json`, { force: true });
        }
      }
    }
  }

  let archive: Manifest['archive'];
  if (config.archive) {
    deps.signal?.throwIfAborted();
    archive = await backupArchive(job, config.archive.roots, {
      store, stateDir: config.stateDir, logger, signal: deps.signal,
      onProgress: (done, uploadedBytes) => deps.report({ phase: 'archive', bytesDone: uploadedBytes, detail: `${done} files checked or sent` }),
    });
  }

  deps.report({ phase: 'manifest' });
  const manifest: Manifest = {
    kind: 'so-backup-manifest', v: 1, runId: job.runId, tenantId: job.tenantId, connectorVersion: deps.connectorVersion,
    startedAt, finishedAt: new Date().toISOString(), databases, archive,
  };
  const stored = await store.putBuffer(keyLayout.manifest(job.tenantId), Buffer.from(JSON.stringify(manifest, null, 2)), 'application/json');
  return { key: stored.key, versionId: stored.versionId };
}

async function readVerifiedMarker(marker: string): Promise<BackupMetadata | undefined> {
  try {
    return JSON.parse(await readFile(marker, 'utf8')) as BackupMetadata;
  } catch {
    return undefined;
  }
}
