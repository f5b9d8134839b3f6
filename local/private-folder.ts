import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';

/**
 * Makes `dir` (and any missing parents) and leaves it readable by its owner only (mode 0700), so
 * that other local users cannot read what local mode keeps there: the SQL Server stand-in's login,
 * the operator's key, DynamoDB's and Ceph's files, the logs. A folder made by an earlier version
 * (0755) is tightened too: mkdir's mode applies only to folders it creates.
 * @throws the file system's error when `dir` cannot be made or changed (not its owner: EPERM).
 */
export function makePrivateFolder(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

/**
 * Writes a file that holds a secret (a login, a key, credentials), readable by its owner only (mode
 * 0600): also one an earlier version left readable by others, since writeFile's mode applies only
 * to a file it creates.
 */
export function writePrivateFile(file: string, text: string): void {
  writeFileSync(file, text, { mode: 0o600 });
  chmodSync(file, 0o600);
}
