// The only place that talks to SQL Server (through `mssql`). It turns vendor errors into
// ConnectorErrors with codes and explanations; the backup domain sees only DatabaseServer.
export * from './database-server';
export * from './mssql-database-server';
export * from './database-name';
