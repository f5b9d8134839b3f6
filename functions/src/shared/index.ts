// Code shared by the Lambda handlers: AWS clients configured from the environment, the
// DynamoDB stores, credential vending, errors and logging. No handler logic lives here.
export * from './aws-clients';
export * from './errors';
export * from './logger';
export * from './metrics';
export * from './stores';
export * from './tenant-credential';
export * from './enrolment';
export * from './upload-credentials';
export * from './websocket-event';
export * from './task-responder';
// The BackupRun contract's input and run reference, for the modules that start and prepare runs.
export { backupRunInputSchema, type BackupRunInput, runRefSchema, type RunRef } from '../../../core/workflow';
