import { open, stat } from 'node:fs/promises';
import {
  type BackupFileFacts, type BackupFileReport, type BackupVerdict, type ByteSource, judgeBackupSet, readBackupFile,
} from '../../protocol';
import { usageError } from './cli-error';

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
        if (bytesRead === 0) throw new Error(`${path} shrank while it was read (ends before byte ${offset + done})`);
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

/**
 * `so-backup verify-backup FILE… [--database NAME]`: reads each file's header and end with the
 * backup-file reader (the one the validator uses) and judges them together: one file must be a whole
 * backup set; several files must be every media family (stripe) of one. Bad paths are usage errors.
 */
export async function verifyBackupFiles(paths: string[], options: { database?: string } = {}): Promise<VerifyBackupResult> {
  if (paths.length === 0) throw usageError('give the backup file(s) to check: so-backup verify-backup FILE… [--database NAME]');
  if (options.database !== undefined && options.database.trim() === '') throw usageError('--database needs the database name the backup must be of');
  for (const path of paths) {
    const info = await stat(path).catch(() => undefined);
    if (!info) throw usageError(`${path}: no such file`);
    if (!info.isFile()) throw usageError(`${path} is not a file (give the .bak or .trn file itself)`);
  }
  const files: VerifyBackupResult['files'] = [];
  for (const file of paths) {
    const source = await fileSource(file);
    try {
      files.push({ file, ...(await readBackupFile(source)) });
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
    lines.push(file, ...describeFacts(facts).map(([label, value]) => `  ${label.padEnd(13)} ${value}`));
    for (const p of problems) lines.push(`  problem       ${p.message}`);
    lines.push('');
  }
  const first = result.files[0]!.facts;
  if (result.verdict.ok) {
    const set = result.files.length > 1 ? ` (${result.files.length} media families)` : '';
    lines.push(`Verdict: OK: a complete, readable full backup of ${first.database}${set}${first.compressed ? ', compressed' : ''}.`);
  } else {
    lines.push('Verdict: NOT USABLE as a full backup:', ...result.verdict.reasons.map((r) => `  - ${r}`));
  }
  return lines.join('\n');
}

function describeFacts(f: BackupFileFacts): Array<[string, string]> {
  const unknown = '(not read)';
  return [
    ['format', f.format === 'unknown' ? 'not a SQL Server backup' : `${f.format === 'MTF' ? 'Microsoft Tape Format' : 'MSSQLBAK container'}, ${f.size} bytes`],
    ['compressed', f.format === 'unknown' ? unknown : f.compressed ? 'yes (decoded)' : 'no'],
    ['type', f.backupType ?? unknown],
    ['database', f.database ?? unknown],
    ['server', f.server ?? unknown],
    ['SQL Server', f.sqlVersion ?? unknown],
    ['backup date', f.backupStartedAt ? `${f.backupStartedAt.replace('T', ' ')} (server time, UTC${f.timeZone ?? '?'})` : unknown],
    ['copy-only', f.copyOnly === undefined ? unknown : f.copyOnly ? 'yes' : 'no'],
    ['families', f.family ? `family ${f.family.number} of ${f.family.count}${f.mediaSetId ? `, media set ${f.mediaSetId}` : ''}` : unknown],
    ['password', f.password.media || f.password.backupSet ? [f.password.media && 'media password', f.password.backupSet && 'backup set password'].filter(Boolean).join(', ') : 'none'],
    ['complete', f.complete ? 'yes (the end of the backup set is there and matches)' : 'no'],
  ];
}
