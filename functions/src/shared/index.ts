// What the Lambda handlers share that is about running as a Lambda: AWS clients configured from
// the environment, logging, metrics, event parsing. The cloud's data model and operations are in
// core/ (stores, enrolment, credential vending, run rules), which the CLI uses as well.
export * from './aws-clients';
export * from './logger';
export * from './metrics';
export * from './websocket-event';
// The BackupRun contract's input and run reference, for the modules that start and prepare runs.
export { backupRunInputSchema, type BackupRunInput, runRefSchema, type RunRef } from '../../../core/workflow';
