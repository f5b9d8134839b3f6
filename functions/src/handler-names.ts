/** Every Lambda handler, by its folder under functions/src. */
export const HANDLER_NAMES = [
  'authorizer',
  'connect',
  'disconnect',
  'message',
  'prepare-run',
  'request-backup',
  'validate-run',
  'finalize-run',
  'mark-run-failed',
  'list-tenants',
  'check-stale-tenants',
  'request-drills',
] as const;
export type HandlerName = (typeof HANDLER_NAMES)[number];
