import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { pino } from 'pino';
import { runBackupJob, type JobProgress } from '../../connector/src/backup';
import type { ConnectorConfig } from '../../connector/src/config';
import { explainSqlError, MssqlDatabaseServer } from '../../connector/src/sql';
import { SqlServerStandIn } from '../../local/tds/sql-server-stand-in';
import { type ArchiveSnapshot, type BackupJob, keyLayout, type Manifest, manifestSchema } from '../../protocol';
import { connectorConfigFor, standInSql } from '../helpers/connector-config';
import { freePort } from '../helpers/test-ports';
import { MemoryObjectStore } from '../helpers/memory-object-store';

const login = { user: 'so_backup', password: 'Pw-Stand-In-1' };

function job(runId: string): BackupJob {
  return {
    type: 'backup-job', v: 1, runId, tenantId: 'acme', requestedAt: new Date().toISOString(),
    target: { bucket: 'bkt', region: 'us-east-1', forcePathStyle: false },
    credentials: { accessKeyId: 'a', secretAccessKey: 's', expiration: new Date().toISOString() },
  };
}

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

  const config = (): ConnectorConfig => connectorConfigFor(dir, { sql: standInSql(port, login, dir), archive: { roots: [{ name: 'SO_ARC', path: archive }] } });

  async function run(runId: string, store: MemoryObjectStore) {
    const databaseServer = new MssqlDatabaseServer(config().sql!.connectionString);
    const progress: JobProgress[] = [];
    try {
      const pointer = await runBackupJob(job(runId), { config: config(), connectorVersion: 'test', databaseServer, store, logger: pino({ level: 'silent' }), report: (p) => progress.push(p) });
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
    expect(manifest.databases[0]).toMatchObject({ database: 'SuperOffice', compressed: false, copyOnly: true, checksums: true, edition: 'Express Edition (64-bit)' });
    expect(store.current(keyLayout.databaseBackup('acme', 'SuperOffice'))!.subarray(0, 4).toString()).toBe('TAPE');
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
    expect(second.snapshot.files.filter((f) => f.uploaded).map((f) => f.path).sort()).toEqual(['ADM/2026.11/a.docx', 'ADM/new.eml']);
    expect(second.snapshot.files.map((f) => f.path).sort()).toEqual(['ADM/2026.11/a.docx', 'ADM/new.eml', 'Ærlig æøå.txt']);
    expect(second.manifest.archive).toMatchObject({ files: 3, uploadedFiles: 2, deletedFiles: 1 });
    expect(store.versions.get(keyLayout.archiveFile('acme', 'SO_ARC', 'ADM/2026.11/b.pdf'))?.at(-1)?.body).toBeUndefined(); // delete marker
  });
});

describe('runBackupJob: SQL Server failures explained, and verify before upload', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'so-backup-sqlfail-'));

  async function attempt(options: Partial<import('../../local/tds/sql-server-stand-in').SqlServerStandInOptions>, stagingFolder = dir, store = new MemoryObjectStore()) {
    const port = await freePort();
    const server = new SqlServerStandIn({ port, login, databases: [{ name: 'SuperOffice', sizeBytes: 2 << 20 }], ...options });
    await server.start();
    const config = connectorConfigFor(dir, { sql: standInSql(port, login, stagingFolder) });
    const databaseServer = new MssqlDatabaseServer(config.sql!.connectionString);
    try {
      const pointer = await runBackupJob(job('acme-2026-11-25-support'), { config, connectorVersion: 'test', databaseServer, store, logger: pino({ level: 'silent' }), report: () => undefined });
      return { manifest: manifestSchema.parse(JSON.parse(store.current(pointer.key)!.toString())), store };
    } finally {
      await databaseServer.close();
      await server.stop();
    }
  }

  test('GIVEN a healthy backup WHEN it runs THEN the manifest carries SQL Server\'s own record of it, LSNs exact to 25 digits', async () => {
    const { manifest } = await attempt({});
    expect(manifest.databases[0]!.header).toEqual({ serverName: 'SO-SQL01', firstLsn: '37000000012345600001', lastLsn: '37000000012345601001', backupSize: expect.any(Number), verified: true });
  });

  test('GIVEN a backup damaged on disk WHEN verified THEN the run fails with 3189 explained and nothing is uploaded', async () => {
    const store = new MemoryObjectStore();
    await expect(attempt({ corruptBackups: true }, dir, store)).rejects.toMatchObject({ code: 'BACKUP_DAMAGED', message: expect.stringMatching(/3189 .*Damage to the backup set was detected.*will not be offered for restore/) });
    expect(store.versions.size).toBe(0);
  });

  test('GIVEN a full staging disk WHEN backing up THEN OS error 112 is explained', async () => {
    await expect(attempt({ diskFreeBytes: 1 << 20 })).rejects.toMatchObject({ code: 'SQL_DISK_FULL', message: expect.stringMatching(/112\(There is not enough space on the disk.\).*staging disk is full/) });
  });

  test('GIVEN a folder the service account cannot write WHEN backing up THEN the error names the account and the folder', async () => {
    const denied = path.join(dir, 'denied');
    mkdirSync(denied, { recursive: true });
    await expect(attempt({ unwritableFolders: [denied], serviceAccount: 'NT Service\\MSSQL$SOFFICE' }, denied))
      .rejects.toMatchObject({ code: 'SQL_BACKUP_FOLDER_DENIED', message: expect.stringMatching(/The SQL Server service account "NT Service\\MSSQL\$SOFFICE" cannot write to .*denied: grant it Modify rights/) });
  });
});

describe('explainSqlError', () => {
  test('3013 is never the message: the preceding cause is, with what to do', () => {
    const error = Object.assign(new Error('BACKUP DATABASE is terminating abnormally.'), { number: 3013, precedingErrors: [{ number: 3021, message: 'Cannot perform a backup or restore operation within a transaction.' }] });
    expect(explainSqlError(error, 'backing up')).toMatchObject({ code: 'SQL_IN_TRANSACTION', message: expect.stringMatching(/error 3021 .*within a transaction.*must not start one/) });
  });
});
