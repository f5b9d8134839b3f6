import { readFile, rm, stat, statfs, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import {
  type ArtifactFailure,
  type BackupJob,
  type BackupPhase,
  type DatabaseBackup,
  keyLayout,
  type Manifest,
  type ManifestPointer,
  SoBackupError,
} from '../../../protocol';
import type { ConnectorConfig } from '../config';
import { ConnectorError } from '../errors';
import { databaseFileName } from '../sql/database-name';
import type { BackupMetadata, DatabaseServer, ServerInfo } from '../sql/database-server';
import { SHUTDOWN } from '../store/s3-object-store';
import type { ObjectStore } from '../store/object-store';
import { writeManifest } from '../repository/manifests';
import { backupArchive } from './archive-backup';
import type { WindowProgress } from './archive-mirror';
import { assessDatabase } from './database-readiness';

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
  /** The clock the backup window is checked against, ms since the epoch (tests inject one). @default Date.now */
  now?: () => number;
  /** The upload limit in force, bytes per second (null: unlimited): with a window, it bounds the archive's files in flight. */
  uploadRate?: () => number | null;
}

const EXPRESS_EDITION = 4;

/**
 * One backup job: each configured database (its state checked, a COPY_ONLY backup to the
 * staging folder, verified, uploaded to the run's staging prefix), the archive mirror and its
 * snapshot, and last the manifest that names every artifact at its exact version. Each database
 * and the archive is its own artifact: one that fails is listed in the manifest's `failures`
 * with its reason and the others go on. Returns where the manifest is; throws only when nothing
 * could be backed up (or the job was stopped or cancelled).
 */
export async function runBackupJob(job: BackupJob, deps: BackupJobDeps): Promise<ManifestPointer> {
  const { config, store, logger } = deps;
  const startedAt = new Date().toISOString();
  deps.report({ phase: 'starting' });
  const databases: DatabaseBackup[] = [];
  const failures: ArtifactFailure[] = [];
  const failed = (kind: ArtifactFailure['kind'], name: string, error: unknown) => {
    // A stop or a cancel ends the whole job; it is no artifact's failure.
    if (deps.signal?.aborted) throw error;
    const code = error instanceof SoBackupError ? error.code : 'CONNECTOR_ERROR';
    const message = (error instanceof Error ? error.message : String(error)).slice(0, 4000);
    failures.push({ kind, name, error: { code, message } });
    logger.error({ artifact: kind, name, code, err: message }, `${kind} ${name} could not be backed up; going on with the rest`);
  };

  if (config.sql && deps.databaseServer) {
    const server = deps.databaseServer;
    let info: ServerInfo | undefined;
    try {
      info = await server.describe();
    } catch (error) {
      for (const database of config.sql.databases) failed('database', database, error);
    }
    if (info) {
      const settings = { compression: config.sql.compression && info.engineEdition !== EXPRESS_EDITION };
      logger.info({ edition: info.edition, version: info.productVersion, compression: settings.compression }, 'SQL Server');
      for (const database of config.sql.databases) {
        deps.signal?.throwIfAborted();
        try {
          databases.push(await backupDatabase(job, database, info, settings, deps));
        } catch (error) {
          failed('database', database, error);
        }
      }
    }
  }

  let archive: Manifest['archive'];
  if (config.archive) {
    deps.signal?.throwIfAborted();
    // The databases above are backed up in full whatever the window; only the archive stops
    // sending at the window's end (between files) and goes on from there the next night.
    const windowEndsAt = job.windowEndsAt === undefined ? undefined : new Date(job.windowEndsAt);
    if (windowEndsAt && windowEndsAt.getTime() > (deps.now ?? Date.now)())
      logger.info({ windowEndsAt: job.windowEndsAt }, 'backup window: the archive starts no new file after its end');
    else if (windowEndsAt)
      logger.warn(
        { windowEndsAt: job.windowEndsAt },
        'the backup window ended before the archive began: it is scanned, nothing new is sent, and what is left is reported as pending',
      );
    try {
      archive = await backupArchive(job, config.archive.roots, {
        store,
        stateDir: config.stateDir,
        logger,
        signal: deps.signal,
        windowEndsAt,
        now: deps.now,
        uploadRate: deps.uploadRate,
        onProgress: (done, uploadedBytes, window) =>
          deps.report({ phase: 'archive', bytesDone: uploadedBytes, detail: archiveDetail(done, window) }),
      });
    } catch (error) {
      failed('archive', config.archive.roots.map((root) => root.name).join(', '), error);
    }
  }
  if (databases.length === 0 && archive === undefined) throw nothingBackedUp(failures);

  deps.report({ phase: 'manifest' });
  const manifest: Manifest = {
    kind: 'so-backup-manifest',
    v: 1,
    runId: job.runId,
    tenantId: job.tenantId,
    connectorVersion: deps.connectorVersion,
    startedAt,
    finishedAt: new Date().toISOString(),
    databases,
    archive,
    failures,
  };
  const stored = await writeManifest(store, manifest);
  return { key: stored.key, versionId: stored.versionId };
}

/**
 * The archive's progress line: files checked or sent; once the backup window has ended, that it
 * is finishing the files in flight, then that it scans the rest without sending it.
 */
export function archiveDetail(done: number, window?: WindowProgress): string {
  if (!window?.ended) return `${done} files checked or sent`;
  if (window.inFlight > 0) return `window ended: finishing ${window.inFlight} file(s) in flight`;
  return `window ended: nothing more is sent; ${window.pendingFiles} file(s) left for the next run so far`;
}

/** The job's error when no artifact could be backed up: the one failure as it was, or all of them named. */
function nothingBackedUp(failures: ArtifactFailure[]): ConnectorError {
  const [first] = failures;
  if (!first) return new ConnectorError('NOTHING_CONFIGURED', 'nothing to back up: the configuration names no database and no archive');
  if (failures.length === 1) return new ConnectorError(first.error.code, first.error.message);
  return new ConnectorError(
    first.error.code,
    `nothing could be backed up: ${failures.map((f) => `${f.kind} ${f.name}: ${f.error.code}: ${f.error.message}`).join(' | ')}`.slice(
      0,
      4000,
    ),
  );
}

/**
 * One database: its state is read first (offline, restoring, AG secondary, TDE …), then BACKUP
 * to a staging file, RESTORE VERIFYONLY, SQL Server's record of the backup, and the upload to
 * the run's staging key. A verified staging file of this run that a stop or crash left behind
 * is reused instead of running BACKUP again.
 */
async function backupDatabase(
  job: BackupJob,
  configured: string,
  info: ServerInfo,
  settings: { compression: boolean },
  deps: BackupJobDeps,
): Promise<DatabaseBackup> {
  const { config, store, logger } = deps;
  const server = deps.databaseServer!;
  const sqlConfig = config.sql!;
  const state = await server.databaseState(configured);
  const readiness = assessDatabase(configured, state, info.serverName);
  // The name as SQL Server has it (its default collations ignore case): what the backup file,
  // msdb and the validator will say, and what the backup is kept under.
  const database = state!.name;
  if (database !== configured)
    logger.info({ configured, database }, "the configuration names the database in another case; using SQL Server's own name");
  for (const note of readiness.notes) logger.info({ database }, note);
  for (const warning of readiness.warnings) logger.warn({ database }, warning);
  const file = path.join(sqlConfig.stagingFolder, `${databaseFileName(database)}-${job.runId}.bak`);
  const marker = `${file}.verified.json`;
  try {
    let metadata = await readVerifiedMarker(file, marker);
    if (metadata) {
      logger.info({ database, file }, 'reusing the verified staging file of the interrupted run');
    } else {
      // An uncompressed backup is at most the allocated size; refuse early rather than fail at 90 %.
      const needed = await server.allocatedBytes(database);
      const space = await statfs(sqlConfig.stagingFolder);
      if (space.bavail * space.bsize < needed) {
        throw new ConnectorError(
          'STAGING_TOO_SMALL',
          `the staging folder ${sqlConfig.stagingFolder} has ${((space.bavail * space.bsize) / 1024 ** 3).toFixed(1)} GiB free; backing up "${database}" needs up to ${(needed / 1024 ** 3).toFixed(1)} GiB. Free space or point sql.stagingFolder at a larger disk.`,
          { permanent: true },
        );
      }
      const backup = (withCompression: boolean) =>
        server.backupDatabase({
          database,
          file,
          compression: withCompression,
          signal: deps.signal,
          onProgress: (percent) => deps.report({ phase: 'database', percent, detail: database }),
        });
      try {
        await backup(settings.compression);
      } catch (error) {
        if (error instanceof ConnectorError && error.code === 'SQL_BACKUP_FOLDER_DENIED') {
          const account = await server.serviceAccount();
          throw new ConnectorError(
            error.code,
            account
              ? error.message.replace(
                  'The SQL Server service account cannot write the staging folder',
                  `The SQL Server service account "${account}" cannot write to ${sqlConfig.stagingFolder}`,
                )
              : error.message,
            { cause: error, permanent: true },
          );
        }
        if (!(error instanceof ConnectorError && error.code === 'SQL_COMPRESSION_UNSUPPORTED')) throw error;
        logger.warn('this edition cannot compress backups; backing up without compression');
        settings.compression = false;
        await backup(false);
      }
      // Never upload a backup SQL Server cannot read back.
      deps.report({ phase: 'database', percent: 100, detail: `verifying ${database}` });
      await server.verifyBackup(file);
      metadata = await server.backupMetadata(file);
      if (!metadata.isCopyOnly || !metadata.hasChecksums || metadata.databaseName !== database) {
        throw new ConnectorError(
          'BACKUP_UNEXPECTED',
          `SQL Server recorded ${file} as a backup of "${metadata.databaseName}" (copy-only: ${metadata.isCopyOnly}, checksums: ${metadata.hasChecksums}); expected a copy-only backup with checksums of "${database}"`,
        );
      }
      await writeVerifiedMarker(file, marker, metadata);
    }
    const artifact = await store.putFile(keyLayout.stagedDatabaseBackup(job.tenantId, job.runId, database), file, {
      signal: deps.signal,
      onProgress: (bytesDone) => deps.report({ phase: 'upload', bytesDone, detail: database }),
    });
    logger.info({ database, bytes: artifact.size, versionId: artifact.versionId }, 'database backed up');
    return {
      database,
      artifact,
      startedAt: metadata.startedAt,
      finishedAt: metadata.finishedAt,
      copyOnly: true,
      checksums: true,
      compressed: metadata.compressed,
      edition: info.edition,
      serverVersion: info.productVersion,
      header: {
        serverName: metadata.serverName,
        firstLsn: metadata.firstLsn,
        lastLsn: metadata.lastLsn,
        backupSize: metadata.backupSize,
        verified: true,
      },
      ...(readiness.tde ? { tde: readiness.tde } : {}),
      notes: readiness.notes,
      warnings: readiness.warnings,
    };
  } finally {
    // Kept only when a service stop interrupted the job: the next start resumes from it.
    if (!(deps.signal?.aborted && deps.signal.reason === SHUTDOWN)) {
      await rm(file, { force: true });
      await rm(marker, { force: true });
    }
  }
}

/** The marker written beside a staging file once SQL Server verified it: its record, and the file as it was then. */
const verifiedMarkerSchema = z.object({
  size: z.number().int().nonnegative(),
  mtimeMs: z.number(),
  metadata: z.object({
    databaseName: z.string(),
    serverName: z.string(),
    firstLsn: z.string(),
    lastLsn: z.string(),
    startedAt: z.string(),
    finishedAt: z.string(),
    isCopyOnly: z.boolean(),
    hasChecksums: z.boolean(),
    compressed: z.boolean(),
    backupSize: z.number(),
    softwareVersion: z.string(),
  }),
});

/** SQL Server's record of the staging file, if it was verified and has not changed since; else undefined (back up again). */
async function readVerifiedMarker(file: string, marker: string): Promise<BackupMetadata | undefined> {
  try {
    const parsed = verifiedMarkerSchema.safeParse(JSON.parse(await readFile(marker, 'utf8')));
    const now = await stat(file);
    return parsed.success && parsed.data.size === now.size && parsed.data.mtimeMs === now.mtimeMs ? parsed.data.metadata : undefined;
  } catch {
    return undefined;
  }
}

async function writeVerifiedMarker(file: string, marker: string, metadata: BackupMetadata): Promise<void> {
  const { size, mtimeMs } = await stat(file);
  await writeFile(marker, JSON.stringify({ size, mtimeMs, metadata } satisfies z.infer<typeof verifiedMarkerSchema>));
}
