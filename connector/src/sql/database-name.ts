import { createHash } from 'node:crypto';
import { ConnectorError } from '../errors';

/**
 * Database names as SQL Server has them: a sysname (nvarchar(128)), which as a delimited
 * identifier may start with a digit and hold spaces, apostrophes, brackets and letters of any
 * script ("2two", "O'Brien CRM", "Kunde [Øst]", "顧客"). so-backup never pastes a name into
 * T-SQL: it goes in as a parameter (BACKUP/RESTORE DATABASE @database), or through QUOTENAME
 * where T-SQL takes no variable (DROP DATABASE). Source for the limits: "Database identifiers"
 * (learn.microsoft.com/sql/relational-databases/databases/database-identifiers).
 */
export const MAX_DATABASE_NAME_LENGTH = 128;

/** Why SQL Server would not have this name, or undefined when it is one SQL Server can have. */
export function databaseNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'is empty';
  // sysname counts UTF-16 code units, as JavaScript does.
  if (name.length > MAX_DATABASE_NAME_LENGTH)
    return `is ${name.length} characters long; SQL Server names (sysname) have at most ${MAX_DATABASE_NAME_LENGTH}`;
  // eslint-disable-next-line no-control-regex
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what this refuses or escapes
  if (/[\u0000-\u001f\u007f\uffff]/.test(name)) return 'contains a control character';
  if (/\s$/u.test(name)) return 'ends in a space: SQL Server ignores trailing spaces in names, so remove it';
  return undefined;
}

/** Throws DATABASE_NAME_INVALID (permanent) naming the problem, for a name SQL Server cannot have. */
export function checkDatabaseName(name: string): void {
  const problem = databaseNameProblem(name);
  if (problem)
    throw new ConnectorError('DATABASE_NAME_INVALID', `the database name ${JSON.stringify(name)} ${problem}`, { permanent: true });
}

/** Characters Windows does not allow in a file name (plus control characters), and "/". */
// eslint-disable-next-line no-control-regex
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what this refuses or escapes
const NOT_IN_FILE_NAMES = /[<>:"/\\|?*\u0000-\u001f\u007f]/g;
/** DOS device names Windows reserves, even with an extension after them ("CON.bak"). */
const RESERVED = /^(CON|PRN|AUX|NUL|COM[0-9¹²³]|LPT[0-9¹²³])(\.|$)/i;
/** Bytes of a name kept in a file name: with the run id (≤ 128), ".bak" and ".verified.json" after it, a staging file name stays within the 255 bytes Linux allows (NTFS: 255 UTF-16 units). */
const NAME_BYTES = 90;

/**
 * A database name made safe inside a file name on Windows and Linux: the name itself when it
 * already is; otherwise the name with `<>:"/\|?*` and control characters replaced by "_",
 * without trailing dots or spaces (Windows drops them), a reserved device name prefixed, cut
 * to 90 UTF-8 bytes, and the first 8 hex digits of the name's SHA-256 appended, so that two
 * names that differ only in the replaced characters never share a file.
 */
export function databaseFileName(database: string): string {
  let safe = database.replace(NOT_IN_FILE_NAMES, '_').replace(/[. ]+$/, '');
  if (RESERVED.test(safe)) safe = `_${safe}`;
  while (Buffer.byteLength(safe) > NAME_BYTES) safe = [...safe].slice(0, -1).join('');
  if (safe === database) return database;
  return `${safe}-${createHash('sha256').update(database).digest('hex').slice(0, 8)}`;
}
