import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { buildSync } from 'esbuild';
import path from 'node:path';
import { fileSource, renderVerification, verifyBackupFiles } from '../../cli/src/verify-backup';
import { backupFile, databasePages } from '../../local/tds/mtf-backup-file';
import { describeWithMssqlFixtures, MSSQL_FIXTURES } from '../helpers/fixtures';
import { USER_NODE } from '../../local/daemons';

const ROOT = path.resolve(__dirname, '..', '..');
const dir = mkdtempSync(path.join(tmpdir(), 'so-backup-verify-'));
const startedAt = new Date('2026-11-30T02:00:00Z');
/** 128 KiB of the stand-in's pages of a database (file header 1:0, … boot page 1:9, data pages). */
const pagesOf = (database: string) => Buffer.concat([...databasePages(database, 128 * 1024)]);
const write = (name: string, body: Buffer) => {
  const file = path.join(dir, name);
  writeFileSync(file, body);
  return file;
};
const superOffice = (options: Partial<Parameters<typeof backupFile>[0]> = {}) =>
  backupFile(
    { database: 'SuperOffice', server: 'SO-SQL01', backupSetName: 'SuperOffice-Full Database Backup', startedAt, ...options },
    pagesOf('SuperOffice'),
  );

const mediaSetId = randomBytes(16);
const files = {
  full: write('full.bak', superOffice()),
  compressed: write('compressed.bak', superOffice({ compressed: true })),
  stripe1: write('stripe-1.bak', superOffice({ family: { count: 2, number: 1, mediaSetId } })),
  stripe2: write('stripe-2.bak', superOffice({ family: { count: 2, number: 2, mediaSetId } })),
  otherSet: write('other-set-2.bak', superOffice({ family: { count: 2, number: 2, mediaSetId: randomBytes(16) } })),
  differential: write('diff.bak', superOffice({ backupType: 'differential' })),
  truncated: write('truncated.bak', superOffice().subarray(0, 1024)),
};

describe('verifyBackupFiles', () => {
  test.each([
    ['one complete full backup', [files.full], 'SuperOffice', true, undefined],
    ['a compressed full backup', [files.compressed], 'SuperOffice', true, undefined],
    ['both stripes of a two-family backup', [files.stripe1, files.stripe2], 'SuperOffice', true, undefined],
    ['the stripes in either order', [files.stripe2, files.stripe1], undefined, true, undefined],
    ['one stripe of two', [files.stripe1], undefined, false, /family 1 of 2 of a striped backup: the backup set is incomplete/],
    ['stripes of two different backups', [files.stripe1, files.otherSet], undefined, false, /2 different media sets/],
    [
      'the same stripe twice',
      [files.stripe1, files.stripe1],
      undefined,
      false,
      /family 1 is given more than once.*family 2 is missing|family 2 is missing/,
    ],
    ['a backup of another database', [files.full], 'CRM7', false, /backup of database "SuperOffice", not "CRM7"/],
    ['a differential backup', [files.differential], undefined, false, /a differential backup, not a full one/],
    ['the first 1 KiB of a backup', [files.truncated], undefined, false, /the file ends at 1024 bytes/],
  ])('GIVEN %s WHEN verified THEN the verdict is right', async (_, paths, database, ok, reason) => {
    const result = await verifyBackupFiles(paths, { database });
    expect(result.verdict.ok).toBe(ok);
    if (reason) expect(result.verdict.reasons.join('\n')).toMatch(reason);
    expect(renderVerification(result)).toMatch(
      ok ? /^Verdict: OK: a complete, readable full backup of SuperOffice/m : /^Verdict: NOT USABLE as a full backup:/m,
    );
  });

  test('GIVEN a compressed backup WHEN rendered THEN every fact the reader found is printed', async () => {
    const text = renderVerification(await verifyBackupFiles([files.compressed]));
    for (const line of [
      /format +MSSQLBAK container/,
      /MTF blocks +1024-byte logical blocks, 512-byte soft filemarks/,
      /compressed +yes \(decoded\)/,
      /type +full/,
      /database +SuperOffice/,
      /server +SO-SQL01/,
      /SQL Server +16\.0\.4135/,
      /backup date +2026-11-30 02:00:00 \(server time, UTC\+00:00\)/,
      /copy-only +no/,
      /families +family 1 of 1/,
      /password +none/,
      /complete +yes/,
    ]) {
      expect(text).toMatch(line);
    }
  });

  test.each([
    ['no file', [], /give the backup file/],
    ['a missing file', [path.join(dir, 'nope.bak')], /nope.bak: no such file/],
    ['a folder', [dir], /is not a file/],
  ])('GIVEN %s WHEN verified THEN a usage error (exit 2)', async (_, paths, message) => {
    await expect(verifyBackupFiles(paths)).rejects.toMatchObject({ exitCode: 2, message: expect.stringMatching(message) });
  });
});

/** The real command, as support and customers run it. */
function soBackup(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(USER_NODE, [path.join(ROOT, 'cli', 'bin', 'so-backup.cjs'), ...args], { cwd: dir }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('so-backup verify-backup (the command)', () => {
  test('GIVEN a good backup, a wrong name, a bad path WHEN run THEN exit 0, 1 with the reason, 2', async () => {
    const good = await soBackup('verify-backup', files.compressed, '--database', 'SuperOffice');
    expect(good).toMatchObject({ code: 0, stdout: expect.stringMatching(/Verdict: OK/) });
    const wrong = await soBackup('verify-backup', files.compressed, '--database', 'Other');
    expect(wrong).toMatchObject({ code: 1, stdout: expect.stringMatching(/backup of database "SuperOffice", not "Other"/) });
    const missing = await soBackup('verify-backup', path.join(dir, 'missing.bak'));
    expect(missing).toMatchObject({ code: 2, stderr: expect.stringMatching(/missing.bak: no such file/) });
    const json = await soBackup('--json', 'verify-backup', files.stripe1);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({
      verdict: { ok: false },
      files: [{ facts: { family: { count: 2, number: 1 }, complete: true } }],
    });
  }, 60_000);
});

describeWithMssqlFixtures('so-backup verify-backup on real SQL Server backups', () => {
  test.each([
    ['singlerestore-full.bak', 'singlerestore', true, /Verdict: OK/],
    ['sharepoint-config-compressed.bak', 'SharePoint_Config', true, /Verdict: OK: .*, compressed/],
    ['sharepoint-config-compressed.bak', 'SuperOffice', false, /backup of database "SharePoint_Config", not "SuperOffice"/],
    ['difftest-diff1.bak', 'doublediff', false, /a differential backup/],
    ['db1-log.trn', 'db1', false, /a transaction log backup/],
  ])('GIVEN %s and --database %s WHEN verified THEN ok is %s', async (file, database, ok, text) => {
    const result = await verifyBackupFiles([path.join(MSSQL_FIXTURES, file)], { database });
    expect(result.verdict.ok).toBe(ok);
    expect(renderVerification(result)).toMatch(text);
  });
});

describe('so-backup verify-backup: what it reads, and files it cannot read (issue 16 review)', () => {
  test('GIVEN a file the user may not read WHEN verified THEN exit 6 (not a verdict) naming the file and the error, one "so-backup:" prefix', async () => {
    const file = write('unreadable.bak', superOffice());
    chmodSync(file, 0o600);
    chmodSync(dir, 0o755);
    // As root, permissions do not stop a read: run the command as nobody, as the tester did.
    const asOther = process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : [];
    if (asOther.length === 0) chmodSync(file, 0o000);
    // nobody may not reach this checkout (a clone under a 0700 folder): it runs the command bundled into the test's own folder.
    const program = path.join(dir, 'so-backup.cjs');
    buildSync({
      entryPoints: [path.join(ROOT, 'cli', 'bin', 'so-backup.ts')],
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      outfile: program,
      logLevel: 'error',
    });
    chmodSync(program, 0o755);
    const result = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const [command, ...args] = [...asOther, USER_NODE, program, 'verify-backup', file];
      execFile(command!, args, { cwd: dir }, (error, stdout, stderr) =>
        resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    expect(result).toMatchObject({ code: 6, stdout: '' });
    expect(result.stderr).toMatch(/^so-backup: .*unreadable\.bak cannot be read \(EACCES: permission denied\): nothing was checked/);
    expect(result.stderr).not.toMatch(/so-backup failed|so-backup: so-backup/);
  }, 60_000);

  test('GIVEN a read that fails in the middle of the file (I/O error) WHEN verified THEN a CliError with exit 6, not "not usable"', async () => {
    await expect(
      verifyBackupFiles([files.full], {}, async (file) => {
        const source = await fileSource(file);
        return {
          ...source,
          read: async (offset, length) =>
            offset > 0x1000
              ? Promise.reject(Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' }))
              : source.read(offset, length),
        };
      }),
    ).rejects.toMatchObject({ exitCode: 6, message: expect.stringMatching(/full\.bak cannot be read \(EIO: input\/output error/) });
  });

  test('GIVEN a backup whose data pages are damaged in the middle WHEN verified THEN not usable, and --quick says it read only a sample', async () => {
    const bytes = superOffice();
    const damaged = Buffer.from(bytes);
    damaged[bytes.length / 2] = damaged[bytes.length / 2]! ^ 0xff; // inside one of the 16 pages: its checksum fails
    const file = write('damaged-middle.bak', damaged);
    const whole = await verifyBackupFiles([file], { database: 'SuperOffice' });
    expect(whole.verdict.reasons.join('\n')).toMatch(/page\(s\) fail their page checksum/);
    const good = renderVerification(await verifyBackupFiles([files.full]));
    expect(good).toMatch(/read +every byte of the \d+-byte file/);
    expect(good).toMatch(/Every byte was read/);
    const quick = renderVerification(await verifyBackupFiles([files.full], { quick: true }));
    expect(quick).toMatch(/Quick check \(--quick\): .* not every byte/);
  });
});

describeWithMssqlFixtures('so-backup verify-backup: a backup whose pages are mostly zeros', () => {
  test('GIVEN singlerestore-full.bak with every page after the first 16 zeroed WHEN verified THEN the report notes that most page slots are unformatted', async () => {
    const bytes = Buffer.from(readFileSync(path.join(MSSQL_FIXTURES, 'singlerestore-full.bak'))).fill(0, 0x1e00 + 16 * 8192, 0x151e00);
    const result = await verifyBackupFiles([write('mostly-zeros.bak', bytes)]);
    // Zeroed pages cannot be told from never-formatted pages of allocated extents: not a failure, but said.
    expect(result.verdict.ok).toBe(true);
    const text = renderVerification(result);
    expect(text).toMatch(/note +most page slots are unformatted/);
  });
});
