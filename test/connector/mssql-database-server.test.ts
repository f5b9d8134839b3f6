import { bufferSource, readBackupFile } from '../../protocol';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MssqlDatabaseServer } from '../../connector/src/sql';
import { SqlServerStandIn, type SqlServerStandInOptions } from '../../local/tds/sql-server-stand-in';
import { freePort } from '../helpers/test-ports';

const login = { user: 'so_backup', password: 'Pw-Stand-In-1' };
const staging = mkdtempSync(path.join(tmpdir(), 'so-backup-sql-'));

async function withServer(
  options: Partial<SqlServerStandInOptions>,
  body: (db: MssqlDatabaseServer, standIn: SqlServerStandIn) => Promise<void>,
  connectAs = login,
) {
  const port = await freePort();
  const standIn = new SqlServerStandIn({ port, login, databases: [{ name: 'SuperOffice', sizeBytes: 4 << 20 }], ...options });
  await standIn.start();
  const db = new MssqlDatabaseServer(
    `Server=127.0.0.1,${port};Database=master;User Id=${connectAs.user};Password=${connectAs.password};Encrypt=false`,
  );
  try {
    await body(db, standIn);
  } finally {
    await db.close();
    await standIn.stop();
  }
}

describe('MssqlDatabaseServer against the TDS stand-in (the real mssql/tedious client on the wire)', () => {
  test('GIVEN Standard edition WHEN described THEN edition, version and server name come from SERVERPROPERTY', async () => {
    await withServer({}, async (db) => {
      expect(await db.describe()).toEqual({
        engineEdition: 2,
        edition: 'Standard Edition (64-bit)',
        productVersion: '16.0.4135.4',
        serverName: 'SO-SQL01',
      });
      expect(await db.databaseExists('SuperOffice')).toBe(true);
      expect(await db.databaseExists('Other')).toBe(false);
    });
  });

  test('GIVEN a backup WHEN it runs THEN progress arrives live and in order, and the .bak is a SQL Server backup', async () => {
    await withServer({ backupChunkDelayMs: 30 }, async (db, standIn) => {
      const seen: Array<{ percent: number; at: number }> = [];
      const file = path.join(staging, 'live.bak');
      await db.backupDatabase({
        database: 'SuperOffice',
        file,
        compression: true,
        onProgress: (percent) => seen.push({ percent, at: Date.now() }),
      });
      const done = Date.now();
      expect(seen.map((s) => s.percent)).toEqual(
        [5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75, 80, 85, 90, 95, 100].filter((p) => seen.some((s) => s.percent === p)),
      );
      expect(seen.length).toBeGreaterThanOrEqual(4);
      // Live: the first progress came well before the statement finished.
      expect(done - seen[0]!.at).toBeGreaterThan(40);
      // WITH COMPRESSION: an MSSQLBAK container of XPRESS chunks, read back like a real compressed backup.
      const { facts, problems } = await readBackupFile(bufferSource(readFileSync(file)));
      expect(problems).toEqual([]);
      expect(facts).toMatchObject({
        format: 'MSSQLBAK',
        compressed: true,
        backupType: 'full',
        copyOnly: true,
        database: 'SuperOffice',
        complete: true,
      });
      const sent = standIn.statements.find((s) => s.sql.startsWith('BACKUP'))!;
      expect(sent.sql).toBe('BACKUP DATABASE @database TO DISK = @file WITH COPY_ONLY, CHECKSUM, INIT, FORMAT, STATS = 5, COMPRESSION');
      expect(sent.parameters).toEqual({ database: 'SuperOffice', file });
    });
  });

  test('GIVEN a folder the SQL Server service account cannot write WHEN backing up THEN 3201/OS error 5 is explained, not just 3013', async () => {
    const denied = path.join(staging, 'denied');
    await withServer({ unwritableFolders: [denied] }, async (db) => {
      await expect(
        db.backupDatabase({ database: 'SuperOffice', file: path.join(denied, 'x.bak'), compression: false, onProgress: () => undefined }),
      ).rejects.toMatchObject({
        code: 'SQL_BACKUP_FOLDER_DENIED',
        message: expect.stringMatching(/error 3201 .*Operating system error 5.*service account cannot write the staging folder/),
      });
    });
  });

  test('GIVEN Express edition WHEN COMPRESSION is requested THEN error 1844 is reported as SQL_COMPRESSION_UNSUPPORTED', async () => {
    await withServer({ engineEdition: 4 }, async (db) => {
      expect((await db.describe()).edition).toBe('Express Edition (64-bit)');
      await expect(
        db.backupDatabase({ database: 'SuperOffice', file: path.join(staging, 'e.bak'), compression: true, onProgress: () => undefined }),
      ).rejects.toMatchObject({ code: 'SQL_COMPRESSION_UNSUPPORTED' });
    });
  });

  test('GIVEN a login without BACKUP permission WHEN backing up THEN the fix is named', async () => {
    await withServer({ loginsWithoutBackupPermission: [login.user] }, async (db) => {
      await expect(
        db.backupDatabase({ database: 'SuperOffice', file: path.join(staging, 'p.bak'), compression: false, onProgress: () => undefined }),
      ).rejects.toMatchObject({ code: 'SQL_BACKUP_PERMISSION', message: expect.stringMatching(/db_backupoperator/) });
    });
  });

  test('GIVEN a wrong password WHEN connecting THEN SQL_LOGIN_FAILED says what to check', async () => {
    await withServer(
      {},
      async (db) => {
        await expect(db.describe()).rejects.toMatchObject({
          code: 'SQL_LOGIN_FAILED',
          message: expect.stringMatching(/Login failed.*Check the user and password/),
        });
      },
      { user: login.user, password: 'wrong' },
    );
  });

  test('GIVEN a running backup WHEN cancelled THEN ATTENTION stops it and no half file is left', async () => {
    await withServer({ backupChunkDelayMs: 50, databases: [{ name: 'SuperOffice', sizeBytes: 16 << 20 }] }, async (db) => {
      const abort = new AbortController();
      const file = path.join(staging, 'cancel.bak');
      const backup = db.backupDatabase({
        database: 'SuperOffice',
        file,
        compression: false,
        signal: abort.signal,
        onProgress: (p) => p >= 10 && abort.abort(),
      });
      await expect(backup).rejects.toMatchObject({ code: 'BACKUP_CANCELLED' });
      await new Promise((r) => setTimeout(r, 200));
      expect(existsSync(file)).toBe(false);
      expect(await db.databaseExists('SuperOffice')).toBe(true); // the connection still works after the attention
    });
  });

  test('GIVEN a database name that reads like an injection WHEN backing up or dropping THEN it reaches SQL Server only as a parameter value: SQL Server looks for a database of exactly that name, nothing else runs', async () => {
    await withServer({}, async (db, standIn) => {
      const name = "x'; DROP DATABASE y; --";
      await expect(
        db.backupDatabase({ database: name, file: path.join(staging, 'q.bak'), compression: false, onProgress: () => undefined }),
      ).rejects.toMatchObject({ code: 'SQL_DATABASE_MISSING' });
      await expect(db.dropDatabase(name)).rejects.toMatchObject({ message: expect.stringMatching(/3701/) });
      expect(standIn.statements.map((s) => s.sql).filter((sql) => sql.includes(name))).toEqual([]);
      expect(standIn.statements.filter((s) => Object.values(s.parameters).includes(name))).toHaveLength(2);
    });
  });

  test('GIVEN a name SQL Server cannot have WHEN backing up THEN it is refused before SQL Server is asked, naming why', async () => {
    await withServer({}, async (db, standIn) => {
      await expect(
        db.backupDatabase({
          database: 'x'.repeat(129),
          file: path.join(staging, 'q.bak'),
          compression: false,
          onProgress: () => undefined,
        }),
      ).rejects.toMatchObject({ code: 'DATABASE_NAME_INVALID', message: expect.stringMatching(/129 characters long/) });
      expect(standIn.statements.filter((s) => s.sql.startsWith('BACKUP'))).toEqual([]);
    });
  });
});
