import { awsErrorKind, deniedAction, RunConflictError } from '../../core';
import { SoBackupError } from '../../protocol';

/** Exit codes of so-backup, documented in the README ("Operating"). */
export const EXIT = {
  ok: 0,
  /** The backup (or drill) ran and failed, or a step of the command failed. */
  failed: 1,
  /** Bad arguments: the message says which and what to give instead. */
  usage: 2,
  /** Unknown tenant or run. */
  notFound: 3,
  /** The caller's credentials may not do this; the message names the action. */
  denied: 4,
  /** The stack, local mode or credentials cannot be found or reached. */
  environment: 5,
  /** A local file the command must read cannot be read (permission, I/O error): the message names the file and the error. */
  unreadable: 6,
  /** `--wait` was interrupted with Ctrl-C: detached, the backup goes on. */
  detached: 130,
} as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failed,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const usageError = (message: string) => new CliError(message, EXIT.usage);
export const notFound = (message: string) => new CliError(message, EXIT.notFound);

/**
 * Turns what the AWS SDK (or a refused local connection) throws into an error an operator can
 * act on: which permission is missing, which endpoint does not answer.
 */
export function explainAwsError(error: unknown, doing: string): CliError {
  if (error instanceof CliError) return error;
  const e = error as { name?: string; message?: string };
  const message = e.message ?? String(error);
  switch (awsErrorKind(error)) {
    case 'denied': {
      const action = deniedAction(error);
      return new CliError(`no permission ${doing}${action ? `: your credentials lack ${action}` : ''} (${message})`, EXIT.denied);
    }
    case 'no-credentials':
      return new CliError(
        `no AWS credentials ${doing}: configure them (AWS_PROFILE, aws sso login, or environment variables), or use --local for local mode`,
        EXIT.environment,
      );
    case 'unreachable':
      return new CliError(
        `nothing answers ${doing} (${message}): is local mode running? Start it with \`npm run local -- --keep\``,
        EXIT.environment,
      );
    default:
      return new CliError(`${doing} failed: ${e.name ?? 'Error'}: ${message}`);
  }
}

/**
 * What core's operations refuse, as the CLI says it: an unknown tenant (exit 3), a disabled one,
 * a backup already running (exit 1, naming the run and how to follow it), nothing to cancel (exit 3).
 */
export function explainCoreError(error: unknown, tenantId: string): unknown {
  if (!(error instanceof SoBackupError)) return error;
  if (error instanceof RunConflictError) {
    return new CliError(`${error.message}; follow it with \`so-backup run show ${error.running.runId}\``, EXIT.failed);
  }
  switch (error.code) {
    case 'TenantNotFound':
      return notFound(`unknown tenant "${tenantId}": \`so-backup tenants list\` shows the tenants`);
    case 'TenantDisabled':
      return new CliError(`tenant "${tenantId}" is disabled: \`so-backup tenants enable ${tenantId}\` first`, EXIT.failed);
    case 'NoRunningRun':
      return notFound(error.message);
    default:
      return error;
  }
}
