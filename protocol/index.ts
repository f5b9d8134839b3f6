// The wire contract between the connector and the cloud: every WebSocket message, the run
// manifest and the S3 key layout. Imported by connector/, functions/ and local/; imports only zod and node:crypto.
export * from './errors';
export * from './envelope';
export * from './job';
export * from './progress';
export * from './result';
export * from './manifest';
export * from './key-layout';
export * from './session';
export * from './connector-auth';
export * from './parse-message';
