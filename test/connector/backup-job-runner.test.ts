import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { JobProgress } from '../../connector/src/backup';
import type { ConnectorConfig } from '../../connector/src/config';
import { databaseFileName, explainSqlError, MssqlDatabaseServer } from '../../connector/src/sql';
import { SHUTDOWN } from '../../connector/src/store/s3-object-store';
import type { StandInDatabase } from '../../local/tds/database-states';
import { SqlServerStandIn } from '../../local/tds/sql-server-stand-in';
import { type ArchiveSnapshot, bufferSource, keyLayout, type Manifest, manifestSchema, readBackupFile } from '../../protocol';
import { connectorConfigFor, standInSql } from '../helpers/connector-config';
import { freePort } from '../helpers/test-ports';
import { MemoryObjectStore } from '../helpers/memory-object-store';
import { runQuietBackupJob, testBackupJob } from '../helpers/backup-job';

const login = { user: 'so_backup', password: 'Pw-Stand-In-1' };

/** Its credentials expire at once: the store here is in memory and never asks. */
const job = (runId: string) => testBackupJob(runId, 0);

describe('runBackupJob', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'so-backup-job-'));
  const archive = path.join(dir, 'SO_ARC');
  let standIn: SqlServerStandIn;
  let port: number;

  beforeAll(async () => {
    port = await freePort();
    standIn = new SqlServerStandIn({ port, login, engineEdition: 4, databases: [{ name: 'SuperOffice', sizeBytes: 2 << 20 }] });
    await standIn.start();
    mkdirSync(path.join(archive, 'ADM', '2026.11'), { recursive: true });
    writeFileSync(path.join(archive, 'ADM', '2026.11', 'a.docx'), 'first');
    writeFileSync(path.join(archive, 'ADM', '2026.11', 'b.pdf'), 'second');
    writeFileSync(path.join(archive, 'Ærlig æøå.txt'), 'unicode');
  });
  afterAll(() => standIn.stop());

  const config = (): ConnectorConfig =>
    connectorConfigFor(dir, { sql: standInSql(port, login, dir), archive: { roots: [{ name: 'SO_ARC', path: archive }] } });

  async function run(runId: string, store: MemoryObjectStore, windowEndsAt?: string) {
    const databaseServer = new MssqlDatabaseServer(config().sql!.connectionString);
    const progress: JobProgress[] = [];
    try {
      const pointer = await runQuietBackupJob(
        { ...job(runId), ...(windowEndsAt ? { windowEndsAt } : {}) },
        { config: config(), databaseServer, store, report: (p) => progress.push(p) },
      );
      const manifest: Manifest = manifestSchema.parse(JSON.parse(store.current(pointer.key)!.toString()));
      const snapshot = JSON.parse(gunzipSync(store.current(manifest.archive!.snapshot.key)!).toString()) as ArchiveSnapshot;
      return { manifest, snapshot, progress };
    } finally {
      await databaseServer.close();
    }
  }

  test('GIVEN SQL Express WHEN backing up THEN no COMPRESSION is sent and the staging file is removed after upload', async () => {
    const store = new MemoryObjectStore();
    const { manifest, progress } = await run('acme-2026-11-25-daily', store);
    const backup = standIn.statements.find((s) => s.sql.startsWith('BACKUP'))!;
    expect(backup.sql).not.toMatch(/COMPRESSION/);
    expect(manifest.databases[0]).toMatchObject({
      database: 'SuperOffice',
      compressed: false,
      copyOnly: true,
      checksums: true,
      edition: 'Express Edition (64-bit)',
    });
    expect(
      store
        .current(keyLayout.stagedDatabaseBackup('acme', 'acme-2026-11-25-daily', 'SuperOffice'))!
        .subarray(0, 4)
        .toString(),
    ).toBe('TAPE');
    // Uploads land only in the run's staging prefix and the archive, never a retention tier.
    expect(
      [...store.versions.keys()].filter(
        (key) => !key.startsWith('incoming/acme/acme-2026-11-25-daily/') && !key.startsWith('archive/acme/'),
      ),
    ).toEqual([]);
    expect(readdirSync(dir).filter((f) => f.endsWith('.bak'))).toEqual([]);
    expect(progress.map((p) => p.phase)).toEqual(expect.arrayContaining(['starting', 'database', 'upload', 'archive', 'manifest']));
  });

  test('GIVEN one changed, one deleted and one new file WHEN the next run mirrors THEN only those are touched', async () => {
    const store = new MemoryObjectStore();
    const first = await run('acme-2026-11-26-daily', store);
    expect(first.snapshot.files.every((f) => !f.uploaded)).toBe(true); // the index from the test above knows them
    writeFileSync(path.join(archive, 'ADM', '2026.11', 'a.docx'), 'first, edited');
    utimesSync(path.join(archive, 'ADM', '2026.11', 'a.docx'), new Date(), new Date(Date.now() + 5000));
    rmSync(path.join(archive, 'ADM', '2026.11', 'b.pdf'));
    writeFileSync(path.join(archive, 'ADM', 'new.eml'), 'new mail');
    const second = await run('acme-2026-11-27-daily', store);
    expect(
      second.snapshot.files
        .filter((f) => f.uploaded)
        .map((f) => f.path)
        .sort(),
    ).toEqual(['ADM/2026.11/a.docx', 'ADM/new.eml']);
    expect(second.snapshot.files.map((f) => f.path).sort()).toEqual(['ADM/2026.11/a.docx', 'ADM/new.eml', 'Ærlig æøå.txt']);
    expect(second.manifest.archive).toMatchObject({ files: 3, uploadedFiles: 2, deletedFiles: 1 });
    expect(store.versions.get(keyLayout.archiveFile('acme', 'SO_ARC', 'ADM/2026.11/b.pdf'))?.at(-1)?.body).toBeUndefined(); // delete marker
  });

  test('GIVEN a backup window that ended before the job began WHEN it runs THEN the database is backed up and uploaded in full (its upload is never asked to pause); the archive is scanned, sends nothing and reports a changed and a new file pending, the changed one at its last version; the next run sends just those two', async () => {
    const pausable: string[] = [];
    class RecordingStore extends MemoryObjectStore {
      override putFile(...args: Parameters<MemoryObjectStore['putFile']>) {
        if (args[2]?.pause) pausable.push(args[0]);
        return super.putFile(...args);
      }
    }
    const store = new RecordingStore();
    const before = await run('acme-2026-11-28-daily', store);
    const edited = before.snapshot.files.find((f) => f.path === 'ADM/2026.11/a.docx')!;
    writeFileSync(path.join(archive, 'ADM', '2026.11', 'a.docx'), 'first, edited again');
    utimesSync(path.join(archive, 'ADM', '2026.11', 'a.docx'), new Date(), new Date(Date.now() + 10_000));
    writeFileSync(path.join(archive, 'ADM', 'offer.pdf'), 'a new offer');
    const putsBefore = store.calls.putFile ?? 0;

    const late = await run('acme-2026-11-29-daily', store, new Date(Date.now() - 60_000).toISOString());
    expect(late.manifest.databases).toHaveLength(1);
    expect(late.manifest.databases[0]!.artifact.size).toBeGreaterThan(0);
    expect(store.current(late.manifest.databases[0]!.artifact.key)).toHaveLength(late.manifest.databases[0]!.artifact.size);
    expect(late.manifest.archive).toMatchObject({
      uploadedFiles: 0,
      uploadedBytes: 0,
      files: 3,
      pending: { files: 2, bytes: 'first, edited again'.length + 'a new offer'.length, reason: 'window' },
    });
    expect(store.calls.putFile! - putsBefore).toBe(1); // the database backup; no archive file
    expect(pausable.filter((key) => !key.startsWith('archive/'))).toEqual([]); // a database upload is never paused
    // The changed file keeps its last version; the new one is not in the snapshot yet.
    expect(late.snapshot.files.find((f) => f.path === 'ADM/2026.11/a.docx')).toMatchObject({
      versionId: edited.versionId,
      sha256: edited.sha256,
    });
    expect(late.snapshot.files.map((f) => f.path)).not.toContain('ADM/offer.pdf');
    expect(late.progress.some((p) => p.phase === 'archive' && p.detail?.startsWith('window ended'))).toBe(true);

    const next = await run('acme-2026-11-30-daily', store);
    expect(next.manifest.archive).toMatchObject({ uploadedFiles: 2, files: 4 });
    expect(next.manifest.archive!.pending).toBeUndefined();
    expect(store.calls.putFile! - putsBefore).toBe(1 + 1 + 2);
    expect(store.current(keyLayout.archiveFile('acme', 'SO_ARC', 'ADM/2026.11/a.docx'))!.toString()).toBe('first, edited again');
  });
});

describe('runBackupJob: SQL Server failures explained, and verify before upload', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'so-backup-sqlfail-'));

  async function attempt(
    options: Partial<import('../../local/tds/sql-server-stand-in').SqlServerStandInOptions>,
    stagingFolder = dir,
    store = new MemoryObjectStore(),
  ) {
    const port = await freePort();
    const server = new SqlServerStandIn({ port, login, databases: [{ name: 'SuperOffice', sizeBytes: 2 << 20 }], ...options });
    await server.start();
    const config = connectorConfigFor(dir, { sql: standInSql(port, login, stagingFolder) });
    const databaseServer = new MssqlDatabaseServer(config.sql!.connectionString);
    try {
      const pointer = await runQuietBackupJob(job('acme-2026-11-25-support'), { config, databaseServer, store });
      return { manifest: manifestSchema.parse(JSON.parse(store.current(pointer.key)!.toString())), store };
    } finally {
      await databaseServer.close();
      await server.stop();
    }
  }

  test("GIVEN a healthy backup WHEN it runs THEN the manifest carries SQL Server's own record of it, LSNs exact to 25 digits", async () => {
    const { manifest } = await attempt({});
    expect(manifest.databases[0]!.header).toEqual({
      serverName: 'SO-SQL01',
      firstLsn: '37000000012345600001',
      lastLsn: '37000000012345601001',
      backupSize: expect.any(Number),
      verified: true,
    });
  });

  test('GIVEN a backup damaged on disk WHEN verified THEN the run fails with 3189 explained and nothing is uploaded', async () => {
    const store = new MemoryObjectStore();
    await expect(attempt({ corruptBackups: true }, dir, store)).rejects.toMatchObject({
      code: 'BACKUP_DAMAGED',
      message: expect.stringMatching(/3189 .*Damage to the backup set was detected.*will not be offered for restore/),
    });
    expect(store.versions.size).toBe(0);
  });

  test('GIVEN a full staging disk WHEN backing up THEN OS error 112 is explained', async () => {
    await expect(attempt({ diskFreeBytes: 1 << 20 })).rejects.toMatchObject({
      code: 'SQL_DISK_FULL',
      message: expect.stringMatching(/112\(There is not enough space on the disk.\).*staging disk is full/),
    });
  });

  test('GIVEN a folder the service account cannot write WHEN backing up THEN the error names the account and the folder', async () => {
    const denied = path.join(dir, 'denied');
    mkdirSync(denied, { recursive: true });
    await expect(attempt({ unwritableFolders: [denied], serviceAccount: 'NT Service\\MSSQL$SOFFICE' }, denied)).rejects.toMatchObject({
      code: 'SQL_BACKUP_FOLDER_DENIED',
      message: expect.stringMatching(
        /The SQL Server service account "NT Service\\MSSQL\$SOFFICE" cannot write to .*denied: grant it Modify rights/,
      ),
    });
  });
});

describe('explainSqlError', () => {
  test('3013 is never the message: the preceding cause is, with what to do', () => {
    const error = Object.assign(new Error('BACKUP DATABASE is terminating abnormally.'), {
      number: 3013,
      precedingErrors: [{ number: 3021, message: 'Cannot perform a backup or restore operation within a transaction.' }],
    });
    expect(explainSqlError(error, 'backing up')).toMatchObject({
      code: 'SQL_IN_TRANSACTION',
      message: expect.stringMatching(/error 3021 .*within a transaction.*must not start one/),
    });
  });
});

/** One job against a stand-in with these databases (and an archive of one file), for the name, state and part tests below. */
async function jobAgainst(
  databases: StandInDatabase[],
  options: {
    names?: string[];
    standIn?: Partial<import('../../local/tds/sql-server-stand-in').SqlServerStandInOptions>;
    archive?: boolean;
    archivePath?: (dir: string) => string;
    store?: MemoryObjectStore;
  } = {},
) {
  const dir = mkdtempSync(path.join(tmpdir(), 'so-backup-parts-'));
  const archive = path.join(dir, 'SO_ARC');
  mkdirSync(archive);
  writeFileSync(path.join(archive, 'a.txt'), 'archived');
  const port = await freePort();
  const server = new SqlServerStandIn({ port, login, databases, ...options.standIn });
  await server.start();
  const config = connectorConfigFor(dir, {
    sql: { ...standInSql(port, login, dir), databases: options.names ?? databases.map((d) => d.name) },
    ...(options.archive === false ? {} : { archive: { roots: [{ name: 'SO_ARC', path: options.archivePath?.(dir) ?? archive }] } }),
  });
  const databaseServer = new MssqlDatabaseServer(config.sql!.connectionString);
  const store = options.store ?? new MemoryObjectStore();
  const stagingFiles: string[] = [];
  const watch = setInterval(() => stagingFiles.push(...readdirSync(dir).filter((f) => f.endsWith('.bak') && !stagingFiles.includes(f))), 5);
  try {
    const pointer = await runQuietBackupJob(job('acme-2026-11-25-daily'), { config, databaseServer, store });
    return {
      manifest: manifestSchema.parse(JSON.parse(store.current(pointer.key)!.toString())),
      pointer,
      store,
      server,
      stagingFiles,
      dir,
    };
  } finally {
    clearInterval(watch);
    await databaseServer.close();
    await server.stop();
  }
}

const db = (name: string, more: Partial<StandInDatabase> = {}): StandInDatabase => ({ name, sizeBytes: 1 << 20, ...more });

describe('runBackupJob: any database name SQL Server accepts', () => {
  const names = ['2two', "O'Brien CRM", 'Kunde [Øst]', '顧客データ', 'a:b*c?"<>|', 'CON', 'x'.repeat(128)];

  test('GIVEN names that start with a digit, hold quotes, brackets, other scripts or characters Windows forbids in file names WHEN backed up THEN each is backed up, sent only as a parameter, staged under a safe file name and uploaded under its own key', async () => {
    const { manifest, server, stagingFiles, store } = await jobAgainst(
      names.map((name) => db(name)),
      { archive: false },
    );
    expect(manifest.databases.map((d) => d.database)).toEqual(names);
    expect(manifest.failures).toEqual([]);
    const backups = server.statements.filter((st) => st.sql.startsWith('BACKUP'));
    expect(backups.map((st) => st.parameters.database)).toEqual(names);
    for (const statement of backups)
      expect(statement.sql).toBe(
        'BACKUP DATABASE @database TO DISK = @file WITH COPY_ONLY, CHECKSUM, INIT, FORMAT, STATS = 5, COMPRESSION',
      );
    for (const name of names) {
      const key = keyLayout.stagedDatabaseBackup('acme', 'acme-2026-11-25-daily', name);
      // The uploaded file is a complete full backup of exactly that database (the backup-file reader).
      expect((await readBackupFile(bufferSource(store.current(key)!))).facts).toMatchObject({
        database: name,
        backupType: 'full',
        complete: true,
      });
    }
    expect(stagingFiles).toHaveLength(names.length);
    for (const file of stagingFiles) {
      expect(file).not.toMatch(/[<>:"/\\|?*]/);
      expect(file).not.toMatch(/^CON\./i);
      expect(Buffer.byteLength(`${file}.verified.json`)).toBeLessThanOrEqual(255);
    }
    expect(databaseFileName('a:b')).not.toBe(databaseFileName('a_b'));
    expect(databaseFileName("O'Brien CRM")).toBe("O'Brien CRM");
  });

  test("GIVEN a name configured in another case than SQL Server has it WHEN backed up THEN it is kept under SQL Server's own name, which the backup file carries too", async () => {
    const { manifest, store } = await jobAgainst([db('SuperOffice')], { names: ['superoffice'], archive: false });
    expect(manifest.databases.map((d) => d.database)).toEqual(['SuperOffice']);
    const key = keyLayout.stagedDatabaseBackup('acme', 'acme-2026-11-25-daily', 'SuperOffice');
    expect((await readBackupFile(bufferSource(store.current(key)!))).facts).toMatchObject({ database: 'SuperOffice' });
  });

  test('GIVEN names SQL Server cannot have WHEN the configuration is read THEN each is refused with the reason', () => {
    const { connectorConfigSchema } = jest.requireActual<typeof import('../../connector/src/config')>('../../connector/src/config');
    const parse = (databases: string[]) =>
      connectorConfigSchema.safeParse({
        ...connectorConfigFor('/tmp'),
        sql: { connectionString: 'Server=x', databases, stagingFolder: '/tmp' },
      });
    expect(parse(["O'Brien CRM", '2two', '顧客']).success).toBe(true);
    const messages = (databases: string[]) => {
      const r = parse(databases);
      return r.success ? [] : r.error.issues.map((i) => i.message);
    };
    expect(messages(['x'.repeat(129)])).toEqual([
      expect.stringMatching(/129 characters long; SQL Server names \(sysname\) have at most 128/),
    ]);
    expect(messages(['bad\u0001name'])).toEqual([expect.stringMatching(/contains a control character/)]);
    expect(messages(['Trailing '])).toEqual([expect.stringMatching(/ends in a space/)]);
    expect(messages(['SuperOffice', 'superoffice'])).toEqual([expect.stringMatching(/each database once/)]);
  });
});

describe('runBackupJob: each database and the archive is its own part', () => {
  test('GIVEN SuperOffice and 2two, where 2two does not exist WHEN the job runs THEN SuperOffice and the archive are uploaded and the manifest names 2two with its reason', async () => {
    const { manifest } = await jobAgainst([db('SuperOffice')], { names: ['SuperOffice', '2two'] });
    expect(manifest.databases.map((d) => d.database)).toEqual(['SuperOffice']);
    expect(manifest.archive).toMatchObject({ files: 1 });
    expect(manifest.failures).toEqual([
      {
        kind: 'database',
        name: '2two',
        error: { code: 'SQL_DATABASE_MISSING', message: expect.stringMatching(/database "2two" does not exist on SO-SQL01/) },
      },
    ]);
  });

  test('GIVEN a SQL Server that refuses the login WHEN the job runs THEN every database is listed as failed and the archive is still backed up', async () => {
    const { manifest } = await jobAgainst([db('SuperOffice'), db('Other')], {
      standIn: { login: { user: 'someone-else', password: 'x' } },
    });
    expect(manifest.databases).toEqual([]);
    expect(manifest.archive).toMatchObject({ files: 1 });
    expect(manifest.failures?.map((f) => [f.name, f.error.code])).toEqual([
      ['SuperOffice', 'SQL_LOGIN_FAILED'],
      ['Other', 'SQL_LOGIN_FAILED'],
    ]);
  });

  test("GIVEN an archive root that does not exist (moved, or mistyped) WHEN the job runs THEN the database is kept and the archive part fails with doctor's reason and fix", async () => {
    const { manifest, store } = await jobAgainst([db('SuperOffice')], { archivePath: (dir) => path.join(dir, 'NO_SUCH_SO_ARC') });
    expect(manifest.databases.map((d) => d.database)).toEqual(['SuperOffice']);
    expect(manifest.archive).toBeUndefined();
    expect(manifest.failures).toEqual([
      {
        kind: 'archive',
        name: 'SO_ARC',
        error: {
          code: 'ARCHIVE_ROOT_UNREADABLE',
          message: expect.stringMatching(
            /^archive root "SO_ARC": \/.*\/NO_SUCH_SO_ARC: path not found: correct the path of archive root "SO_ARC" in the configuration: the folder does not exist/,
          ),
        },
      },
    ]);
    expect([...store.versions.keys()].filter((key) => key.startsWith('archive/'))).toEqual([]);
  });

  test('GIVEN nothing that can be backed up WHEN the job runs THEN it fails with the reason (no manifest)', async () => {
    await expect(jobAgainst([db('SuperOffice', { state: 'OFFLINE' })], { archive: false })).rejects.toMatchObject({
      code: 'SQL_DATABASE_OFFLINE',
    });
  });
});

describe('runBackupJob: database state read first', () => {
  const cases: Array<[string, Partial<StandInDatabase>, string, RegExp]> = [
    [
      'OFFLINE',
      { state: 'OFFLINE' },
      'SQL_DATABASE_OFFLINE',
      /is OFFLINE: SQL Server cannot back up an offline database. Bring it online \(ALTER DATABASE \[Db\] SET ONLINE\)/,
    ],
    [
      'RESTORING',
      { state: 'RESTORING' },
      'SQL_DATABASE_RESTORING',
      /is RESTORING: .* Back up the primary copy instead, or, .* RESTORE DATABASE \[Db\] WITH RECOVERY/,
    ],
    ['RECOVERING', { state: 'RECOVERING' }, 'SQL_DATABASE_RECOVERING', /still RECOVERING .* the next run will back it up/],
    ['SUSPECT', { state: 'SUSPECT' }, 'SQL_DATABASE_SUSPECT', /is SUSPECT: SQL Server could not recover it .* DBCC CHECKDB/],
    ['RECOVERY_PENDING', { state: 'RECOVERY_PENDING' }, 'SQL_DATABASE_SUSPECT', /is RECOVERY_PENDING/],
    [
      'an AG secondary that is not synchronizing',
      { availabilityGroup: { name: 'AG1', role: 'SECONDARY', synchronizationState: 'NOT SYNCHRONIZING' } },
      'SQL_AG_SECONDARY',
      /secondary replica of availability group "AG1" and is NOT SYNCHRONIZING: SQL Server backs up a secondary only while it is SYNCHRONIZED or SYNCHRONIZING/,
    ],
  ];
  test.each(cases)(
    'GIVEN a database that is %s WHEN the job runs THEN it is refused before BACKUP with a clear message, and the other database is kept',
    async (_, state, code, message) => {
      const { manifest, server } = await jobAgainst([db('Db', state), db('SuperOffice')], { archive: false });
      expect(manifest.databases.map((d) => d.database)).toEqual(['SuperOffice']);
      expect(manifest.failures).toEqual([{ kind: 'database', name: 'Db', error: { code, message: expect.stringMatching(message) } }]);
      expect(server.statements.filter((st) => st.sql.startsWith('BACKUP')).map((st) => st.parameters.database)).toEqual(['SuperOffice']);
    },
  );

  test("GIVEN a state that changes after it was read WHEN BACKUP meets it THEN SQL Server's error is explained the same way", async () => {
    const { explainSqlError: explain } = jest.requireActual<typeof import('../../connector/src/sql')>('../../connector/src/sql');
    const error = Object.assign(new Error('BACKUP DATABASE is terminating abnormally.'), {
      number: 3013,
      precedingErrors: [{ number: 942, message: "Database 'Db' cannot be opened because it is offline." }],
    });
    expect(explain(error, 'backing up')).toMatchObject({
      code: 'SQL_DATABASE_OFFLINE',
      message: expect.stringMatching(/error 942 .*bring it online/),
    });
  });

  test('GIVEN a synchronized AG secondary that is not the preferred backup replica, and a read-only database WHEN backed up THEN both are backed up (copy-only is allowed on a secondary) with notes saying so', async () => {
    const { manifest } = await jobAgainst(
      [
        db('Replica', {
          availabilityGroup: { name: 'AG1', role: 'SECONDARY', synchronizationState: 'SYNCHRONIZED', preferredForBackup: false },
        }),
        db('Archive2019', { readOnly: true }),
      ],
      { archive: false },
    );
    expect(manifest.failures).toEqual([]);
    expect(manifest.databases[0]!.notes).toEqual([
      expect.stringMatching(
        /secondary replica of availability group "AG1" \(SYNCHRONIZED\): a copy-only full backup, which SQL Server allows on a secondary/,
      ),
      expect.stringMatching(/backup preference of availability group "AG1" names another replica/),
    ]);
    expect(manifest.databases[1]!.notes).toEqual(['READ_ONLY: backed up as it is']);
    expect(manifest.databases.every((d) => d.warnings?.length === 0)).toBe(true);
  });

  test('GIVEN TDE-encrypted databases WHEN backed up THEN each says a restore needs its certificate, and a certificate whose private key was never backed up is a warning', async () => {
    const { manifest } = await jobAgainst(
      [
        db('Safe', { tde: { certificate: 'TDECert', privateKeyBackedUpAt: '2026-10-01T08:00:00' } }),
        db('Risky', { tde: { certificate: 'TDECert2' } }),
      ],
      { archive: false },
    );
    const [safe, risky] = manifest.databases;
    expect(safe).toMatchObject({
      tde: { certificate: 'TDECert', encryptorType: 'CERTIFICATE', privateKeyBackedUpAt: expect.stringMatching(/^2026-10-01T/) },
      warnings: [],
    });
    expect(safe!.notes).toEqual([
      expect.stringMatching(
        /Transparent Data Encryption \(certificate "TDECert" in master\): a restore on another server needs that certificate and its private key/,
      ),
    ]);
    expect(risky!.warnings).toEqual([
      expect.stringMatching(
        /private key of TDE certificate "TDECert2" has never been backed up .* BACKUP CERTIFICATE \[TDECert2\] TO FILE/,
      ),
    ]);
  });

  test('GIVEN a login without VIEW SERVER STATE WHEN a TDE database is backed up THEN it is backed up with a warning that the certificate could not be checked', async () => {
    const { manifest } = await jobAgainst([db('Encrypted', { tde: { certificate: 'TDECert' } })], {
      archive: false,
      standIn: { loginsWithoutViewServerState: [login.user] },
    });
    expect(manifest.databases[0]!.warnings).toEqual([
      expect.stringMatching(/could not be checked \(SQL Server error 300 .*VIEW SERVER STATE/),
    ]);
  });
});

describe('runBackupJob: a stopped or crashed job resumes from its verified staging file', () => {
  test('GIVEN a job stopped while uploading a verified backup WHEN it runs again THEN BACKUP is not run again; a staging file changed since is backed up anew', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'so-backup-resume-'));
    const port = await freePort();
    const server = new SqlServerStandIn({ port, login, databases: [{ name: 'SuperOffice', sizeBytes: 2 << 20 }] });
    await server.start();
    const config = connectorConfigFor(dir, { sql: standInSql(port, login, dir) });
    const databaseServer = new MssqlDatabaseServer(config.sql!.connectionString);
    const memory = new MemoryObjectStore();
    const backups = () => server.statements.filter((st) => st.sql.startsWith('BACKUP')).length;
    const runOnce = (store: MemoryObjectStore, signal?: AbortSignal) =>
      runQuietBackupJob(job('acme-2026-11-25-daily'), { config, databaseServer, store, signal });
    try {
      // The service stops in the middle of the upload (the same staging files stay as after a crash).
      const stop = new AbortController();
      const stalling = Object.assign(Object.create(memory) as MemoryObjectStore, {
        putFile: (_key: string, _file: string, options: { signal?: AbortSignal } = {}) =>
          new Promise((_, reject) => {
            options.signal?.addEventListener('abort', () => reject(options.signal!.reason));
            setTimeout(() => stop.abort(SHUTDOWN), 50);
          }),
      });
      await expect(runOnce(stalling, stop.signal)).rejects.toBe(SHUTDOWN);
      expect(backups()).toBe(1);
      expect(
        readdirSync(dir)
          .filter((f) => f.endsWith('.bak') || f.endsWith('.verified.json'))
          .sort(),
      ).toEqual(['SuperOffice-acme-2026-11-25-daily.bak', 'SuperOffice-acme-2026-11-25-daily.bak.verified.json']);

      const pointer = await runOnce(memory);
      expect(backups()).toBe(1); // reused, not backed up again
      expect(manifestSchema.parse(JSON.parse(memory.current(pointer.key)!.toString())).databases[0]!.artifact.key).toBe(
        keyLayout.stagedDatabaseBackup('acme', 'acme-2026-11-25-daily', 'SuperOffice'),
      );

      // A staging file that changed after it was verified is not trusted.
      const again = new AbortController();
      await expect(
        runOnce(
          Object.assign(Object.create(memory) as MemoryObjectStore, {
            putFile: (_key: string, _file: string, options: { signal?: AbortSignal } = {}) =>
              new Promise((_, reject) => {
                options.signal?.addEventListener('abort', () => reject(options.signal!.reason));
                setTimeout(() => again.abort(SHUTDOWN), 50);
              }),
          }),
          again.signal,
        ),
      ).rejects.toBe(SHUTDOWN);
      expect(backups()).toBe(2);
      appendFileSync(path.join(dir, 'SuperOffice-acme-2026-11-25-daily.bak'), 'tampered');
      await runOnce(memory);
      expect(backups()).toBe(3);
    } finally {
      await databaseServer.close();
      await server.stop();
    }
  });
});
