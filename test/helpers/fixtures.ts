import { existsSync } from 'node:fs';
import path from 'node:path';

/** Real SQL Server backups shipped beside the project (shared/fixtures/mssql); absent → tests skip. */
export const MSSQL_FIXTURES = path.resolve(__dirname, '..', '..', '..', 'shared', 'fixtures', 'mssql');
export const hasMssqlFixtures = existsSync(path.join(MSSQL_FIXTURES, 'singlerestore-full.bak'));
if (!hasMssqlFixtures) console.warn(`skipping tests on real SQL Server backups: ${MSSQL_FIXTURES} is absent`);
