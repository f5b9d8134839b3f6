import { readFileSync } from 'node:fs';
import path from 'node:path';
import { BACKUP_HEADER_BYTES, parseBackupHeader } from '../../functions/src/validate-run/backup-header';
import { mtfHeader } from '../../local/tds/mtf-backup-file';
import { describeWith, MSSQL_FIXTURES, mssqlFixtures } from '../helpers/prerequisites';

const head = (file: string) => readFileSync(path.join(MSSQL_FIXTURES, file)).subarray(0, BACKUP_HEADER_BYTES);

describeWith([mssqlFixtures], 'parseBackupHeader on real SQL Server backups', () => {
  test.each([
    ['singlerestore-full.bak', 'singlerestore', 'SQL2008', 'full'],
    ['difftest-full.bak', 'doublediff', 'WIN-JNMR8KM0U3B\\SQL2008R2SP2', 'full'],
    ['difftest-diff1.bak', 'doublediff', 'WIN-JNMR8KM0U3B\\SQL2008R2SP2', 'differential'],
    ['db1-log.trn', 'db1', 'SQL2008', 'log'],
  ])('%s is an MTF backup of %s on %s (%s)', (file, database, server, backupType) => {
    expect(parseBackupHeader(head(file))).toEqual({ format: 'MTF', database, server, backupType });
  });
});

describe('parseBackupHeader', () => {
  test('GIVEN the stand-in\'s backup header WHEN parsed THEN it reads like a real one', () => {
    const header = mtfHeader({ database: 'SuperOffice', server: 'SO-SQL01', backupSetName: 'x', startedAt: new Date() });
    expect(parseBackupHeader(header)).toEqual({ format: 'MTF', database: 'SuperOffice', server: 'SO-SQL01', backupType: 'full' });
  });

  test('GIVEN a compressed backup WHEN parsed THEN it is recognized by MSSQLBAK alone', () => {
    expect(parseBackupHeader(Buffer.concat([Buffer.from('MSSQLBAK'), Buffer.alloc(100)]))).toEqual({ format: 'MSSQLBAK' });
  });

  test.each([
    ['a zip file', Buffer.from('PK\u0003\u0004rest')],
    ['empty', Buffer.alloc(0)],
    ['text', Buffer.from('BACKUP DATABASE is terminating abnormally')],
  ])('GIVEN %s WHEN parsed THEN it is not a backup', (_, bytes) => {
    expect(parseBackupHeader(bytes)).toBeUndefined();
  });

  test('GIVEN a truncated TAPE header WHEN parsed THEN it is MTF without names, never a crash', () => {
    expect(parseBackupHeader(Buffer.from('TAPE'))).toEqual({ format: 'MTF' });
  });
});
