/**
 * The one reading of what the AWS SDK (or a refused connection) throws, for handlers and the CLI
 * alike. The SDK names a service error by its `name` (the error code of the service's API
 * reference: DynamoDB's ConditionalCheckFailedException, Step Functions' ExecutionAlreadyExists,
 * API Gateway's GoneException, …); a network failure carries a Node.js `code` (ECONNREFUSED).
 */
export type AwsErrorKind =
  /** The caller's credentials may not do this (IAM). */
  | 'denied'
  /** No credentials could be found. */
  | 'no-credentials'
  /** Nothing answers at the endpoint. */
  | 'unreachable'
  /** A conditional write's condition did not hold (DynamoDB ConditionalCheckFailedException). */
  | 'condition-failed'
  /** StartExecution: the name is taken (Step Functions ExecutionAlreadyExists). */
  | 'execution-exists'
  /** The execution is not known (Step Functions ExecutionDoesNotExist, or a malformed execution ARN). */
  | 'execution-missing'
  /** A waiting task already ended (timed out, failed or answered): TaskTimedOut, TaskDoesNotExist, InvalidToken. */
  | 'task-gone'
  /** The WebSocket connection is gone (API Gateway GoneException, HTTP 410). */
  | 'connection-gone'
  | 'other';

interface SdkError {
  name?: string;
  message?: string;
  code?: string;
  cause?: { code?: string };
  $metadata?: { httpStatusCode?: number };
}

const BY_NAME: Record<string, AwsErrorKind> = {
  AccessDeniedException: 'denied',
  AccessDenied: 'denied',
  UnauthorizedOperation: 'denied',
  CredentialsProviderError: 'no-credentials',
  ConditionalCheckFailedException: 'condition-failed',
  ExecutionAlreadyExists: 'execution-exists',
  ExecutionDoesNotExist: 'execution-missing',
  InvalidArn: 'execution-missing',
  TaskTimedOut: 'task-gone',
  TaskDoesNotExist: 'task-gone',
  InvalidToken: 'task-gone',
  GoneException: 'connection-gone',
};

/** What kind of failure an SDK error is (see AwsErrorKind). */
export function awsErrorKind(error: unknown): AwsErrorKind {
  const e = (error ?? {}) as SdkError;
  const message = e.message ?? String(error);
  const named = e.name === undefined ? undefined : BY_NAME[e.name];
  if (named) return named;
  if (e.$metadata?.httpStatusCode === 403) return 'denied';
  if (e.$metadata?.httpStatusCode === 410) return 'connection-gone';
  if (/Could not load credentials/i.test(message)) return 'no-credentials';
  if ((e.code ?? e.cause?.code) === 'ECONNREFUSED' || /ECONNREFUSED/.test(message)) return 'unreachable';
  return 'other';
}

/** The task already ended (timed out, failed, or answered): nothing left to tell it. */
export function isTaskGone(error: unknown): boolean {
  return awsErrorKind(error) === 'task-gone';
}

/** The IAM action a denial names ("… is not authorized to perform: states:StartExecution …"), if it names one. */
export function deniedAction(error: unknown): string | undefined {
  return /perform: ([\w:-]+)/.exec((error as SdkError | undefined)?.message ?? '')?.[1];
}
