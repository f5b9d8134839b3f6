// The workflow contract: the state machines' states, what each state receives and hands on, and
// the schemas both the constructs (infra/) and the handlers (functions/) are built from.
export * from './json-path';
export * from './lambda-task';
export * from './backup-run';
export * from './daily-backups';
