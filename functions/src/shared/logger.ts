import pino from 'pino';

/** JSON logs; each handler binds the run id so every line of a run can be found. */
export const logger = pino({
  level: process.env.LOG_LEVEL ?? 'info',
  base: { service: 'so-backup' },
  redact: {
    paths: ['*.secretAccessKey', '*.sessionToken', '*.taskToken', '*.authorization', '*.Authorization', 'credentials'],
    censor: '[redacted]',
  },
});
