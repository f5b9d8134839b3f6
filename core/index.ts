// The cloud's core: its data model and the operations both the Lambda handlers (functions/) and
// the operator CLI (cli/) perform. It reads no environment and creates no AWS client: callers pass
// their clients and table names, so a handler, the CLI and a test use the same code.
export * from './aws-errors';
export * from './backup-window';
export * from './connection-messages';
export * from './enrolment';
export * from './errors';
export * from './presence';
export * from './run-name';
export * from './run-operations';
export * from './run-rules';
export * from './schedule';
export * from './seeding';
export * from './stack-outputs';
export * from './stores';
export * from './task-responder';
export * from './tenant-credential';
export * from './upload-credentials';
