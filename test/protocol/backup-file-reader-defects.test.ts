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
  test("GIVEN a 100 GiB file with a real backup's start and its last 64 KiB at the very end WHEN read THEN no read over 16 MiB, no crash, and not complete", async () => {
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

  test.each([false, true])(
    'GIVEN a backup (compressed: %s) of database "\\uFEFFSuperOffice" WHEN judged as SuperOffice THEN it is not one',
    async (compressed) => {
      const report = await readBackupFile(
        bufferSource(backupFile({ ...base, database: '\uFEFFSuperOffice', compressed }, randomBytes(8192))),
      );
      expect(report.facts.database).toBe('\uFEFFSuperOffice');
      expect(judgeBackupFile(report, { database: 'SuperOffice' }).ok).toBe(false);
    },
  );
});

describe('judgeBackupSet: stripes must be of one backup', () => {
  const base = { server: 'SO-SQL01', backupSetName: 'x', startedAt: new Date('2026-11-30T02:00:00Z') };
  const read = (bytes: Buffer): Promise<BackupFileReport> => readBackupFile(bufferSource(bytes));

  test.each([
    ['another database', { database: 'Other' }],
    ['a differential backup', { backupType: 'differential' as const }],
    ['a backup taken at another time', { startedAt: new Date('2026-11-29T02:00:00Z') }],
  ])(
    'GIVEN family 1 of 2 of SuperOffice and a family 2 of the same media set that is %s WHEN judged together THEN not usable',
    async (_, other) => {
      const mediaSetId = randomBytes(16);
      const one = await read(backupFile({ ...base, database: 'SuperOffice', family: { count: 2, number: 1, mediaSetId } }));
      const two = await read(backupFile({ ...base, database: 'SuperOffice', ...other, family: { count: 2, number: 2, mediaSetId } }));
      expect(judgeBackupSet([one, two], { database: 'SuperOffice' }).ok).toBe(false);
    },
  );
});

/*
 * More of the tester's findings, each as its kind:
 * - the middle of a backup was never read: data pages zeroed or randomized passed (whole: every page
 *   checksum; bounded: the first pages, and a random sample of the middle);
 * - the blocks before the closing SQL Server block (MSLS) and the file list after SCIN were not walked;
 * - a final filemark that points anywhere makes a read of that size, or a RangeError;
 * - data after the end of the set read as "cut short"; a file holding a backup twice as "a SFMB block
 *   in the end of the backup set".
 */
const zero = (bytes: Buffer, from: number, to: number) => Buffer.from(bytes).fill(0, from, to);
const depths = ['bounded', 'whole'] as const;

describeWithMssqlFixtures('readBackupFile: the middle and the trailing blocks are checked', () => {
  const plain = mssqlFixture('singlerestore-full.bak');
  const compressed = mssqlFixture('sharepoint-config-compressed.bak');

  test.each(depths)('GIVEN a backup with all its data pages zeroed (0x1E00–0x152200) WHEN read (%s) THEN not usable', async (depth) => {
    const report = await readBackupFile(bufferSource(zero(plain, 0x1e00, 0x152200)), { depth });
    expect(judgeBackupFile(report).ok).toBe(false);
    expect(report.problems.map((p) => p.message).join('\n')).toMatch(/file header page 1:0/);
  });

  test('GIVEN one byte changed inside a data page WHEN read whole THEN its page checksum fails, naming the page', async () => {
    const bytes = Buffer.from(plain);
    bytes[0x80000 + 300] = bytes[0x80000 + 300]! ^ 1;
    const report = await readBackupFile(bufferSource(bytes), { depth: 'whole' });
    expect(report.problems).toEqual([
      expect.objectContaining({
        code: 'PAGE_DAMAGED',
        message: expect.stringMatching(/1 page\(s\) fail their page checksum \(1:63 at 0x7fe00\)/),
      }),
    ]);
    expect(report.facts.coverage).toMatchObject({ depth: 'whole', structureWalked: true, pages: { checksumFailed: 1 } });
  });

  test.each(depths)('GIVEN the MSTL block headers before MSLS zeroed WHEN read (%s) THEN the walk names the block', async (depth) => {
    const bytes = zero(zero(zero(plain, 0x162a00, 0x162a40), 0x162e00, 0x162e40), 0x163200, 0x163240);
    const report = await readBackupFile(bufferSource(bytes), { depth });
    expect(report.problems.map((p) => p.message).join('\n')).toMatch(/no valid MTF block header at 0x162a00/);
  });

  test.each([0, 1, 2])(
    'GIVEN the walk from the start may make only %i reads (a backup of many blocks) WHEN read bounded THEN it resumes next to the end and walks every block exactly, damaged ones included',
    async (walkReads) => {
      const healthy = await readBackupFile(bufferSource(plain), { walkReads });
      expect(healthy.problems).toEqual([]);
      expect(healthy.facts.coverage).toMatchObject({ structureWalked: true, blocks: { MSDA: 1, MSTL: 4, MSLS: 1 } });
      expect(healthy.facts.coverage.notWalked).toBeUndefined();
      const damaged = await readBackupFile(bufferSource(zero(plain, 0x162e00, 0x162e40)), { walkReads });
      expect(damaged.problems.map((p) => p.message).join('\n')).toMatch(/no valid MTF block header at 0x162e00/);
    },
  );

  test.each(depths)('GIVEN the file list after SCIN (0x1000–0x10FF) zeroed WHEN read (%s) THEN not usable', async (depth) => {
    const report = await readBackupFile(bufferSource(zero(plain, 0x1000, 0x1100)), { depth });
    expect(report.problems.map((p) => p.message).join('\n')).toMatch(/file list after SCIN is damaged/);
  });

  test.each([
    ['zeroed', (b: Buffer) => zero(b, 0x20000, 0x180000)],
    [
      'randomized',
      (b: Buffer) => {
        const out = Buffer.from(b);
        randomBytes(0x160000).copy(out, 0x20000);
        return out;
      },
    ],
  ] as const)('GIVEN a compressed backup with most of its middle %s WHEN read (bounded and whole) THEN not usable', async (_, damage) => {
    const bytes = damage(compressed);
    for (const depth of depths) {
      const report = await readBackupFile(bufferSource(bytes), { depth });
      expect(judgeBackupFile(report).ok).toBe(false);
      expect(report.problems[0]?.code).toMatch(/DATA_DAMAGED|COMPRESSED_UNREADABLE/);
    }
  });

  test.each([
    ['4 KiB of zeros appended', Buffer.concat([plain, Buffer.alloc(4096)]), 4096],
    ['the backup twice (cat a.bak a.bak)', Buffer.concat([plain, plain]), plain.length],
    ['a compressed backup twice', Buffer.concat([compressed, compressed]), compressed.length],
  ])('GIVEN %s WHEN read THEN extra data after the end of the set, not "cut short"', async (_, bytes, extra) => {
    for (const depth of depths) {
      const report = await readBackupFile(bufferSource(bytes), { depth });
      expect(report.problems).toEqual([
        expect.objectContaining({ code: 'EXTRA_DATA', message: expect.stringMatching(new RegExp(`goes on for ${extra} more bytes`)) }),
      ]);
      expect(report.facts.extraBytes).toBe(extra);
      expect(judgeBackupFile(report).ok).toBe(false);
    }
  });

  test.each([
    ['far before the start', 0x200],
    ['past the end of the file', 2 ** 40],
    ['at the final filemark itself', -1],
  ])('GIVEN a final filemark that names the end-of-set filemark %s WHEN read THEN a damaged end, bounded reads', async (_, pointer) => {
    const bytes = Buffer.from(plain);
    bytes.writeBigUInt64LE(BigInt(pointer < 0 ? bytes.length - 512 : pointer), bytes.length - 512 + 0x48);
    const reads: number[] = [];
    const report = await readBackupFile({
      size: bytes.length,
      read: async (offset, length) => (reads.push(length), bytes.subarray(offset, offset + length)),
    });
    expect(Math.max(...reads)).toBeLessThanOrEqual(MAX_READ_BYTES);
    expect(report.problems.map((p) => p.code)).toEqual([expect.stringMatching(/END_DAMAGED|TRUNCATED/)]);
  });

  test('GIVEN a whole backup followed by ~100 GiB of other data ending in a copy of its end WHEN read bounded THEN a few MiB read, and the data after the set is named', async () => {
    const size = 100 * 1024 ** 3;
    const tail = plain.subarray(plain.length - 0x20000);
    let total = 0;
    const report = await readBackupFile({
      size,
      read: async (offset, length) => {
        total += length;
        const out = Buffer.alloc(length);
        if (offset < plain.length) plain.copy(out, 0, offset, Math.min(plain.length, offset + length));
        const tailAt = size - tail.length;
        if (offset + length > tailAt) tail.copy(out, Math.max(0, tailAt - offset), Math.max(0, offset - tailAt));
        return out;
      },
    });
    expect(total).toBeLessThan(16 * 1024 * 1024);
    expect(report.problems).toEqual([
      expect.objectContaining({
        code: 'EXTRA_DATA',
        message: expect.stringMatching(
          new RegExp(`ends at byte ${plain.length}, but the file goes on for ${size - plain.length} more bytes`),
        ),
      }),
    ]);
    expect(judgeBackupFile(report).ok).toBe(false);
  });
});

describe('readBackupFile: soft filemarks of 4096 bytes, and names that differ only in case', () => {
  const base = { server: 'SO-SQL01', backupSetName: 'x', startedAt: new Date('2026-11-30T02:00:00Z'), database: 'SuperOffice' };

  test.each(depths)(
    'GIVEN a backup whose TAPE header says 8 × 512-byte soft filemarks WHEN read (%s) THEN read with 4096-byte filemarks, complete',
    async (depth) => {
      const report = await readBackupFile(bufferSource(backupFile({ ...base, filemarkBytes: 4096 })), { depth });
      expect(report.problems).toEqual([]);
      expect(report.facts).toMatchObject({ filemarkBytes: 4096, complete: true });
      expect(judgeBackupFile(report, { database: 'SuperOffice' }).ok).toBe(true);
    },
  );

  test('GIVEN a backup of SuperOffice WHEN expected as "superoffice" THEN not the same name, and the reason says the names differ only in case', async () => {
    const report = await readBackupFile(bufferSource(backupFile(base)));
    const verdict = judgeBackupFile(report, { database: 'superoffice' });
    expect(verdict.ok).toBe(false);
    expect(verdict.reasons.join('\n')).toMatch(/differ only in upper\/lower case/);
  });
});
