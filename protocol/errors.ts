/** Base of every so-backup error: a stable `code` for machines, a message for people. */
export class SoBackupError extends Error {
  readonly code: string;
  /** Permanent errors are not worth retrying (bad input, refused credentials). */
  readonly permanent: boolean;
  constructor(code: string, message: string, options: { cause?: unknown; permanent?: boolean } = {}) {
    super(message, { cause: options.cause });
    this.name = 'SoBackupError';
    this.code = code;
    this.permanent = options.permanent ?? false;
  }
}

/** A message that is not valid JSON, not a known type, or breaks its schema or size limit. */
export class ProtocolError extends SoBackupError {
  /** The type of the message that broke its schema, when it is a type this direction knows (for an error's `inReplyTo`). */
  readonly messageType?: string;
  constructor(
    code: 'MESSAGE_TOO_LARGE' | 'MESSAGE_NOT_JSON' | 'MESSAGE_INVALID',
    message: string,
    options: { cause?: unknown; messageType?: string } = {},
  ) {
    super(code, message, { cause: options.cause, permanent: true });
    this.name = 'ProtocolError';
    if (options.messageType !== undefined) this.messageType = options.messageType;
  }
}
