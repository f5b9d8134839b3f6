import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sql from 'mssql';
import { SqlServerStandIn } from '../../local/tds/sql-server-stand-in';
import { bufferSource, readBackupFile } from '../../protocol';
import { freePort } from '../helpers/test-ports';

const login = { user: 'so_backup', password: 'Pw-Stand-In-1' };
const folder = mkdtempSync(path.join(tmpdir(), 'so-backup-standin-'));

describe('the SQL Server stand-in\'s backup files, through the real mssql client', () => {
  let standIn: SqlServerStandIn;
  let pool: sql.ConnectionPool;
  beforeAll(async () => {
    const port = await freePort();
    standIn = new SqlServerStandIn({ port, login, databases: [{ name: 'SuperOffice', sizeBytes: 3 << 20 }], serverName: 'SO-SQL01', productVersion: '15.0.4355.3' });
    await standIn.start();
    pool = await new sql.ConnectionPool({ server: '127.0.0.1', port, user: login.user, password: login.password, options: { encrypt: false, trustServerCertificate: true }, requestTimeout: 0 }).connect();
  });
  afterAll(async () => {
    await pool?.close();
    await standIn?.stop();
  });

  const query = (text: string, file: string) => pool.request().input('database', sql.NVarChar, 'SuperOffice').input('file', sql.NVarChar, file).query(text);

  test.each([
    ['COPY_ONLY, CHECKSUM, COMPRESSION', { Compressed: '1', IsCopyOnly: '1' }, { format: 'MSSQLBAK', compressed: true, copyOnly: true }],
    ['COPY_ONLY, CHECKSUM', { Compressed: '0', IsCopyOnly: '1' }, { format: 'MTF', compressed: false, copyOnly: true }],
    ['CHECKSUM', { Compressed: '0', IsCopyOnly: '0' }, { format: 'MTF', copyOnly: false }],
  ])('GIVEN BACKUP … WITH %s WHEN RESTORE HEADERONLY asks THEN it answers from the file, as the reader reads it', async (options, columns, facts) => {
    const file = path.join(folder, `${options.replace(/\W+/g, '-')}.bak`);
    await query(`BACKUP DATABASE @database TO DISK = @file WITH ${options}`, file);
    const { recordset } = await query('RESTORE HEADERONLY FROM DISK = @file', file);
    // The stand-in sends whole numbers as bigint, which tedious returns as strings.
    expect(recordset[0]).toMatchObject({
      DatabaseName: 'SuperOffice', ServerName: 'SO-SQL01', BackupType: '1', SoftwareVersionMajor: '15', SoftwareVersionMinor: '0', SoftwareVersionBuild: '4355',
      FamilyCount: '1', FamilySequenceNumber: '1', PasswordProtected: '0', ...columns,
    });
    const report = await readBackupFile(bufferSource(readFileSync(file)));
    expect(report.problems).toEqual([]);
    expect(report.facts).toMatchObject({ database: 'SuperOffice', backupType: 'full', complete: true, sqlVersion: '15.0.4355', ...facts });
    await expect(query('RESTORE VERIFYONLY FROM DISK = @file WITH CHECKSUM', file)).resolves.toBeDefined();
  });

  test('GIVEN a backup cut short WHEN RESTORE HEADERONLY asks THEN error 3241, as SQL Server says for a damaged media family', async () => {
    const file = path.join(folder, 'cut.bak');
    await query('BACKUP DATABASE @database TO DISK = @file WITH COPY_ONLY, COMPRESSION', file);
    writeFileSync(file, readFileSync(file).subarray(0, 64 * 1024));
    await expect(query('RESTORE HEADERONLY FROM DISK = @file', file)).rejects.toMatchObject({ number: 3013, message: expect.stringMatching(/terminating abnormally/) });
    await expect(query('RESTORE VERIFYONLY FROM DISK = @file WITH CHECKSUM', file)).rejects.toMatchObject({ message: expect.stringMatching(/terminating abnormally/) });
  });
});
