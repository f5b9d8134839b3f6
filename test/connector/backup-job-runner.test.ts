import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { pino } from 'pino';
import { runBackupJob, type JobProgress } from '../../connector/src/backup';
import type { ConnectorConfig } from '../../connector/src/config';
import { MssqlDatabaseServer } from '../../connector/src/sql';
import { SqlServerStandIn } from '../../local/tds/sql-server-stand-in';
import { type ArchiveSnapshot, type BackupJob, keyLayout, type Manifest, manifestSchema } from '../../protocol';
import { freePort } from '../helpers/free-port';
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

  const config = (): ConnectorConfig => ({
    endpoint: 'ws://127.0.0.1:1', tenantId: 'acme', identityFile: path.join(dir, 'identity.json'), stateDir: path.join(dir, 'state'), logLevel: 'info',
    heartbeatSeconds: 300, reconnectAfterMinutes: 110, keyRotationDays: 30,
    sql: { connectionString: `Server=127.0.0.1,${port};User Id=${login.user};Password=${login.password};Encrypt=false`, databases: ['SuperOffice'], stagingFolder: dir, compression: true },
    archive: { roots: [{ name: 'SO_ARC', path: archive }] },
  });

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
