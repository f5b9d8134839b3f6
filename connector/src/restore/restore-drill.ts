import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, statfs } from 'node:fs/promises';
import path from 'node:path';
import { type DrillJob, type DrillResult, PROTOCOL_VERSION } from '../../../protocol';
import type { DatabaseServer } from '../sql/database-server';
import type { ObjectStore } from '../store/object-store';
import { materializeSnapshot } from './materialize-snapshot';
import { readManifest } from '../repository/manifests';
import { readRunSnapshot } from '../repository/snapshots';
import { restoreRun } from './restore-run';

export interface DrillDeps {
  store: Pick<ObjectStore, 'getVersion'>;
  databaseServer?: DatabaseServer;
  /** Where the .bak is downloaded and where the scratch folder for sampled files goes. */
  stagingFolder: string;
  /** Free bytes on the disk holding `folder` (injected for tests). */
  freeBytes?(folder: string): Promise<number>;
}

/**
 * A restore drill, as Test-DbaLastBackup does it: the run's database backup restored under a
 * scratch name, DBCC CHECKDB, then dropped whatever happened; a random sample of archive files
 * downloaded and checked against their SHA-256. The database part is skipped (and said so) when
 * the disk lacks room for the download and the restored files.
 */
export async function runRestoreDrill(job: DrillJob, deps: DrillDeps, now = () => new Date()): Promise<DrillResult> {
  const startedAt = now().toISOString();
  const result: DrillResult = {
    type: 'drill-result',
    v: PROTOCOL_VERSION,
    drillId: job.drillId,
    runId: job.runId,
    ok: true,
    startedAt,
    finishedAt: startedAt,
  };
  await mkdir(deps.stagingFolder, { recursive: true });
  const manifest = await readManifest(deps.store, job.manifest);
  const grant = { runId: job.runId, startedAt: job.startedAt, manifest: job.manifest };

  // The database the cloud chose (it rotates through them), or the first for an older cloud.
  const backup = job.databaseName === undefined ? manifest.databases[0] : manifest.databases.find((db) => db.database === job.databaseName);
  if (job.database && job.databaseName !== undefined && !backup) {
    result.ok = false;
    result.database = {
      name: job.databaseName,
      status: 'failed',
      detail: `the run's manifest names no database "${job.databaseName}"`,
      seconds: 0,
    };
  } else if (job.database && backup) {
    const started = Date.now();
    const seconds = () => (Date.now() - started) / 1000;
    const free = await (deps.freeBytes ?? freeBytesOn)(deps.stagingFolder);
    // The download, and the restored files (about the backup's size again, more for a compressed one).
    const needed = backup.artifact.size * (backup.compressed ? 4 : 2);
    if (!deps.databaseServer) {
      result.database = { name: backup.database, status: 'skipped', detail: 'no SQL Server configured', seconds: 0 };
    } else if (free < needed) {
      result.database = {
        name: backup.database,
        status: 'skipped',
        detail: `not enough space in ${deps.stagingFolder}: ${free} bytes free, about ${needed} needed`,
        seconds: 0,
      };
    } else {
      const scratch = `so_backup_drill_${randomBytes(4).toString('hex')}`;
      let restored = false;
      try {
        await restoreRun(
          { store: deps.store, databaseServer: deps.databaseServer, grant, progress: () => undefined },
          { databaseName: scratch, sourceDatabase: backup.database, stagingFolder: deps.stagingFolder, liveRoots: [] },
        );
        restored = true;
        await deps.databaseServer.checkDatabase(scratch);
        result.database = {
          name: backup.database,
          status: 'checked',
          detail: `${backup.database} restored as ${scratch} and DBCC CHECKDB found no errors`,
          seconds: seconds(),
        };
      } catch (error) {
        result.ok = false;
        result.database = { name: backup.database, status: 'failed', detail: (error as Error).message.slice(0, 2000), seconds: seconds() };
      } finally {
        if (restored) await deps.databaseServer.dropDatabase(scratch).catch(() => undefined);
        // A drill leaves nothing behind, not even a download kept for resuming.
        for (const name of await readdir(deps.stagingFolder)) {
          if (name.startsWith(`restore-${job.runId}-`)) await rm(path.join(deps.stagingFolder, name), { force: true });
        }
      }
    }
  }

  if (job.sampleFiles > 0 && manifest.archive) {
    const scratch = await mkdtemp(path.join(deps.stagingFolder, 'so-backup-drill-'));
    let sample: Set<string> = new Set();
    try {
      const snapshot = await readRunSnapshot(deps.store, manifest);
      sample = new Set(
        pick(
          snapshot.files.map((f) => f.key),
          job.sampleFiles,
        ),
      );
      const done = await materializeSnapshot(snapshot.files, deps.store, scratch, { filter: (f) => sample.has(f.key) });
      result.archive = { sampled: sample.size, verified: done.files };
      if (done.failed.length > 0) {
        result.ok = false;
        result.archive.detail = done.failed
          .slice(0, 5)
          .map((f) => `${f.path}: ${f.reason}`)
          .join('; ')
          .slice(0, 2000);
      }
    } catch (error) {
      result.ok = false;
      result.archive = { sampled: sample.size, verified: 0, detail: (error as Error).message.slice(0, 2000) };
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }
  result.finishedAt = now().toISOString();
  return result;
}

/** Up to `count` distinct items, chosen at random. */
function pick<T>(items: readonly T[], count: number): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy.slice(0, count);
}

async function freeBytesOn(folder: string): Promise<number> {
  const facts = await statfs(folder);
  return facts.bavail * facts.bsize;
}
