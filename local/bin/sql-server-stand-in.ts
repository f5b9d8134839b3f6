// The SQL Server stand-in as a process: `tsx local/bin/sql-server-stand-in.ts CONFIG.json`.
import { readFileSync } from 'node:fs';
import { SqlServerStandIn, type SqlServerStandInOptions } from '../tds/sql-server-stand-in';

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: sql-server-stand-in CONFIG.json\n');
  process.exit(2);
}
const options = JSON.parse(readFileSync(file, 'utf8')) as SqlServerStandInOptions;
const server = new SqlServerStandIn(options);
server.start().then(
  () => {
    process.stdout.write(`SQL Server stand-in listening on 127.0.0.1:${options.port}\n`);
    const stop = () => void server.stop().then(() => process.exit(0));
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  },
  (error: unknown) => {
    process.stderr.write(`SQL Server stand-in failed: ${String(error)}\n`);
    process.exit(1);
  },
);
