import { randomBytes } from 'node:crypto';
import { backupFile } from '../../local/tds/mtf-backup-file';
import {
  type BackupFileReport,
  bufferSource,
  type ByteSource,
  judgeBackupFile,
  judgeBackupSet,
  MAX_READ_BYTES,
  readBackupFile,
} from '../../protocol/backup-file-reader';
import { describeWithMssqlFixtures, mssqlFixture } from '../helpers/fixtures';

/** Bytes fed to the bare reader, as ws feeds hex bytes to its Receiver; `reads` counts what it asked for. */
async function read(bytes: Buffer): Promise<BackupFileReport & { reads: Array<[number, number]> }> {
  const reads: Array<[number, number]> = [];
  const source: ByteSource = {
    size: bytes.length,
    read: async (offset, length) => (reads.push([offset, length]), bytes.subarray(offset, offset + length)),
  };
  return { ...(await readBackupFile(source)), reads };
}

const cut = (bytes: Buffer, end: number) => bytes.subarray(0, end);
const zeroed = (bytes: Buffer, from: number, to: number) =>
  Buffer.concat([bytes.subarray(0, from), Buffer.alloc(to - from), bytes.subarray(to)]);

describeWithMssqlFixtures('readBackupFile on real SQL Server backups', () => {
  test.each([
    [
      'singlerestore-full.bak',
      {
        format: 'MTF',
        compressed: false,
        backupType: 'full',
        database: 'singlerestore',
        server: 'SQL2008',
        sqlVersion: '10.50.1600',
        backupStartedAt: '2017-05-18T13:51:14',
        timeZone: '+02:00',
        backupSetName: 'singlerestore-Full Database Backup',
      },
    ],
    [
      'difftest-full.bak',
      { format: 'MTF', backupType: 'full', database: 'doublediff', server: 'WIN-JNMR8KM0U3B\\SQL2008R2SP2', sqlVersion: '10.50.1600' },
    ],
    ['difftest-diff1.bak', { format: 'MTF', backupType: 'differential', database: 'doublediff', server: 'WIN-JNMR8KM0U3B\\SQL2008R2SP2' }],
    ['db1-log.trn', { format: 'MTF', backupType: 'log', database: 'db1', server: 'SQL2008', databaseCreatedAt: '2017-02-06T11:58:23' }],
    [
      'sharepoint-config-compressed.bak',
      {
        format: 'MSSQLBAK',
        compressed: true,
        backupType: 'full',
        database: 'SharePoint_Config',
        server: 'SQLCLUSTER',
        sqlVersion: '12.0.4100',
        backupSetName: 'SharePoint_Config-Full Database Backup',
      },
    ],
  ])('GIVEN %s WHEN read THEN its facts, complete, without problems', async (file, facts) => {
    const bytes = mssqlFixture(file);
    const report = await read(bytes);
    expect(report.problems).toEqual([]);
    expect(report.facts).toMatchObject({
      ...facts,
      complete: true,
      copyOnly: false,
      family: { count: 1, number: 1 },
      password: { media: false, backupSet: false },
      size: bytes.length,
    });
  });

  test('GIVEN a real backup WHEN read THEN every read is bounded, and the start and the end are read', async () => {
    const bytes = mssqlFixture('difftest-full.bak');
    const { reads, facts } = await read(bytes);
    expect(Math.max(...reads.map(([, length]) => length))).toBeLessThanOrEqual(MAX_READ_BYTES);
    const covered = new Set(reads.flatMap(([offset, length]) => [Math.floor(offset / 65536), Math.floor((offset + length - 1) / 65536)]));
    expect(covered.has(0) && covered.has(Math.floor((bytes.length - 1) / 65536))).toBe(true);
    expect(facts.coverage).toMatchObject({ depth: 'bounded', reads: reads.length, structureWalked: true });
  });

  describe.each(['singlerestore-full.bak', 'difftest-full.bak', 'difftest-diff1.bak', 'db1-log.trn', 'sharepoint-config-compressed.bak'])(
    'defects made from %s',
    (file) => {
      const bytes = mssqlFixture(file);
      test.each([
        ['its first 1 KiB', () => cut(bytes, 1024), /ends|TRUNCATED/],
        [
          'all but its last 512 bytes',
          () => cut(bytes, bytes.length - 512),
          /ends at \d+ bytes, inside the end of the backup set|does not end with the soft filemark/,
        ],
        ['all but its last 4 KiB', () => cut(bytes, bytes.length - 4096), /soft filemark|end-of-set/],
        ['its first half', () => cut(bytes, Math.floor(bytes.length / 1024) * 512), /soft filemark|end-of-set|ends/],
        ['a cut at an odd size', () => cut(bytes, bytes.length - 7), /not a whole number of 512-byte blocks/],
        ['0x600–0x6FF zeroed', () => zeroed(bytes, 0x600, 0x700), /.+/],
        ['its end-of-set ESET zeroed', () => zeroed(bytes, bytes.length - 0x600, bytes.length - 0x400), /.+/],
      ])('GIVEN %s WHEN read THEN a problem, and never a complete backup', async (_, make, reason) => {
        const report = await read(make());
        expect(report.problems.length).toBeGreaterThan(0);
        expect(report.problems.map((p) => `${p.code} ${p.message}`).join('\n')).toMatch(reason);
        expect(report.facts.complete).toBe(false);
        expect(judgeBackupFile(report).ok).toBe(false);
      });
    },
  );

  test('GIVEN a compressed backup with one chunk damaged WHEN read THEN the chunk is named', async () => {
    const bytes = Buffer.from(mssqlFixture('sharepoint-config-compressed.bak'));
    bytes.fill(0xff, 0x700, 0x740); // inside the chunk at 0x600 that holds SSET, VOLB and MSCI
    const report = await read(bytes);
    expect(report.problems[0]?.message).toMatch(/compressed chunk at offset 0x600 does not decode|damaged/);
    expect(report.facts.database).toBeUndefined();
  });

  test('GIVEN the start of one real backup and the end of another WHEN read THEN the end is from another backup', async () => {
    const start = mssqlFixture('difftest-full.bak');
    const end = mssqlFixture('difftest-diff1.bak');
    const spliced = Buffer.concat([start.subarray(0, 0x10000), end.subarray(end.length - (start.length - 0x10000))]);
    const report = await read(spliced);
    expect(report.problems.map((p) => p.code)).toEqual([expect.stringMatching(/END_INCONSISTENT|END_DAMAGED|DATA_DAMAGED/)]);
  });

  test('GIVEN 300 random one-byte changes in the first 8 KiB and the last 8 KiB WHEN read THEN never a crash', async () => {
    for (const file of ['singlerestore-full.bak', 'sharepoint-config-compressed.bak']) {
      const original = mssqlFixture(file);
      for (let i = 0; i < 150; i++) {
        const bytes = Buffer.from(original);
        const at = i % 2 === 0 ? Math.floor(Math.random() * 8192) : bytes.length - 1 - Math.floor(Math.random() * 8192);
        bytes[at] = bytes[at]! ^ (1 + Math.floor(Math.random() * 255));
        const report = await read(bytes);
        // A change the reader does not notice must leave the facts as they were.
        if (report.problems.length === 0)
          expect(report.facts.database).toBe(file.startsWith('single') ? 'singlerestore' : 'SharePoint_Config');
      }
    }
  });
});

describe('readBackupFile on bytes that are not backups', () => {
  test.each([
    ['empty', Buffer.alloc(0), /it starts empty \(0 bytes\)/],
    ['a zip file', Buffer.from('PK\u0003\u0004 rest of a zip'), /it starts with bytes 50 4b 03 04/],
    ['"TAPE" alone', Buffer.from('TAPE'), /the file ends at 4 bytes.*inside the TAPE block/],
    ['"MSSQLBAK" alone', Buffer.from('MSSQLBAK'), /ends|chunk/],
    ['TAPE and random bytes', Buffer.concat([Buffer.from('TAPE'), randomBytes(64 * 1024)]), /the TAPE block at 0 is damaged/],
    ['MSSQLBAK and random bytes', Buffer.concat([Buffer.from('MSSQLBAK'), randomBytes(64 * 1024)]), /no compressed chunk at offset 0x1e0/],
  ])('GIVEN %s WHEN read THEN one problem says what it is', async (_, bytes, message) => {
    const report = await readBackupFile(bufferSource(bytes));
    expect(report.problems).toEqual([{ code: expect.any(String), message: expect.stringMatching(message) }]);
    expect(judgeBackupFile(report).ok).toBe(false);
  });
});

describe("readBackupFile on the stand-in's backups (the real layout, written by local/tds)", () => {
  const base = {
    database: 'SuperOffice',
    server: 'SO-SQL01\\CRM',
    backupSetName: 'SuperOffice-Full Database Backup',
    startedAt: new Date('2026-11-30T02:00:00Z'),
  };
  test.each([
    ['a full backup', {}, { backupType: 'full', copyOnly: false, compressed: false }],
    ['a copy-only full backup', { copyOnly: true }, { backupType: 'full', copyOnly: true }],
    ['a compressed backup', { compressed: true }, { format: 'MSSQLBAK', compressed: true, backupType: 'full' }],
    ['a differential backup', { backupType: 'differential' as const }, { backupType: 'differential' }],
    ['a compressed log backup', { backupType: 'log' as const, compressed: true }, { backupType: 'log', compressed: true }],
    [
      'a database name with an apostrophe and non-Latin letters',
      { database: "O'Brien CRM Ærøskøbing" },
      { database: "O'Brien CRM Ærøskøbing" },
    ],
  ])('GIVEN %s WHEN read THEN the reader sees what was written', async (_, options, facts) => {
    const report = await read(backupFile({ ...base, ...options }, randomBytes(100_000)));
    expect(report.problems).toEqual([]);
    expect(report.facts).toMatchObject({
      database: 'SuperOffice',
      server: 'SO-SQL01\\CRM',
      sqlVersion: '16.0.4135',
      backupStartedAt: '2026-11-30T02:00:00',
      complete: true,
      ...facts,
    });
  });

  test('GIVEN the two stripes of a striped backup WHEN judged THEN together complete, alone incomplete', async () => {
    const mediaSetId = randomBytes(16);
    const stripes = await Promise.all([1, 2].map((number) => read(backupFile({ ...base, family: { count: 2, number, mediaSetId } }))));
    expect(stripes.map((s) => s.facts.family)).toEqual([
      { count: 2, number: 1 },
      { count: 2, number: 2 },
    ]);
    expect(judgeBackupSet(stripes, { database: 'SuperOffice' })).toEqual({ ok: true, reasons: [] });
    expect(judgeBackupFile(stripes[0]!).reasons).toEqual([
      expect.stringMatching(/family 1 of 2 of a striped backup: the backup set is incomplete without the other 1 file/),
    ]);
    expect(judgeBackupSet([stripes[1]!]).ok).toBe(false);
  });
});
