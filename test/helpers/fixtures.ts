import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describeWith, MSSQL_FIXTURES, mssqlFixtures } from './prerequisites';

/**
 * Real SQL Server backups shipped beside the project (shared/fixtures/mssql, read-only; never copied
 * into the repository). Absent outside CI → the tests that need them skip with a message; absent
 * under CI=true → those tests fail, so CI never passes without them (see prerequisites.ts).
 */
export { MSSQL_FIXTURES };

/** `describe` when the real backups are present (see describeWith). */
export function describeWithMssqlFixtures(name: string, body: () => void): void {
  describeWith([mssqlFixtures], name, body);
}

/** One real backup file's bytes. */
export function mssqlFixture(file: string): Buffer {
  return readFileSync(path.join(MSSQL_FIXTURES, file));
}
