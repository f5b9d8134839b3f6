// The backup domain: what a backup job does, in order, and the archive mirror. Talks to SQL
// Server, S3 and the cloud only through the DatabaseServer and ObjectStore interfaces it is given;
// imports no mssql, ws or AWS SDK.
export * from './archive-backup';
export * from './archive-index';
export * from './archive-mirror';
export * from './archive-rebuild';
export * from './archive-scan';
export * from './backup-job-runner';
