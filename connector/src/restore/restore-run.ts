import { createHash } from 'node:crypto';
import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { type ArchiveSnapshot, type Manifest, manifestSchema, type RestoreGrant, type SnapshotFile } from '../../../protocol';
import { ConnectorError } from '../errors';
import type { DatabaseServer } from '../sql/database-server';
import { checkDatabaseName, databaseFileName } from '../sql/database-name';
import { type ObjectStore, readObject } from '../store/object-store';
import { parseSnapshot } from '../backup/snapshot-codec';
import { downloadArtifact } from './download-artifact';
import { type MaterializeResult, materializeSnapshot } from './materialize-snapshot';
import { canonicalPath, defaultSemantics, type NameSemantics, overlaps } from './target-paths';

export interface RestoreChoices {
  /** Restore the database backup under this (new) name. */
  databaseName?: string;
  /** Which database of the run, when it backed up more than one. */
  sourceDatabase?: string;
  /** Overwrite an existing database of that name (the CLI asks for confirmation first). */
  replace?: boolean;
  /** Folders for the new data and log files. @default the instance's default folders */
  dataFolder?: string;
  logFolder?: string;
  /** Where the .bak is downloaded to; SQL Server must be able to read it there. */
  stagingFolder?: string;
  /** Materialize the archive (or one file of it) into this folder, as `<root>/<path>`. */
  archiveTo?: string;
  /** Only this archive file ("<root>/<path>" or "<path>"). */
  file?: string;
  /** The configured SO_ARC roots: the archive is never written into them unless `intoLive`. */
  liveRoots: Array<{ name: string; path: string }>;
  /** Put the files back into the live roots they came from (each root into its configured folder), replacing files of the same name. */
  intoLive?: boolean;
  /** How paths on this server compare (case on Windows). @default this platform's */
  semantics?: NameSemantics;
}

export interface RestoreDeps {
  store: Pick<ObjectStore, 'getVersion'>;
  databaseServer?: DatabaseServer;
  grant: Pick<RestoreGrant, 'runId' | 'startedAt' | 'manifest'>;
  progress(phase: string, percent?: number): void;
}

export interface RestoreSummary {
  runId: string;
  startedAt: string;
  database?: { source: string; restoredAs: string; bytes: number; files: Array<{ logicalName: string; to: string }> };
  /** What was restored of the archive, and where: the folder, or with --into-live the live roots. */
  archive?: MaterializeResult & { folder: string };
}

/** Checks what can be checked before anything is downloaded: names, the target folder, live SO_ARC. */
export async function checkRestoreChoices(choices: RestoreChoices): Promise<void> {
  if (!choices.databaseName && !choices.archiveTo && !choices.intoLive) {
    throw new ConnectorError('RESTORE_NOTHING', 'say what to restore: --database-name NEW for the database, --archive-to DIR for the archive (or one --file of it), or both', { permanent: true });
  }
  if (choices.file && !choices.archiveTo && !choices.intoLive) throw new ConnectorError('RESTORE_NOTHING', '--file needs --archive-to DIR: the folder the file is restored into', { permanent: true });
  if (choices.databaseName) checkDatabaseName(choices.databaseName);
  if (choices.intoLive) {
    if (choices.archiveTo) throw new ConnectorError('RESTORE_ARGUMENTS', '--into-live puts every file back into the live root it came from (each configured archive root): leave out --archive-to', { permanent: true });
    if (choices.liveRoots.length === 0) throw new ConnectorError('RESTORE_ARGUMENTS', '--into-live needs the archive roots in the configuration ("archive.roots")', { permanent: true });
  }
  if (choices.archiveTo) {
    const semantics = choices.semantics ?? defaultSemantics();
    const target = semantics.platform === 'win32' ? path.win32.resolve(choices.archiveTo) : path.posix.resolve(choices.archiveTo);
    // Compared as this file system compares paths (case on Windows), and also as it resolves
    // them (links, junctions, 8.3 names, mapped drives), when the paths are this server's own.
    const forms = (p: string) => (semantics.platform === (process.platform === 'win32' ? 'win32' : 'posix') ? [p, canonicalPath(p)] : [p]);
    const live = choices.liveRoots.find((root) => forms(target).some((t) => forms(root.path).some((r) => overlaps(t, r, semantics))));
    if (live) {
      throw new ConnectorError('RESTORE_INTO_LIVE_ARCHIVE', `${target} is, holds or lies inside the live archive ${live.name} (${live.path}): restore into another folder and copy what you need, or put files back into the live archive with --into-live (without --archive-to), which asks you to confirm`, { permanent: true });
    }
    const existing = await readdir(target).catch(() => []);
    if (existing.length > 0) {
      throw new ConnectorError('RESTORE_FOLDER_NOT_EMPTY', `${target} is not empty: restore into a new or empty folder so that nothing is overwritten or mixed`, { permanent: true });
    }
  }
}

/**
 * Restores a validated run: the manifest at its exact version, then the database backup
 * (downloaded and verified, then RESTORE DATABASE under a new name with MOVE to new files) and
 * the archive snapshot (every file at its exact version, verified). Never over an existing
 * database without `replace`.
 */
export async function restoreRun(deps: RestoreDeps, choices: RestoreChoices): Promise<RestoreSummary> {
  await checkRestoreChoices(choices);
  const manifest = await readManifest(deps.store, deps.grant.manifest);
  const summary: RestoreSummary = { runId: deps.grant.runId, startedAt: deps.grant.startedAt };
  if (choices.databaseName) summary.database = await restoreDatabase(deps, manifest, choices, choices.databaseName);
  if (choices.archiveTo || choices.intoLive) summary.archive = await restoreArchive(deps, manifest, choices);
  return summary;
}

async function restoreDatabase(deps: RestoreDeps, manifest: Manifest, choices: RestoreChoices, target: string): Promise<NonNullable<RestoreSummary['database']>> {
  const server = deps.databaseServer;
  if (!server) throw new ConnectorError('RESTORE_NO_SQL', 'the connector configuration has no "sql" section: add the SQL Server connection string to restore databases', { permanent: true });
  const candidates = choices.sourceDatabase ? manifest.databases.filter((d) => d.database === choices.sourceDatabase) : manifest.databases;
  if (candidates.length !== 1) {
    const names = manifest.databases.map((d) => d.database).join(', ') || 'none';
    throw new ConnectorError('RESTORE_WHICH_DATABASE', choices.sourceDatabase
      ? `run ${manifest.runId} has no backup of "${choices.sourceDatabase}" (it has: ${names})`
      : `run ${manifest.runId} backed up ${names}: choose one with --source-database`, { permanent: true });
  }
  const backup = candidates[0]!;
  if ((await server.databaseExists(target)) && !choices.replace) {
    throw new ConnectorError('RESTORE_TARGET_EXISTS', `database "${target}" exists: restore under a new name with --database-name, or overwrite it with --replace (asks for confirmation)`, { permanent: true });
  }
  if (!choices.stagingFolder) throw new ConnectorError('RESTORE_NO_STAGING', 'no staging folder: set sql.stagingFolder in the configuration or give --staging DIR (SQL Server must be able to read it)', { permanent: true });
  await mkdir(choices.stagingFolder, { recursive: true });
  const file = path.join(choices.stagingFolder, stagingName(manifest.runId, backup.database));
  deps.progress(`downloading ${backup.database}`, 0);
  await downloadArtifact(deps.store, backup.artifact, file, { onProgress: (done, total) => deps.progress(`downloading ${backup.database}`, (done / total) * 100) });
  const files = await server.backupFiles(file);
  const defaults = await server.defaultFolders();
  const dataFolder = choices.dataFolder ?? defaults.data;
  const logFolder = choices.logFolder ?? defaults.log ?? dataFolder;
  if (!dataFolder || !logFolder) throw new ConnectorError('RESTORE_NO_FOLDER', 'SQL Server reports no default data/log folder: give --data-folder and --log-folder', { permanent: true });
  const moves = newFileNames(files, target, dataFolder, logFolder);
  deps.progress(`restoring ${target}`, 0);
  await server.restoreDatabase({ database: target, file, moves, replace: choices.replace === true, onProgress: (percent) => deps.progress(`restoring ${target}`, percent) });
  await rm(file, { force: true });
  return { source: backup.database, restoredAs: target, bytes: backup.artifact.size, files: moves };
}

/**
 * New physical names for each logical file: `<db>.mdf` for the first data file, `<db>_<n>.ndf`
 * for more, `<db>_log.ldf` for the log, in the folder's own path style (Windows or POSIX); a
 * database name a file name cannot hold is made safe (databaseFileName).
 */
export function newFileNames(files: Array<{ logicalName: string; type: string }>, databaseName: string, dataFolder: string, logFolder: string): Array<{ logicalName: string; to: string }> {
  const join = (folder: string, name: string) => (folder.includes('\\') ? path.win32.join(folder, name) : path.posix.join(folder, name));
  const database = databaseFileName(databaseName);
  let data = 0;
  let logs = 0;
  return files.map((file) => {
    if (file.type === 'L') {
      logs++;
      return { logicalName: file.logicalName, to: join(logFolder, `${database}_log${logs > 1 ? `_${logs}` : ''}.ldf`) };
    }
    data++;
    return { logicalName: file.logicalName, to: join(dataFolder, data === 1 ? `${database}.mdf` : `${database}_${data}.ndf`) };
  });
}

/**
 * The downloaded .bak's name in the staging folder: `restore-<run>-<database>.bak`, or with the
 * database name's SHA-256 when that would make a name (with ".partial.json") over 255 bytes.
 */
export function stagingName(runId: string, database: string): string {
  const plain = `restore-${runId}-${databaseFileName(database)}.bak`;
  if (Buffer.byteLength(`${plain}.partial.json`) <= 255) return plain;
  return `restore-${runId}-${createHash('sha256').update(database).digest('hex').slice(0, 16)}.bak`;
}

async function restoreArchive(deps: RestoreDeps, manifest: Manifest, choices: RestoreChoices): Promise<NonNullable<RestoreSummary['archive']>> {
  if (!manifest.archive) throw new ConnectorError('RESTORE_NO_ARCHIVE', `run ${manifest.runId} has no archive`, { permanent: true });
  deps.progress('reading the archive snapshot');
  const snapshot = await readRunSnapshot(deps.store, manifest);
  const wanted = choices.file?.replace(/\\/g, '/').replace(/^\/+/, '');
  const matches = (f: SnapshotFile) => !wanted || `${f.root}/${f.path}` === wanted || f.path === wanted;
  if (wanted && !snapshot.files.some(matches)) {
    throw new ConnectorError('RESTORE_FILE_NOT_IN_RUN', `"${choices.file}" is not in run ${manifest.runId}'s archive (give "<root>/<path>" or the path inside the root, as in the archive)`, { permanent: true });
  }
  let rootFolder: ((root: string) => string) | undefined;
  if (choices.intoLive) {
    const roots = new Set([...snapshot.files.filter(matches).map((f) => f.root), ...(wanted ? [] : [...snapshot.links, ...snapshot.emptyFolders].map((e) => e.root))]);
    const missing = [...roots].filter((root) => !choices.liveRoots.some((live) => live.name === root));
    if (missing.length > 0) {
      throw new ConnectorError('RESTORE_ARGUMENTS', `run ${manifest.runId} has archive root(s) ${missing.join(', ')} that this configuration does not have: restore them with --archive-to DIR instead`, { permanent: true });
    }
    rootFolder = (root) => choices.liveRoots.find((live) => live.name === root)!.path;
  }
  const folder = choices.archiveTo ?? '';
  if (choices.archiveTo) await mkdir(choices.archiveTo, { recursive: true });
  let done = 0;
  const total = snapshot.files.filter(matches).length;
  const result = await materializeSnapshot(snapshot.files, deps.store, folder || '.', {
    filter: wanted ? matches : undefined,
    emptyFolders: snapshot.emptyFolders,
    links: snapshot.links,
    folders: snapshot.folders,
    rootFolder,
    replace: choices.intoLive === true,
    onFile: () => deps.progress('restoring the archive', (++done / Math.max(total, 1)) * 100),
  });
  return { folder: choices.archiveTo ? path.resolve(choices.archiveTo) : choices.liveRoots.map((r) => r.path).join(', '), ...result };
}

/** A run's archive snapshot at its exact version, checked against the manifest's SHA-256. */
export async function readRunSnapshot(store: Pick<ObjectStore, 'getVersion'>, manifest: Manifest): Promise<ArchiveSnapshot> {
  if (!manifest.archive) throw new ConnectorError('RESTORE_NO_ARCHIVE', `run ${manifest.runId} has no archive`, { permanent: true });
  const { key, versionId, sha256 } = manifest.archive.snapshot;
  const raw = await readObject(store, key, versionId);
  if (createHash('sha256').update(raw).digest('hex') !== sha256) {
    throw new ConnectorError('RESTORE_CHECKSUM_MISMATCH', `the archive snapshot of run ${manifest.runId} does not match its SHA-256 in the manifest`);
  }
  return parseSnapshot(raw);
}

/** A run's manifest at its exact version. */
export async function readManifest(store: Pick<ObjectStore, 'getVersion'>, pointer: { key: string; versionId: string }): Promise<Manifest> {
  return manifestSchema.parse(JSON.parse((await readObject(store, pointer.key, pointer.versionId)).toString('utf8')));
}
