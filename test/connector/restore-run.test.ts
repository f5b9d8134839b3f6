import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { downloadArtifact } from '../../connector/src/repository/download-artifact';
import { archiveSeeding, newFileNames, restoreRun, type RestoreChoices } from '../../connector/src/restore/restore-run';
import { seedingPercent } from '../../core/seeding';
import { runRestoreDrill } from '../../connector/src/restore/restore-drill';
import { RunCredentials } from '../../connector/src/store/run-credentials';
import { restoreWants } from '../../connector/src/restore/run-restore';
import { MssqlDatabaseServer } from '../../connector/src/sql';
import { compositeChecksum } from '../../connector/src/store';
import { SqlServerStandIn, type SqlServerStandInOptions } from '../../local/tds/sql-server-stand-in';
import type { Artifact, DrillJob, ManifestPointer } from '../../protocol';
import { connectorConfigFor, standInSql } from '../helpers/connector-config';
import { freePort } from '../helpers/test-ports';
import { MemoryObjectStore } from '../helpers/memory-object-store';
import { runQuietBackupJob, testBackupJob } from '../helpers/backup-job';

/**
 * Restore through the TDS stand-in (the real `mssql` client) from a run the connector itself
 * backed up: the statements SQL Server gets, the refusals, damaged downloads.
 */
const login = { user: 'so_backup', password: 'Pw-Restore-1' };
const job = testBackupJob;

/** The stand-in with this file's login and one database, SuperOffice, of sizeBytes, started on port. */
async function startStandIn(
  port: number,
  sizeBytes: number,
  more: Omit<SqlServerStandInOptions, 'port' | 'login' | 'databases'>,
): Promise<SqlServerStandIn> {
  const standIn = new SqlServerStandIn({ port, login, databases: [{ name: 'SuperOffice', sizeBytes }], ...more });
  await standIn.start();
  return standIn;
}

/** The store, with a fault injected at the S3 boundary: the first `damaged` reads of a key come back altered. */
class DamagingStore extends MemoryObjectStore {
  reads = 0;
  constructor(
    private readonly target: string,
    private damaged: number,
  ) {
    super();
  }
  override async getVersion(key: string, versionId: string, range?: { start: number; end: number }): Promise<NodeJS.ReadableStream> {
    if (!key.includes(this.target)) return super.getVersion(key, versionId, range);
    this.reads++;
    const chunks: Buffer[] = [];
    for await (const chunk of await super.getVersion(key, versionId, range)) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const middle = Math.floor(body.length / 2);
    if (this.damaged-- > 0) body.writeUInt8(body.readUInt8(middle) ^ 0xff, middle);
    return Readable.from([body]);
  }
}

describe('so-connector restore, through the SQL Server stand-in', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'so-backup-restore-'));
  const archive = path.join(dir, 'SO_ARC');
  const data = path.join(dir, 'sql-data');
  const logs = path.join(dir, 'sql-logs');
  let standIn: SqlServerStandIn;
  let server: MssqlDatabaseServer;
  let store: DamagingStore;
  let grant: { runId: string; startedAt: string; manifest: ManifestPointer };
  let config: ReturnType<typeof connectorConfigFor>;
  const choices = (more: Partial<RestoreChoices>): RestoreChoices => ({
    stagingFolder: path.join(dir, 'restore-staging'),
    liveRoots: [{ name: 'SO_ARC', path: archive }],
    ...more,
  });
  const progress: string[] = [];
  const deps = () => ({ store, databaseServer: server, grant, progress: (phase: string) => void progress.push(phase) });
  const restores = () => standIn.statements.filter((s) => /^\s*RESTORE (DATABASE|FILELISTONLY)/i.test(s.sql));

  beforeAll(async () => {
    const port = await freePort();
    mkdirSync(data);
    mkdirSync(logs);
    standIn = await startStandIn(port, 3 << 20, { defaultDataPath: data, defaultLogPath: logs });
    mkdirSync(path.join(archive, 'ANNA'), { recursive: true });
    writeFileSync(path.join(archive, 'ANNA', 'offer.docx'), 'offer v1');
    writeFileSync(path.join(archive, 'mail.eml'), 'mail');
    store = new DamagingStore('SuperOffice.bak', 0);
    config = connectorConfigFor(dir, {
      sql: standInSql(port, login, path.join(dir, 'staging')),
      archive: { roots: [{ name: 'SO_ARC', path: archive }] },
    });
    mkdirSync(path.join(dir, 'staging'));
    server = new MssqlDatabaseServer(config.sql!.connectionString);
    const manifest = await runQuietBackupJob(job('acme-2026-11-25-daily'), { config, store, databaseServer: server });
    grant = { runId: 'acme-2026-11-25-daily', startedAt: new Date().toISOString(), manifest };
  });
  afterAll(async () => {
    await server.close();
    await standIn.stop();
  });

  test('GIVEN a validated run WHEN restored under a new name THEN SQL Server gets FILELISTONLY, then RESTORE DATABASE with MOVE of each logical file to new files in the default folders, and CHECKSUM', async () => {
    standIn.statements.length = 0;
    const summary = await restoreRun(deps(), choices({ databaseName: 'SuperOffice_restored' }));
    expect(summary.database).toEqual({
      source: 'SuperOffice',
      restoredAs: 'SuperOffice_restored',
      bytes: expect.any(Number),
      files: [
        { logicalName: 'SuperOffice', to: path.join(data, 'SuperOffice_restored.mdf') },
        { logicalName: 'SuperOffice_log', to: path.join(logs, 'SuperOffice_restored_log.ldf') },
      ],
    });
    const [fileList, restore] = restores();
    expect(fileList!.sql).toBe('RESTORE FILELISTONLY FROM DISK = @file');
    expect(restore!.sql).toBe(
      'RESTORE DATABASE @database FROM DISK = @file WITH MOVE @logical0 TO @to0, MOVE @logical1 TO @to1, CHECKSUM, STATS = 5',
    );
    expect(restore!.parameters).toMatchObject({
      database: 'SuperOffice_restored',
      logical0: 'SuperOffice',
      to0: path.join(data, 'SuperOffice_restored.mdf'),
      logical1: 'SuperOffice_log',
      to1: path.join(logs, 'SuperOffice_restored_log.ldf'),
    });
    expect(standIn.databases.map((d) => d.name)).toContain('SuperOffice_restored');
    expect(readdirSync(path.join(dir, 'restore-staging'))).toEqual([]); // the downloaded .bak is removed once restored
    expect(progress).toEqual(expect.arrayContaining(['downloading SuperOffice', 'restoring SuperOffice_restored']));
  });

  test('GIVEN a database of that name WHEN restoring without --replace THEN it is refused before anything is downloaded; with --replace it is overwritten WITH REPLACE', async () => {
    standIn.statements.length = 0;
    const reads = store.reads;
    await expect(restoreRun(deps(), choices({ databaseName: 'SuperOffice' }))).rejects.toMatchObject({
      code: 'RESTORE_TARGET_EXISTS',
      message: expect.stringContaining('database "SuperOffice" exists'),
    });
    expect(restores()).toEqual([]);
    expect(store.reads).toBe(reads);
    await restoreRun(deps(), choices({ databaseName: 'SuperOffice_restored', replace: true }));
    expect(restores().at(-1)!.sql).toMatch(/, CHECKSUM, STATS = 5, REPLACE$/);
  });

  test('GIVEN a download damaged on the way WHEN restoring THEN it is detected by SHA-256 and fetched again; damaged every time THEN the restore fails clearly and SQL Server is never asked', async () => {
    store = Object.assign(new DamagingStore('SuperOffice.bak', 1), { versions: store.versions });
    await restoreRun(deps(), choices({ databaseName: 'SuperOffice_second' }));
    expect(store.reads).toBe(2);

    store = Object.assign(new DamagingStore('SuperOffice.bak', 99), { versions: store.versions });
    standIn.statements.length = 0;
    await expect(restoreRun(deps(), choices({ databaseName: 'SuperOffice_third' }))).rejects.toMatchObject({
      code: 'RESTORE_CHECKSUM_MISMATCH',
      message: expect.stringContaining('downloaded 3 times with SHA-256'),
    });
    expect(restores()).toEqual([]);
    expect(readdirSync(path.join(dir, 'restore-staging'))).toEqual([]); // nothing half-written is left
  });

  test("GIVEN a data folder SQL Server cannot use WHEN restoring THEN SQL Server's 5133/3156 is explained", async () => {
    store = Object.assign(new DamagingStore('none', 0), { versions: store.versions });
    await expect(
      restoreRun(deps(), choices({ databaseName: 'SuperOffice_fourth', dataFolder: path.join(dir, 'no-such-folder') })),
    ).rejects.toMatchObject({
      code: 'RESTORE_FOLDER',
      message: expect.stringMatching(/SQL Server error 5133 .*the folder must exist on the SQL Server machine/),
    });
  });

  test('the archive: one file, or everything, into a new folder; never into the live SO_ARC or a folder with files in it', async () => {
    const one = path.join(dir, 'one-file');
    expect((await restoreRun(deps(), choices({ archiveTo: one, file: 'SO_ARC/ANNA/offer.docx' }))).archive).toMatchObject({ files: 1 });
    expect(readFileSync(path.join(one, 'SO_ARC', 'ANNA', 'offer.docx'), 'utf8')).toBe('offer v1');
    expect(existsSync(path.join(one, 'SO_ARC', 'mail.eml'))).toBe(false);
    const all = path.join(dir, 'all-files');
    expect((await restoreRun(deps(), choices({ archiveTo: all }))).archive).toMatchObject({ files: 2 });
    await expect(restoreRun(deps(), choices({ archiveTo: all }))).rejects.toMatchObject({ code: 'RESTORE_FOLDER_NOT_EMPTY' });
    await expect(restoreRun(deps(), choices({ archiveTo: path.join(archive, 'ANNA') }))).rejects.toMatchObject({
      code: 'RESTORE_INTO_LIVE_ARCHIVE',
    });
    // One more file into the same folder is fine; the one already there is not written over.
    expect((await restoreRun(deps(), choices({ archiveTo: one, file: 'SO_ARC/mail.eml' }))).archive).toMatchObject({ files: 1 });
    await expect(restoreRun(deps(), choices({ archiveTo: one, file: 'SO_ARC/mail.eml' }))).rejects.toMatchObject({
      code: 'RESTORE_FOLDER_NOT_EMPTY',
      message: expect.stringContaining('mail.eml is already there'),
    });
    await expect(restoreRun(deps(), choices({ archiveTo: one, file: 'SO_ARC/nope.txt' }))).rejects.toMatchObject({
      code: 'RESTORE_FILE_NOT_IN_RUN',
    });
    writeFileSync(path.join(dir, 'a-file'), 'not a folder');
    await expect(restoreRun(deps(), choices({ archiveTo: path.join(dir, 'a-file') }))).rejects.toMatchObject({
      code: 'RESTORE_ARGUMENTS',
      message: expect.stringContaining('is a file, not a folder'),
    });
    await expect(restoreRun(deps(), choices({ archiveTo: path.join(dir, 'x'), file: 'SO_ARC/nope.txt' }))).rejects.toMatchObject({
      code: 'RESTORE_FILE_NOT_IN_RUN',
    });
    await expect(restoreRun(deps(), choices({}))).rejects.toMatchObject({ code: 'RESTORE_NOTHING' });
  });

  test("GIVEN a seeding archive of 130 of 131 files but 62 % of its bytes WHEN its seeding is described THEN the percent is the cloud's: by bytes, whole, rounded down; by files when there are no bytes", () => {
    const archive = { files: 130, bytes: 620, uploadedBytes: 20 };
    expect(archiveSeeding({ ...archive, pending: { files: 1, bytes: 380, reason: 'window' as const } })).toEqual({
      files: 130,
      of: 131,
      bytes: 620,
      bytesOf: 1000,
      pendingFiles: 1,
      pendingBytes: 380,
      percent: seedingPercent({ filesDone: 130, filesTotal: 131, bytesDone: 620, bytesTotal: 1000 }),
    });
    expect(archiveSeeding({ ...archive, pending: { files: 1, bytes: 380, reason: 'window' as const } })!.percent).toBe(62);
    expect(
      archiveSeeding({ files: 1, bytes: 0, uploadedBytes: 0, pending: { files: 2, bytes: 0, reason: 'window' as const } })!.percent,
    ).toBe(33);
    expect(archiveSeeding({ ...archive })).toBeUndefined();
  });

  test('GIVEN a run whose backup window ended before a new file was sent WHEN its archive is restored THEN what its snapshot holds comes back, and the summary says the archive was still being seeded (2 of 3 files); --file of the unsent one says so', async () => {
    writeFileSync(path.join(archive, 'ANNA', 'new offer.docx'), 'not sent yet');
    const runId = 'acme-2026-11-26-daily';
    const job26 = { ...job(runId), windowEndsAt: new Date(Date.now() - 1000).toISOString() };
    const manifest = await runQuietBackupJob(job26, { config, store, databaseServer: server });
    const seeded = { runId, startedAt: new Date().toISOString(), manifest };
    const into = path.join(dir, 'seeding');
    const summary = await restoreRun({ ...deps(), grant: seeded }, choices({ archiveTo: into }));
    const sent = summary.archive!.bytes; // what the snapshot holds, all restored
    expect(summary.archive).toMatchObject({
      files: 2,
      seeding: {
        files: 2,
        of: 3,
        bytes: sent,
        bytesOf: sent + 'not sent yet'.length,
        pendingFiles: 1,
        pendingBytes: 'not sent yet'.length,
        // By bytes, as the cloud counts (core/seeding.ts seedingPercent), not by files (66 %).
        percent: Math.floor((sent / (sent + 'not sent yet'.length)) * 100),
      },
    });
    expect(readFileSync(path.join(into, 'SO_ARC', 'ANNA', 'offer.docx'), 'utf8')).toBe('offer v1');
    expect(existsSync(path.join(into, 'SO_ARC', 'ANNA', 'new offer.docx'))).toBe(false);
    await expect(
      restoreRun({ ...deps(), grant: seeded }, choices({ archiveTo: path.join(dir, 'seeding-one'), file: 'SO_ARC/ANNA/new offer.docx' })),
    ).rejects.toMatchObject({
      code: 'RESTORE_FILE_NOT_IN_RUN',
      message: expect.stringContaining('still being seeded (2 of 3 files sent)'),
    });
    // The first run had its whole archive: no seeding said.
    expect((await restoreRun(deps(), choices({ archiveTo: path.join(dir, 'complete') }))).archive!.seeding).toBeUndefined();
  });
});

describe('a restore checks everything it needs before it changes anything', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'so-backup-restore-first-'));
  const archive = path.join(dir, 'SO_ARC');
  let standIn: SqlServerStandIn;
  let server: MssqlDatabaseServer;
  const store = new MemoryObjectStore();
  const grants: Record<string, { runId: string; startedAt: string; manifest: ManifestPointer }> = {};
  const deps = (run: string) => ({ store, databaseServer: server, grant: grants[run]!, progress: () => undefined });
  const choices = (more: Partial<RestoreChoices>): RestoreChoices => ({
    stagingFolder: path.join(dir, 'restore-staging'),
    liveRoots: [{ name: 'SO_ARC', path: archive }],
    ...more,
  });

  beforeAll(async () => {
    const port = await freePort();
    standIn = await startStandIn(port, 2 << 20, { defaultDataPath: dir, defaultLogPath: dir });
    server = new MssqlDatabaseServer(standInSql(port, login, dir).connectionString);
    mkdirSync(archive);
    writeFileSync(path.join(archive, 'offer.docx'), 'offer');
    const backup = async (runId: string, root: string) => {
      const config = connectorConfigFor(dir, { sql: standInSql(port, login, dir), archive: { roots: [{ name: 'SO_ARC', path: root }] } });
      const manifest = await runQuietBackupJob(job(runId), { config, store, databaseServer: server });
      grants[runId] = { runId, startedAt: new Date().toISOString(), manifest };
    };
    await backup('acme-2026-11-25-daily', archive);
    // The newest run: its database validated, its archive failed (the root was not there).
    await backup('acme-2026-11-26-daily', path.join(dir, 'SO_ARC-not-mounted'));
  });
  afterAll(async () => {
    await server.close();
    await standIn.stop();
  });
  const restoresSent = () => standIn.statements.filter((s) => /^\s*RESTORE DATABASE/i.test(s.sql)).length;

  test('GIVEN a run whose archive failed WHEN --database-name X --into-live THEN it is refused before the database is restored', async () => {
    const before = restoresSent();
    await expect(
      restoreRun(deps('acme-2026-11-26-daily'), choices({ databaseName: 'SuperOffice_x', intoLive: true })),
    ).rejects.toMatchObject({
      code: 'RESTORE_NO_ARCHIVE',
      message: expect.stringMatching(
        /run acme-2026-11-26-daily has no archive \(archive root "SO_ARC": .*path not found.*\).*nothing was restored/,
      ),
    });
    expect(restoresSent()).toBe(before);
    expect(standIn.databases.map((d) => d.name)).toEqual(['SuperOffice']);
  });

  test('GIVEN a --file that is not in the run WHEN restoring it with the database THEN it is refused before the database is restored', async () => {
    const before = restoresSent();
    await expect(
      restoreRun(
        deps('acme-2026-11-25-daily'),
        choices({ databaseName: 'SuperOffice_y', archiveTo: path.join(dir, 'one'), file: 'SO_ARC/nope.docx' }),
      ),
    ).rejects.toMatchObject({ code: 'RESTORE_FILE_NOT_IN_RUN' });
    expect(restoresSent()).toBe(before);
    expect(standIn.databases.map((d) => d.name)).toEqual(['SuperOffice']);
  });

  test('"latest" asks for a run that kept every part the restore needs: --into-live needs the archive as --archive-to does', () => {
    expect(restoreWants({ intoLive: true })).toEqual({ archive: true });
    expect(restoreWants({ databaseName: 'X', intoLive: true })).toEqual({ anyDatabase: true, archive: true });
    expect(restoreWants({ databaseName: 'X', sourceDatabase: 'SuperOffice', archiveTo: '/x' })).toEqual({
      database: 'SuperOffice',
      archive: true,
    });
    expect(restoreWants({ databaseName: 'X' })).toEqual({ anyDatabase: true });
  });
});

describe('downloadArtifact', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'so-backup-download-'));
  const body = Buffer.concat(Array.from({ length: 5 }, (_, i) => Buffer.alloc(1000, i + 1)));
  const parts = [0, 1, 2, 3, 4].map((i) =>
    createHash('sha256')
      .update(body.subarray(i * 1000, (i + 1) * 1000))
      .digest('base64'),
  );
  const artifact = (store: MemoryObjectStore): Artifact => ({
    key: 'db/daily/acme/big.bak',
    versionId: store.versions.get('db/daily/acme/big.bak')![0]!.versionId,
    size: body.length,
    sha256: createHash('sha256').update(body).digest('hex'),
    s3Checksum: { algorithm: 'SHA256', type: 'COMPOSITE', value: compositeChecksum(parts), partSize: 1000, parts },
  });

  test('GIVEN a download interrupted after some parts WHEN it runs again THEN only the missing parts are fetched, each checked against its part checksum', async () => {
    const store = new MemoryObjectStore();
    await store.putBuffer('db/daily/acme/big.bak', body);
    const file = path.join(dir, 'big.bak');
    let calls = 0;
    const failing = {
      getVersion: async (key: string, versionId: string, range?: { start: number; end: number }) => {
        if (++calls > 3) throw new Error('connection reset');
        return store.getVersion(key, versionId, range);
      },
    };
    await expect(downloadArtifact(failing, artifact(store), file, { concurrency: 1, attempts: 1 })).rejects.toThrow('connection reset');
    expect(existsSync(file)).toBe(false);
    let resumedCalls = 0;
    const counting = {
      getVersion: async (key: string, versionId: string, range?: { start: number; end: number }) => {
        resumedCalls++;
        return store.getVersion(key, versionId, range);
      },
    };
    expect(await downloadArtifact(counting, artifact(store), file, { concurrency: 2 })).toEqual({ bytes: 5000, resumedBytes: 3000 });
    expect(resumedCalls).toBe(2);
    expect(readFileSync(file).equals(body)).toBe(true);
    expect(existsSync(`${file}.partial.json`)).toBe(false);
  });
});

test("new file names follow the folder's path style: Windows folders get backslashes", () => {
  expect(
    newFileNames(
      [
        { logicalName: 'SO', type: 'D' },
        { logicalName: 'SO2', type: 'D' },
        { logicalName: 'SO_log', type: 'L' },
      ],
      'SO_copy',
      'D:\\Data',
      'L:\\Logs',
    ),
  ).toEqual([
    { logicalName: 'SO', to: 'D:\\Data\\SO_copy.mdf' },
    { logicalName: 'SO2', to: 'D:\\Data\\SO_copy_2.ndf' },
    { logicalName: 'SO_log', to: 'L:\\Logs\\SO_copy_log.ldf' },
  ]);
});

describe('restore drill, through the SQL Server stand-in', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'so-backup-drill-'));
  const archive = path.join(dir, 'SO_ARC');
  let port: number;
  const store = new MemoryObjectStore();
  let manifest: ManifestPointer | undefined;
  const drillJob = (more: Partial<DrillJob> = {}): DrillJob => ({
    type: 'drill-job',
    v: 1,
    drillId: 'acme-drill-0001',
    runId: 'acme-2026-11-25-daily',
    startedAt: new Date().toISOString(),
    manifest: manifest!,
    target: { bucket: 'bkt', region: 'us-east-1', forcePathStyle: false },
    credentials: { accessKeyId: 'a', secretAccessKey: 's', expiration: new Date(Date.now() + 3600_000).toISOString() },
    database: true,
    sampleFiles: 2,
    ...more,
  });

  beforeAll(async () => {
    port = await freePort();
    mkdirSync(path.join(archive, 'ANNA'), { recursive: true });
    for (const name of ['a.docx', 'b.docx', 'c.docx']) writeFileSync(path.join(archive, 'ANNA', name), `content of ${name}`);
    mkdirSync(path.join(dir, 'staging'));
    mkdirSync(path.join(dir, 'data'));
  });

  async function withServer<T>(
    corruptRestores: boolean,
    work: (standIn: SqlServerStandIn, server: MssqlDatabaseServer) => Promise<T>,
  ): Promise<T> {
    const standIn = await startStandIn(port, 2 << 20, { defaultDataPath: path.join(dir, 'data'), corruptRestores });
    const server = new MssqlDatabaseServer(standInSql(port, login, path.join(dir, 'staging')).connectionString);
    try {
      // A backup this server took.
      const config = connectorConfigFor(dir, {
        sql: standInSql(port, login, path.join(dir, 'staging')),
        archive: { roots: [{ name: 'SO_ARC', path: archive }] },
      });
      manifest = await runQuietBackupJob(job('acme-2026-11-25-daily'), { config, store, databaseServer: server });
      standIn.statements.length = 0;
      return await work(standIn, server);
    } finally {
      await server.close();
      await standIn.stop();
    }
  }

  test('GIVEN a good backup WHEN drilled THEN it is restored to a scratch database, checked with DBCC CHECKDB and dropped; sampled files verified', async () => {
    await withServer(false, async (standIn, server) => {
      const result = await runRestoreDrill(drillJob(), { store, databaseServer: server, stagingFolder: path.join(dir, 'staging') });
      expect(result).toMatchObject({
        ok: true,
        database: {
          status: 'checked',
          detail: expect.stringMatching(/^SuperOffice restored as so_backup_drill_[0-9a-f]{8} and DBCC CHECKDB found no errors$/),
        },
        archive: { sampled: 2, verified: 2 },
      });
      const statements = standIn.statements.map((s) => s.sql.split(' ').slice(0, 2).join(' '));
      expect(statements.filter((s) => /^(RESTORE|DBCC|DECLARE)/.test(s))).toEqual([
        'RESTORE FILELISTONLY',
        'RESTORE DATABASE',
        'DBCC CHECKDB',
        'DECLARE @statement',
      ]);
      expect(standIn.databases.map((d) => d.name)).toEqual(['SuperOffice']); // the scratch database is gone
      expect(readdirSync(path.join(dir, 'data'))).toEqual([]);
      expect(readdirSync(path.join(dir, 'staging')).filter((f) => f.startsWith('so-backup-drill') || f.startsWith('restore-'))).toEqual([]);
    });
  });

  test("GIVEN a backup whose restored database is damaged WHEN drilled THEN the drill fails with DBCC's findings, and the scratch database is still dropped", async () => {
    await withServer(true, async (standIn, server) => {
      const result = await runRestoreDrill(drillJob(), { store, databaseServer: server, stagingFolder: path.join(dir, 'staging') });
      expect(result).toMatchObject({ ok: false, database: { status: 'failed', detail: expect.stringContaining('SQL Server error 8939') } });
      expect(result.database!.detail).toContain('DBCC CHECKDB found consistency errors');
      expect(standIn.databases.map((d) => d.name)).toEqual(['SuperOffice']);
      expect(readdirSync(path.join(dir, 'staging')).filter((f) => f.startsWith('restore-'))).toEqual([]);
    });
  });

  test('GIVEN a drill that names the database to restore WHEN drilled THEN that database is restored and named in the result; a name the manifest lacks fails the drill', async () => {
    await withServer(false, async (standIn, server) => {
      const result = await runRestoreDrill(drillJob({ databaseName: 'SuperOffice', sampleFiles: 0 }), {
        store,
        databaseServer: server,
        stagingFolder: path.join(dir, 'staging'),
      });
      expect(result).toMatchObject({ ok: true, database: { name: 'SuperOffice', status: 'checked' } });
      const missing = await runRestoreDrill(drillJob({ databaseName: '2two', sampleFiles: 0 }), {
        store,
        databaseServer: server,
        stagingFolder: path.join(dir, 'staging'),
      });
      expect(missing).toMatchObject({
        ok: false,
        database: { name: '2two', status: 'failed', detail: 'the run\'s manifest names no database "2two"' },
      });
      expect(standIn.databases.map((d) => d.name)).toEqual(['SuperOffice']);
    });
  });

  test('GIVEN too little disk space WHEN drilled THEN the database part is skipped and says why; the archive sample still runs', async () => {
    await withServer(false, async (standIn, server) => {
      const result = await runRestoreDrill(drillJob(), {
        store,
        databaseServer: server,
        stagingFolder: path.join(dir, 'staging'),
        freeBytes: async () => 1000,
      });
      expect(result).toMatchObject({
        ok: true,
        database: { status: 'skipped', detail: expect.stringContaining('not enough space') },
        archive: { verified: 2 },
      });
      expect(standIn.statements.some((s) => /RESTORE DATABASE/.test(s.sql))).toBe(false);
    });
  });
});

test("read-only credentials that are about to expire are renewed from the restore's source (a credentials-request for its grant); fresh ones are kept", async () => {
  const creds = (minutes: number, id: string) => ({
    accessKeyId: id,
    secretAccessKey: 's',
    expiration: new Date(Date.now() + minutes * 60_000).toISOString(),
  });
  let renewals = 0;
  const renew = async () => {
    renewals++;
    return creds(60, 'RENEWED');
  };
  const fresh = new RunCredentials(creds(60, 'FIRST'), renew).provider;
  expect((await fresh()).accessKeyId).toBe('FIRST');
  const expiring = new RunCredentials(creds(2, 'FIRST'), renew).provider;
  expect((await expiring()).accessKeyId).toBe('RENEWED');
  expect((await expiring()).accessKeyId).toBe('RENEWED');
  expect(renewals).toBe(1);
});
