import { SoBackupError } from '../protocol';

/**
 * Errors a handler throws to fail a state. Step Functions matches on `name`, so each name is a
 * stable error code visible in the execution history ("ConnectorOffline", "ValidationFailed").
 */
export class RunError extends SoBackupError {
  constructor(
    name: 'ConnectorOffline' | 'TenantNotFound' | 'TenantDisabled' | 'ValidationFailed' | 'BackupFailed' | 'InvalidInput' | 'RunConflict',
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(name, message, { ...options, permanent: true });
    this.name = name;
  }
}
