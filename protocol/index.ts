// The wire contract between the connector and the cloud: every WebSocket message, the run
// manifest, the S3 key layout, and what a SQL Server backup file is (the backup-file reader, pure: the
// caller hands it the bytes). Imported by connector/, functions/, cli/ and local/; imports only zod and node's crypto and zlib.
export * from './errors';
export * from './envelope';
export * from './job';
export * from './progress';
export * from './result';
export * from './manifest';
export * from './archive-progress';
export * from './stored-documents';
export * from './archive-path';
export * from './key-layout';
export * from './session';
export * from './connector-auth';
export * from './parse-message';
export * from './backup-file-reader';
export * from './bandwidth';
export * from './token-bucket';
export * from './gateway-frame';
export * from './message-budget';
export * from './presence';
