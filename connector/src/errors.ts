import { SoBackupError } from '../../protocol';

/** Errors raised by the connector carry a stable code that crosses the wire with the result. */
export class ConnectorError extends SoBackupError {
  constructor(code: string, message: string, options: { cause?: unknown; permanent?: boolean } = {}) {
    super(code, message, options);
    this.name = 'ConnectorError';
  }
}

export class ConfigError extends ConnectorError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('CONFIG_INVALID', message, { ...options, permanent: true });
    this.name = 'ConfigError';
  }
}
