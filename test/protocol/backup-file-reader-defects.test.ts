import { randomBytes } from 'node:crypto';
import { backupFile } from '../../local/tds/mtf-backup-file';
import { type BackupFileReport, bufferSource, type ByteSource, judgeBackupFile, judgeBackupSet, readBackupFile } from '../../protocol/backup-file-reader';
import { describeWithMssqlFixtures, mssqlFixture } from '../helpers/fixtures';

/*
 * Defects found by a tester of issue 16 (each test fails on the code as it stands):
 * - the reader asks its source for everything from 1 MiB before the end-of-set filemark that the
 *   final filemark names up to the end of the file, however far that is: a damaged or crafted tail
 *   makes the validator ask S3 for (and buffer) most of the object, and verify-backup crash;
 * - UTF-16 names are decoded with TextDecoder's default, which drops a leading U+FEFF, so a backup
 *   of database "\uFEFFSuperOffice" reads as a backup of "SuperOffice";
 * - several files are accepted as the stripes of one backup on their media set GUID alone: a
 *   "family 2" of another database or of a differential passes with family 1.
 */

/** Largest single read a reader may ask for: the validator buffers each ranged GET in a 256 MB Lambda. */
const MAX_READ = 16 * 1024 * 1024;

describeWithMssqlFixtures('readBackupFile reads bounded ranges, whatever the file says', () => {
  test('GIVEN a 100 GiB file with a real backup\'s start and its last 64 KiB at the very end WHEN read THEN no read over 16 MiB, no crash, and not complete', async () => {
    const real = mssqlFixture('singlerestore-full.bak');
    const size = 100 * 1024 ** 3;
    const head = real.subarray(0, 0x10000);
    const tail = real.subarray(real.length - 0x10000);
    const reads: number[] = [];
    const source: ByteSource = {
      size,
      read: async (offset, length) => {
        reads.push(length);
        if (length > MAX_READ) throw new Error(`asked for ${length} bytes at ${offset} in one read`);
        const out = Buffer.alloc(length);
        if (offset < head.length) head.copy(out, 0, offset, Math.min(head.length, offset + length));
        const tailAt = size - tail.length;
        if (offset + length > tailAt) tail.copy(out, Math.max(0, tailAt - offset), Math.max(0, offset - tailAt));
        return out;
      },
    };
    const report = await readBackupFile(source);
    expect(Math.max(...reads)).toBeLessThanOrEqual(MAX_READ);
    expect(report.facts.complete).toBe(false);
    expect(judgeBackupFile(report).ok).toBe(false);
  });
});

describe('readBackupFile: database names are read exactly', () => {
  const base = { server: 'SO-SQL01', backupSetName: 'x', startedAt: new Date('2026-11-30T02:00:00Z') };

  test.each([false, true])('GIVEN a backup (compressed: %s) of database "\\uFEFFSuperOffice" WHEN judged as SuperOffice THEN it is not one', async (compressed) => {
    const report = await readBackupFile(bufferSource(backupFile({ ...base, database: '\uFEFFSuperOffice', compressed }, randomBytes(8192))));
    expect(report.facts.database).toBe('\uFEFFSuperOffice');
    expect(judgeBackupFile(report, { database: 'SuperOffice' }).ok).toBe(false);
  });
});

describe('judgeBackupSet: stripes must be of one backup', () => {
  const base = { server: 'SO-SQL01', backupSetName: 'x', startedAt: new Date('2026-11-30T02:00:00Z') };
  const read = (bytes: Buffer): Promise<BackupFileReport> => readBackupFile(bufferSource(bytes));

  test.each([
    ['another database', { database: 'Other' }],
    ['a differential backup', { backupType: 'differential' as const }],
    ['a backup taken at another time', { startedAt: new Date('2026-11-29T02:00:00Z') }],
  ])('GIVEN family 1 of 2 of SuperOffice and a family 2 of the same media set that is %s WHEN judged together THEN not usable', async (_, other) => {
    const mediaSetId = randomBytes(16);
    const one = await read(backupFile({ ...base, database: 'SuperOffice', family: { count: 2, number: 1, mediaSetId } }));
    const two = await read(backupFile({ ...base, database: 'SuperOffice', ...other, family: { count: 2, number: 2, mediaSetId } }));
    expect(judgeBackupSet([one, two], { database: 'SuperOffice' }).ok).toBe(false);
  });
});
