import { open, stat } from 'node:fs/promises';
import {
  type BackupFileFacts,
  type BackupFileReport,
  type BackupVerdict,
  type ByteSource,
  judgeBackupSet,
  readBackupFile,
  type ReadCoverage,
} from '../../protocol';
import { CliError, EXIT, usageError } from './cli-error';

/** A ByteSource over a local file: positioned reads, never the whole file in memory. */
export async function fileSource(path: string): Promise<ByteSource & { close(): Promise<void> }> {
  const handle = await open(path, 'r');
  const { size } = await handle.stat();
  return {
    size,
    read: async (offset, length) => {
      const buffer = Buffer.alloc(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await handle.read(buffer, done, length - done, offset + done);
        if (bytesRead === 0)
          throw Object.assign(new Error(`the file shrank while it was read (it ends before byte ${offset + done})`), { code: 'ESHRANK' });
        done += bytesRead;
      }
      return buffer;
    },
    close: () => handle.close(),
  };
}

export interface VerifyBackupResult {
  files: Array<{ file: string } & BackupFileReport>;
  verdict: BackupVerdict;
  database?: string;
}

/** What an operating-system error on a file means, in words (the code stays in the message). */
const IO_ERRORS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EIO: 'input/output error (a disk or network drive failed)',
  EISDIR: 'it is a folder',
  ENOENT: 'it disappeared',
  EMFILE: 'too many open files',
  EBUSY: 'the file is locked by another program',
  ESHRANK: 'the file shrank while it was read: another program is writing it',
};

/** An operating-system error (it has an errno-style code), as opposed to a fault of this program. */
const isIoError = (error: unknown) =>
  typeof (error as { code?: unknown }).code === 'string' && /^E[A-Z]+$/.test((error as { code: string }).code);

/** A file that cannot be read is not a verdict on the backup: exit 6 (EXIT.unreadable), naming the file and the error. */
function unreadable(path: string, error: unknown): CliError {
  const code = (error as { code?: string }).code;
  const reason = code ? `${code}: ${IO_ERRORS[code] ?? (error as Error).message}` : ((error as Error).message ?? String(error));
  return new CliError(
    `${path} cannot be read (${reason}): nothing was checked. Check the file's permissions (run as a user who may read it, or copy it somewhere readable) and try again`,
    EXIT.unreadable,
  );
}

/**
 * `so-backup verify-backup FILE… [--database NAME] [--quick]`: reads each file with the backup-file
 * reader (the one the validator uses) and judges them together: one file must be a whole backup
 * set; several files must be every media family (stripe) of one. By default every byte is read
 * (depth 'whole': every block, every compressed chunk decoded, every page checksum); `quick` reads
 * what the validator reads (depth 'bounded'). Bad paths are usage errors (exit 2); a file that
 * cannot be read (permission, I/O error) is a CliError with EXIT.unreadable (6), never a verdict.
 * `openFile` opens a file (fileSource; tests inject I/O faults there).
 */
export async function verifyBackupFiles(
  paths: string[],
  options: { database?: string; quick?: boolean } = {},
  openFile: typeof fileSource = fileSource,
): Promise<VerifyBackupResult> {
  if (paths.length === 0) throw usageError('give the backup file(s) to check: so-backup verify-backup FILE… [--database NAME]');
  if (options.database !== undefined && options.database.trim() === '')
    throw usageError('--database needs the database name the backup must be of');
  for (const path of paths) {
    const info = await stat(path).catch((error: unknown) =>
      (error as { code?: string }).code === 'ENOENT' ? undefined : Promise.reject(unreadable(path, error)),
    );
    if (!info) throw usageError(`${path}: no such file`);
    if (!info.isFile()) throw usageError(`${path} is not a file (give the .bak or .trn file itself)`);
  }
  const files: VerifyBackupResult['files'] = [];
  for (const file of paths) {
    const source = await openFile(file).catch((error: unknown) => Promise.reject(unreadable(file, error)));
    try {
      const report = await readBackupFile(source, { depth: options.quick ? 'bounded' : 'whole' }).catch((error: unknown) =>
        Promise.reject(isIoError(error) ? unreadable(file, error) : error),
      );
      files.push({ file, ...report });
    } finally {
      await source.close();
    }
  }
  return { files, verdict: judgeBackupSet(files, { database: options.database, backupType: 'full' }), database: options.database };
}

/** The human-readable report: what each file holds, then the verdict. */
export function renderVerification(result: VerifyBackupResult): string {
  const lines: string[] = [];
  for (const { file, facts, problems } of result.files) {
    lines.push(file, ...[...describeFacts(facts), ...describeCoverage(facts)].map(([label, value]) => `  ${label.padEnd(13)} ${value}`));
    for (const p of problems) lines.push(`  problem       ${p.message}`);
    lines.push('');
  }
  const first = result.files[0]!.facts;
  if (result.verdict.ok) {
    const set = result.files.length > 1 ? ` (${result.files.length} media families)` : '';
    const whole = result.files.every((f) => f.facts.coverage.depth === 'whole');
    lines.push(`Verdict: OK: a complete, readable full backup of ${first.database}${set}${first.compressed ? ', compressed' : ''}.`);
    lines.push(
      whole
        ? 'Every byte was read: every MTF block and stream, every compressed chunk decoded, every page checksum SQL Server wrote verified. Pages without a checksum, and what the pages mean, only a RESTORE (or RESTORE VERIFYONLY) proves.'
        : 'Quick check (--quick): the structure, the start, the end and a random sample of the middle were read, not every byte. Run without --quick to read the whole file.',
    );
  } else {
    lines.push('Verdict: NOT USABLE as a full backup:', ...result.verdict.reasons.map((r) => `  - ${r}`));
  }
  return lines.join('\n');
}

function describeFacts(f: BackupFileFacts): Array<[string, string]> {
  const unknown = '(not read)';
  return [
    [
      'format',
      f.format === 'unknown'
        ? 'not a SQL Server backup'
        : `${f.format === 'MTF' ? 'Microsoft Tape Format' : 'MSSQLBAK container'}, ${f.size} bytes`,
    ],
    ...(f.blockSize !== undefined
      ? [['MTF blocks', `${f.blockSize}-byte logical blocks, ${f.filemarkBytes}-byte soft filemarks (TAPE header)`] as [string, string]]
      : []),
    ['compressed', f.format === 'unknown' ? unknown : f.compressed ? 'yes (decoded)' : 'no'],
    ['type', f.backupType ?? unknown],
    ['database', f.database ?? unknown],
    ['server', f.server ?? unknown],
    ['SQL Server', f.sqlVersion ?? unknown],
    ['backup date', f.backupStartedAt ? `${f.backupStartedAt.replace('T', ' ')} (server time, UTC${f.timeZone ?? '?'})` : unknown],
    ['copy-only', f.copyOnly === undefined ? unknown : f.copyOnly ? 'yes' : 'no'],
    ['families', f.family ? `family ${f.family.number} of ${f.family.count}${f.mediaSetId ? `, media set ${f.mediaSetId}` : ''}` : unknown],
    [
      'password',
      f.password.media || f.password.backupSet
        ? [f.password.media && 'media password', f.password.backupSet && 'backup set password'].filter(Boolean).join(', ')
        : 'none',
    ],
    ['complete', f.complete ? 'yes (the end of the backup set is there and matches)' : 'no'],
  ];
}

/** What was read and checked, in words (the verdict rests on it; docs/backup-files.md). */
function describeCoverage(f: BackupFileFacts): Array<[string, string]> {
  if (f.format === 'unknown') return [];
  const c: ReadCoverage = f.coverage;
  const blocks = Object.entries(c.blocks)
    .map(([type, n]) => `${n} ${type}`)
    .join(', ');
  const p = c.pages;
  const pages = `${p.checked} page slot(s) looked at: ${p.verified} page checksum(s) verified, ${p.checksumFailed} failed, ${p.noChecksum} page(s) without a checksum, ${p.zero + p.notAPage} unformatted`;
  const lines: Array<[string, string]> = [
    [
      'read',
      c.depth === 'whole' ? `every byte of the ${f.size}-byte file` : `${c.bytesRead} of ${f.size} bytes in ${c.reads} reads (--quick)`,
    ],
  ];
  lines.push([
    'blocks',
    `${blocks || 'none'}${c.structureWalked ? ' (every block walked, each where the one before ends)' : ''}${c.notWalked ? `; not walked: ${c.notWalked.from}–${c.notWalked.to}` : ''}`,
  ]);
  if (c.chunksDecoded !== undefined) lines.push(['chunks', `${c.chunksDecoded} compressed chunk(s) decoded`]);
  lines.push(['pages', pages]);
  const formatted = p.verified + p.checksumFailed + p.noChecksum;
  if (c.depth === 'whole' && p.checked > 0 && p.zero + p.notAPage > formatted) {
    lines.push([
      'note',
      "most page slots are unformatted (zeros, or no page header): normal only for a database with much allocated but unused space; otherwise its pages were lost (compare with the database's used space, or restore it)",
    ]);
  }
  if (c.sampledWindows) lines.push(['sampled', `${c.sampledWindows} random window(s) of the middle, ${c.sampledBytes ?? 0} bytes`]);
  if (f.extraBytes) lines.push(['extra data', `${f.extraBytes} bytes after the end of the backup set`]);
  return lines;
}
