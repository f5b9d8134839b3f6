/**
 * Reads what a SQL Server backup file says about itself from its first bytes, without SQL
 * Server: uncompressed backups are Microsoft Tape Format (block "TAPE" at 0; the SSET block's
 * attributes give the type; the MSCI/SCIN structure names the database and server), compressed
 * ones start with "MSSQLBAK". Tested against real backups in shared/fixtures/mssql.
 */
export interface BackupHeader {
  format: 'MTF' | 'MSSQLBAK';
  backupType?: 'full' | 'differential' | 'log';
  database?: string;
  server?: string;
}

/** Bytes to read from the start of a backup to find its header. */
export const BACKUP_HEADER_BYTES = 64 * 1024;
const SSET_OFFSET = 0x600;

export function parseBackupHeader(head: Buffer): BackupHeader | undefined {
  if (head.subarray(0, 8).toString('latin1') === 'MSSQLBAK') return { format: 'MSSQLBAK' };
  if (head.subarray(0, 4).toString('latin1') !== 'TAPE') return undefined;
  const header: BackupHeader = { format: 'MTF' };
  if (head.length >= SSET_OFFSET + 0x38 && head.subarray(SSET_OFFSET, SSET_OFFSET + 4).toString('latin1') === 'SSET') {
    const attributes = head.readUInt32LE(SSET_OFFSET + 0x34);
    const hasLogStream = head.includes('MSTL', 0, 'latin1');
    header.backupType = hasLogStream ? 'log' : attributes === 8 ? 'differential' : attributes === 4 ? 'full' : undefined;
  }
  const scin = head.indexOf('SCIN', 0xe00, 'latin1');
  if (scin > 0 && scin + 0x70 <= head.length) {
    header.database = ucs2At(head, scin, 0x68);
    header.server = ucs2At(head, scin, 0x6c);
  }
  return header;
}

function ucs2At(head: Buffer, base: number, pointer: number): string | undefined {
  const size = head.readUInt16LE(base + pointer);
  const offset = head.readUInt16LE(base + pointer + 2);
  const start = base + offset;
  if (size === 0 || size % 2 !== 0 || size > 512 || start + size > head.length) return undefined;
  const text = head.subarray(start, start + size).toString('utf16le');
  // eslint-disable-next-line no-control-regex
  return /^[^\u0000-\u001f]+$/.test(text) ? text : undefined;
}
