import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sql from 'mssql';
import { backupFile } from '../../local/tds/mtf-backup-file';
import { SqlServerStandIn } from '../../local/tds/sql-server-stand-in';
import { bufferSource, readBackupFile } from '../../protocol';
import { freePort } from '../helpers/test-ports';

const login = { user: 'so_backup', password: 'Pw-Stand-In-1' };

/** The real mssql client connected to the stand-in on port as `login`, without TLS and without a request timeout. */
function connectTo(port: number): Promise<sql.ConnectionPool> {
  return new sql.ConnectionPool({
    server: '127.0.0.1',
    port,
    user: login.user,
    password: login.password,
    options: { encrypt: false, trustServerCertificate: true },
    requestTimeout: 0,
  }).connect();
}
const folder = mkdtempSync(path.join(tmpdir(), 'so-backup-standin-'));

describe("the SQL Server stand-in's backup files, through the real mssql client", () => {
  let standIn: SqlServerStandIn;
  let pool: sql.ConnectionPool;
  beforeAll(async () => {
    const port = await freePort();
    standIn = new SqlServerStandIn({
      port,
      login,
      databases: [{ name: 'SuperOffice', sizeBytes: 3 << 20 }],
      serverName: 'SO-SQL01',
      productVersion: '15.0.4355.3',
    });
    await standIn.start();
    pool = await connectTo(port);
  });
  afterAll(async () => {
    await pool?.close();
    await standIn?.stop();
  });

  const query = (text: string, file: string) =>
    pool.request().input('database', sql.NVarChar, 'SuperOffice').input('file', sql.NVarChar, file).query(text);

  test.each([
    ['COPY_ONLY, CHECKSUM, COMPRESSION', { Compressed: '1', IsCopyOnly: '1' }, { format: 'MSSQLBAK', compressed: true, copyOnly: true }],
    ['COPY_ONLY, CHECKSUM', { Compressed: '0', IsCopyOnly: '1' }, { format: 'MTF', compressed: false, copyOnly: true }],
    ['CHECKSUM', { Compressed: '0', IsCopyOnly: '0' }, { format: 'MTF', copyOnly: false }],
  ])(
    'GIVEN BACKUP … WITH %s WHEN RESTORE HEADERONLY asks THEN it answers from the file, as the reader reads it',
    async (options, columns, facts) => {
      const file = path.join(folder, `${options.replace(/\W+/g, '-')}.bak`);
      await query(`BACKUP DATABASE @database TO DISK = @file WITH ${options}`, file);
      const { recordset } = await query('RESTORE HEADERONLY FROM DISK = @file', file);
      // The stand-in sends whole numbers as bigint, which tedious returns as strings.
      expect(recordset[0]).toMatchObject({
        DatabaseName: 'SuperOffice',
        ServerName: 'SO-SQL01',
        BackupType: '1',
        SoftwareVersionMajor: '15',
        SoftwareVersionMinor: '0',
        SoftwareVersionBuild: '4355',
        FamilyCount: '1',
        FamilySequenceNumber: '1',
        PasswordProtected: '0',
        ...columns,
      });
      const report = await readBackupFile(bufferSource(readFileSync(file)));
      expect(report.problems).toEqual([]);
      expect(report.facts).toMatchObject({
        database: 'SuperOffice',
        backupType: 'full',
        complete: true,
        sqlVersion: '15.0.4355',
        ...facts,
      });
      await expect(query('RESTORE VERIFYONLY FROM DISK = @file WITH CHECKSUM', file)).resolves.toBeDefined();
    },
  );

  test('GIVEN a backup cut short WHEN RESTORE HEADERONLY asks THEN error 3241, as SQL Server says for a damaged media family', async () => {
    const file = path.join(folder, 'cut.bak');
    await query('BACKUP DATABASE @database TO DISK = @file WITH COPY_ONLY, COMPRESSION', file);
    writeFileSync(file, readFileSync(file).subarray(0, 64 * 1024));
    await expect(query('RESTORE HEADERONLY FROM DISK = @file', file)).rejects.toMatchObject({
      number: 3013,
      message: expect.stringMatching(/terminating abnormally/),
    });
    await expect(query('RESTORE VERIFYONLY FROM DISK = @file WITH CHECKSUM', file)).rejects.toMatchObject({
      message: expect.stringMatching(/terminating abnormally/),
    });
  });
});

describe('the stand-in decides restores from the file itself, as SQL Server does (issue 16 review)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'so-backup-standin-restart-'));
  const start = async () => {
    const port = await freePort();
    const standIn = new SqlServerStandIn({ port, login, databases: [{ name: 'SuperOffice', sizeBytes: 2 << 20 }], defaultDataPath: dir });
    await standIn.start();
    const pool = await connectTo(port);
    const query = (text: string, inputs: Record<string, string>) =>
      Object.entries(inputs)
        .reduce((r, [k, v]) => r.input(k, sql.NVarChar, v), pool.request())
        .query(text);
    return {
      standIn,
      query,
      close: async () => {
        await pool.close();
        await standIn.stop();
      },
    };
  };

  test('GIVEN a backup written before the stand-in restarted WHEN restored after the restart THEN it restores (no false 3183)', async () => {
    const file = path.join(dir, 'before-restart.bak');
    const first = await start();
    await first.query('BACKUP DATABASE @database TO DISK = @file WITH COPY_ONLY, CHECKSUM, COMPRESSION', { database: 'SuperOffice', file });
    await first.close();
    const second = await start();
    try {
      await expect(second.query('RESTORE VERIFYONLY FROM DISK = @file WITH CHECKSUM', { file })).resolves.toBeDefined();
      await second.query('RESTORE DATABASE @target FROM DISK = @file WITH MOVE @data TO @dataTo, MOVE @log TO @logTo, CHECKSUM', {
        target: 'restored',
        file,
        data: 'SuperOffice',
        dataTo: path.join(dir, 'restored.mdf'),
        log: 'SuperOffice_log',
        logTo: path.join(dir, 'restored_log.ldf'),
      });
      expect(second.standIn.databases.map((d) => d.name)).toEqual(['SuperOffice', 'restored']);
    } finally {
      await second.close();
    }
  });

  test('GIVEN a damaged backup this server wrote WHEN verified THEN 3189 still; GIVEN a differential WHEN restored THEN 3117, as SQL Server without a full restored WITH NORECOVERY', async () => {
    const file = path.join(dir, 'damaged.bak');
    const server = await start();
    try {
      await server.query('BACKUP DATABASE @database TO DISK = @file WITH COPY_ONLY, CHECKSUM', { database: 'SuperOffice', file });
      const bytes = readFileSync(file);
      const middle = Math.floor(bytes.length / 2);
      bytes[middle] = bytes[middle]! ^ 0xff;
      writeFileSync(file, bytes);
      await expect(server.query('RESTORE VERIFYONLY FROM DISK = @file WITH CHECKSUM', { file })).rejects.toMatchObject({
        number: 3013,
        precedingErrors: [expect.objectContaining({ number: 3189, message: 'Damage to the backup set was detected.' })],
      });
      const differential = path.join(dir, 'differential.bak');
      writeFileSync(
        differential,
        backupFile({
          database: 'SuperOffice',
          server: 'SO-SQL01',
          backupSetName: 'diff',
          startedAt: new Date(),
          backupType: 'differential',
        }),
      );
      await expect(
        server.query('RESTORE DATABASE @target FROM DISK = @file WITH CHECKSUM', { target: 'fromdiff', file: differential }),
      ).rejects.toMatchObject({ number: 3013, precedingErrors: [expect.objectContaining({ number: 3117 })] });
    } finally {
      await server.close();
    }
  });
});
