import { createHash } from 'node:crypto';
import { lstatSync, statSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import {
  archiveProgress,
  type ArchiveSnapshot,
  displayText,
  exactPathBytes,
  type Manifest,
  type RestoreGrant,
  seedingPercent,
  type SnapshotFile,
  type SnapshotLink,
} from '../../../protocol';
import { fsPath } from '../files/file-names';
import { ConnectorError } from '../errors';
import type { DatabaseServer } from '../sql/database-server';
import { checkDatabaseName, databaseFileName } from '../sql/database-name';
import type { ObjectStore } from '../store/object-store';
import { readManifest } from '../repository/manifests';
import { readRunSnapshot } from '../repository/snapshots';
import { downloadArtifact } from '../repository/download-artifact';
import { type MaterializeResult, materializeSnapshot } from './materialize-snapshot';
import { planRestore } from './restore-plan';
import { canonicalPath, defaultSemantics, type NameSemantics, overlaps, overlapsOnDisk } from './target-paths';

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
  /** Only this archive file or link ("<root>/<path>" or "<path>"): its exact name first, else its name as text. */
  file?: string;
  /** Only the file or link whose "<root>/<path>" (or "<path>") is exactly these bytes, base64: for names that are not text. */
  fileBytes?: string;
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
  archive?: MaterializeResult & { folder: string; seeding?: ArchiveSeeding };
}

/**
 * The archive was still being seeded when the run was taken (its backup window ended before every
 * new or changed file was sent): the run's backup holds `files` of `of` files; `pendingFiles`
 * (`pendingBytes`) were not in S3 at their current content (a new one is not in the backup, a
 * changed one is there in its previous version).
 */
export interface ArchiveSeeding {
  /** Files in the snapshot, of all there are (snapshot + pending). */
  files: number;
  of: number;
  /** Their bytes, of all there are. */
  bytes: number;
  bytesOf: number;
  pendingFiles: number;
  pendingBytes: number;
  /**
   * How far, 0–99 (whole percent, rounded down): by bytes, by files when the archive has no bytes.
   * The cloud's own measure (core/seeding.ts seedingPercent), so `run show`, `status` and a
   * restore of the same run say the same number.
   */
  percent: number;
}

/** The seeding state of a run's archive, from its manifest (undefined: the archive was complete). */
export function archiveSeeding(
  archive: Pick<NonNullable<Manifest['archive']>, 'files' | 'bytes' | 'uploadedBytes' | 'pending'> | undefined,
): ArchiveSeeding | undefined {
  if (!archive?.pending) return undefined;
  const progress = archiveProgress(archive);
  return {
    files: progress.filesDone,
    of: progress.filesTotal,
    bytes: progress.bytesDone,
    bytesOf: progress.bytesTotal,
    pendingFiles: progress.pendingFiles,
    pendingBytes: progress.pendingBytes,
    percent: seedingPercent(progress),
  };
}

/** Checks what can be checked before the cloud is asked and anything is downloaded: names, the target folder, live SO_ARC. */
export async function checkRestoreChoices(choices: RestoreChoices): Promise<void> {
  if (!choices.databaseName && !choices.archiveTo && !choices.intoLive) {
    throw new ConnectorError(
      'RESTORE_NOTHING',
      'say what to restore: --database-name NEW for the database, --archive-to DIR for the archive (or one --file of it), or both',
      { permanent: true },
    );
  }
  const oneFile = choices.file !== undefined || choices.fileBytes !== undefined;
  if (oneFile && !choices.archiveTo && !choices.intoLive)
    throw new ConnectorError('RESTORE_NOTHING', '--file needs --archive-to DIR (the folder the file is restored into) or --into-live', {
      permanent: true,
    });
  if (choices.file !== undefined && choices.fileBytes !== undefined)
    throw new ConnectorError('RESTORE_ARGUMENTS', 'give --file or --file-bytes, not both', { permanent: true });
  if (choices.fileBytes !== undefined && !/^[A-Za-z0-9+/]+={0,2}$/.test(choices.fileBytes))
    throw new ConnectorError(
      'RESTORE_ARGUMENTS',
      '--file-bytes takes the exact bytes of "<root>/<path>" as base64 (the message that lists names which look alike prints them)',
      { permanent: true },
    );
  if (choices.databaseName) checkDatabaseName(choices.databaseName);
  if (choices.intoLive) {
    if (choices.archiveTo)
      throw new ConnectorError(
        'RESTORE_ARGUMENTS',
        '--into-live puts every file back into the live root it came from (each configured archive root): leave out --archive-to',
        { permanent: true },
      );
    if (choices.liveRoots.length === 0)
      throw new ConnectorError('RESTORE_ARGUMENTS', '--into-live needs the archive roots in the configuration ("archive.roots")', {
        permanent: true,
      });
  }
  if (choices.archiveTo) {
    const semantics = choices.semantics ?? defaultSemantics();
    const target = semantics.platform === 'win32' ? path.win32.resolve(choices.archiveTo) : path.posix.resolve(choices.archiveTo);
    // Compared as this file system compares paths (case on Windows), and also as it resolves
    // them (links, junctions, 8.3 names, mapped drives), when the paths are this server's own.
    const forms = (p: string) => (semantics.platform === (process.platform === 'win32' ? 'win32' : 'posix') ? [p, canonicalPath(p)] : [p]);
    // And by what the folders are (device and inode; on Windows volume and file id), which no
    // spelling hides: a bind mount, a second share name, a subst drive of the live archive.
    const own = semantics.platform === (process.platform === 'win32' ? 'win32' : 'posix');
    const live = choices.liveRoots.find(
      (root) =>
        forms(target).some((t) => forms(root.path).some((r) => overlaps(t, r, semantics))) || (own && overlapsOnDisk(target, root.path)),
    );
    if (live) {
      throw new ConnectorError(
        'RESTORE_INTO_LIVE_ARCHIVE',
        `${target} is, holds or lies inside the live archive ${live.name} (${live.path}): restore into another folder and copy what you need, or put files back into the live archive with --into-live (without --archive-to), which asks you to confirm`,
        { permanent: true },
      );
    }
    let found: ReturnType<typeof statSync>;
    try {
      found = statSync(target, { throwIfNoEntry: false });
    } catch (error) {
      throw new ConnectorError('RESTORE_ARGUMENTS', `--archive-to ${target} cannot be used: ${(error as Error).message}`, {
        permanent: true,
      });
    }
    if (found && !found.isDirectory())
      throw new ConnectorError('RESTORE_ARGUMENTS', `--archive-to ${target} is a file, not a folder: give a new or empty folder`, {
        permanent: true,
      });
    if (found && !oneFile) {
      let existing: string[];
      try {
        existing = await readdir(target);
      } catch (error) {
        throw new ConnectorError(
          'RESTORE_ARGUMENTS',
          `--archive-to ${target} cannot be listed (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): give a folder this account may read and write`,
          { permanent: true },
        );
      }
      if (existing.length > 0) {
        throw new ConnectorError(
          'RESTORE_FOLDER_NOT_EMPTY',
          `${target} is not empty: restore into a new or empty folder so that nothing is overwritten or mixed (one --file may go into a folder that does not hold it yet)`,
          { permanent: true },
        );
      }
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
  // Everything each part needs is checked before either changes anything: a run without an
  // archive, a file not in it, a database name taken, refuse before a database is restored.
  const database = choices.databaseName ? await planDatabase(deps, manifest, choices, choices.databaseName) : undefined;
  const archive = choices.archiveTo || choices.intoLive ? await planArchive(deps, manifest, choices) : undefined;
  const summary: RestoreSummary = { runId: deps.grant.runId, startedAt: deps.grant.startedAt };
  if (database) summary.database = await restoreDatabase(deps, manifest, database);
  if (archive) {
    summary.archive = await restoreArchive(deps, archive, choices);
    const seeding = archiveSeeding(manifest.archive);
    if (seeding) summary.archive.seeding = seeding;
  }
  return summary;
}

/** What a database restore will do, decided (and refused if it cannot be done) before anything changes. */
interface DatabasePlan {
  target: string;
  backup: Manifest['databases'][number];
  stagingFolder: string;
  dataFolder: string;
  logFolder: string;
  replace: boolean;
}

async function planDatabase(deps: RestoreDeps, manifest: Manifest, choices: RestoreChoices, target: string): Promise<DatabasePlan> {
  const server = deps.databaseServer;
  if (!server)
    throw new ConnectorError(
      'RESTORE_NO_SQL',
      'the connector configuration has no "sql" section: add the SQL Server connection string to restore databases',
      { permanent: true },
    );
  const candidates = choices.sourceDatabase ? manifest.databases.filter((d) => d.database === choices.sourceDatabase) : manifest.databases;
  if (candidates.length !== 1) {
    const names = manifest.databases.map((d) => d.database).join(', ') || 'none';
    throw new ConnectorError(
      'RESTORE_WHICH_DATABASE',
      choices.sourceDatabase
        ? `run ${manifest.runId} has no backup of "${choices.sourceDatabase}" (it has: ${names})`
        : `run ${manifest.runId} backed up ${names}: choose one with --source-database`,
      { permanent: true },
    );
  }
  const backup = candidates[0]!;
  if ((await server.databaseExists(target)) && !choices.replace) {
    throw new ConnectorError(
      'RESTORE_TARGET_EXISTS',
      `database "${target}" exists: restore under a new name with --database-name, or overwrite it with --replace (asks for confirmation)`,
      { permanent: true },
    );
  }
  if (!choices.stagingFolder)
    throw new ConnectorError(
      'RESTORE_NO_STAGING',
      'no staging folder: set sql.stagingFolder in the configuration or give --staging DIR (SQL Server must be able to read it)',
      { permanent: true },
    );
  const defaults = await server.defaultFolders();
  const dataFolder = choices.dataFolder ?? defaults.data;
  const logFolder = choices.logFolder ?? defaults.log ?? dataFolder;
  if (!dataFolder || !logFolder)
    throw new ConnectorError('RESTORE_NO_FOLDER', 'SQL Server reports no default data/log folder: give --data-folder and --log-folder', {
      permanent: true,
    });
  return { target, backup, stagingFolder: choices.stagingFolder, dataFolder, logFolder, replace: choices.replace === true };
}

async function restoreDatabase(
  deps: RestoreDeps,
  manifest: Manifest,
  plan: DatabasePlan,
): Promise<NonNullable<RestoreSummary['database']>> {
  const server = deps.databaseServer!;
  const { backup, target } = plan;
  await mkdir(plan.stagingFolder, { recursive: true });
  const file = path.join(plan.stagingFolder, stagingName(manifest.runId, backup.database));
  deps.progress(`downloading ${backup.database}`, 0);
  await downloadArtifact(deps.store, backup.artifact, file, {
    onProgress: (done, total) => deps.progress(`downloading ${backup.database}`, (done / total) * 100),
  });
  const files = await server.backupFiles(file);
  const moves = newFileNames(files, target, plan.dataFolder, plan.logFolder);
  deps.progress(`restoring ${target}`, 0);
  await server.restoreDatabase({
    database: target,
    file,
    moves,
    replace: plan.replace,
    onProgress: (percent) => deps.progress(`restoring ${target}`, percent),
  });
  await rm(file, { force: true });
  return { source: backup.database, restoredAs: target, bytes: backup.artifact.size, files: moves };
}

/**
 * New physical names for each logical file: `<db>.mdf` for the first data file, `<db>_<n>.ndf`
 * for more, `<db>_log.ldf` for the log, in the folder's own path style (Windows or POSIX); a
 * database name a file name cannot hold is made safe (databaseFileName).
 */
export function newFileNames(
  files: Array<{ logicalName: string; type: string }>,
  databaseName: string,
  dataFolder: string,
  logFolder: string,
): Array<{ logicalName: string; to: string }> {
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

/** What an archive restore will write, decided (and refused if it cannot be done) before anything changes. */
interface ArchivePlan {
  snapshot: ArchiveSnapshot;
  files: SnapshotFile[];
  links: SnapshotLink[];
  emptyFolders: ArchiveSnapshot['emptyFolders'];
  rootFolder?: (root: string) => string;
}

async function planArchive(deps: RestoreDeps, manifest: Manifest, choices: RestoreChoices): Promise<ArchivePlan> {
  if (!manifest.archive) {
    throw new ConnectorError(
      'RESTORE_NO_ARCHIVE',
      `run ${manifest.runId} has no archive${
        manifest.failures?.length
          ? ` (${manifest.failures
              .filter((f) => f.kind === 'archive')
              .map((f) => f.error.message)
              .join('; ')})`
          : ''
      }: \`--run latest\` takes the newest run that kept one; nothing was restored`,
      { permanent: true },
    );
  }
  deps.progress('reading the archive snapshot');
  const snapshot = await readRunSnapshot(deps.store, manifest);
  const one =
    choices.file !== undefined || choices.fileBytes !== undefined
      ? chooseEntry(snapshot, choices, manifest.runId, archiveSeeding(manifest.archive))
      : undefined;
  const plan: ArchivePlan = one
    ? { snapshot, files: one.kind === 'file' ? [one.entry] : [], links: one.kind === 'link' ? [one.entry] : [], emptyFolders: [] }
    : { snapshot, files: snapshot.files, links: snapshot.links, emptyFolders: snapshot.emptyFolders };
  if (choices.intoLive) {
    const roots = new Set([...plan.files, ...plan.links, ...plan.emptyFolders].map((e) => e.root));
    const missing = [...roots].filter((root) => !choices.liveRoots.some((live) => live.name === root));
    if (missing.length > 0) {
      throw new ConnectorError(
        'RESTORE_ARGUMENTS',
        `run ${manifest.runId} has archive root(s) ${missing.join(', ')} that this configuration does not have: restore them with --archive-to DIR instead`,
        { permanent: true },
      );
    }
    plan.rootFolder = (root) => choices.liveRoots.find((live) => live.name === root)!.path;
  } else if (one && choices.archiveTo) {
    // One file into a folder that may hold others: never over one that is there.
    const [placed] = planRestore([one], choices.semantics ?? defaultSemantics());
    const destination = fsPath(path.join(path.resolve(choices.archiveTo), one.entry.root), placed!.relative);
    let there: boolean;
    try {
      there = lstatSync(destination, { throwIfNoEntry: false }) !== undefined;
    } catch {
      there = false; // a file in the way of its folder: reported by the restore itself
    }
    if (there) {
      throw new ConnectorError(
        'RESTORE_FOLDER_NOT_EMPTY',
        `${typeof destination === 'string' ? destination : displayText(destination)} is already there: restore into another folder, or remove it first`,
        { permanent: true },
      );
    }
  }
  return plan;
}

/**
 * The one file or link `--file` (or `--file-bytes`) names: exact bytes first (a name that
 * really holds U+FFFD is not confused with one whose bytes are not text), then the name as
 * text. More than one: refused, listing each with the --file-bytes that names it alone.
 */
function chooseEntry(
  snapshot: ArchiveSnapshot,
  choices: RestoreChoices,
  runId: string,
  seeding?: ArchiveSeeding,
): { kind: 'file'; entry: SnapshotFile } | { kind: 'link'; entry: SnapshotLink } {
  const entries = [
    ...snapshot.files.map((entry) => ({ kind: 'file' as const, entry })),
    ...snapshot.links.map((entry) => ({ kind: 'link' as const, entry })),
  ];
  const exactOf = (e: { root: string; path: string; pathBytes?: string }) => exactPathBytes(e);
  const full = (e: { root: string; path: string; pathBytes?: string }) => Buffer.concat([Buffer.from(`${e.root}/`), exactOf(e)]);
  const given =
    choices.fileBytes !== undefined
      ? [Buffer.from(choices.fileBytes, 'base64')]
      : [...new Set([choices.file!.replace(/^\/+/, ''), choices.file!.replace(/\\/g, '/').replace(/^\/+/, '')])].map((text) =>
          Buffer.from(text, 'utf8'),
        );
  let found = entries.filter(({ entry }) => given.some((bytes) => bytes.equals(full(entry)) || bytes.equals(exactOf(entry))));
  if (found.length === 0 && choices.fileBytes === undefined) {
    const texts = given.map((bytes) => bytes.toString('utf8'));
    found = entries.filter(({ entry }) => texts.some((text) => text === `${entry.root}/${entry.path}` || text === entry.path));
  }
  const asked = choices.fileBytes !== undefined ? `--file-bytes ${choices.fileBytes}` : `"${choices.file}"`;
  if (found.length === 0) {
    throw new ConnectorError(
      'RESTORE_FILE_NOT_IN_RUN',
      `${asked} is not in run ${runId}'s archive (give "<root>/<path>" or the path inside the root, as in the archive)${
        seeding
          ? `; that run's archive was still being seeded (${seeding.files} of ${seeding.of} files sent): a new file may not have been sent yet, a later run may hold it`
          : ''
      }`,
      { permanent: true },
    );
  }
  if (found.length > 1) {
    const choicesText = found
      .map(
        ({ kind, entry }) =>
          `  ${entry.root}/${entry.path}${kind === 'link' ? ' (a link)' : ''}: --file-bytes ${full(entry).toString('base64')}`,
      )
      .join('\n');
    throw new ConnectorError(
      'RESTORE_FILE_AMBIGUOUS',
      `${asked} names ${found.length} entries of run ${runId} (their names look alike as text, or lie in several roots); name one exactly:\n${choicesText}`,
      { permanent: true },
    );
  }
  return found[0]!;
}

async function restoreArchive(
  deps: RestoreDeps,
  plan: ArchivePlan,
  choices: RestoreChoices,
): Promise<NonNullable<RestoreSummary['archive']>> {
  const folder = choices.archiveTo ?? '';
  if (choices.archiveTo) await mkdir(choices.archiveTo, { recursive: true });
  let done = 0;
  const total = plan.files.length;
  const result = await materializeSnapshot(plan.files, deps.store, folder || '.', {
    emptyFolders: plan.emptyFolders,
    links: plan.links,
    folders: plan.snapshot.folders,
    rootFolder: plan.rootFolder,
    replace: choices.intoLive === true,
    onFile: () => deps.progress('restoring the archive', (++done / Math.max(total, 1)) * 100),
  });
  return { folder: choices.archiveTo ? path.resolve(choices.archiveTo) : choices.liveRoots.map((r) => r.path).join(', '), ...result };
}
