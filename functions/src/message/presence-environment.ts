import { z } from 'zod';
import { CHECK_IN_MINUTES_RANGE, PRESENCE_MODES, type PresenceSettings } from '../../../core';

/**
 * What the message function reads to tell connectors when to stay connected (core/presence.ts),
 * set by the stack (infra/lib/so-backup-stack.ts, from `-c connectorPresence` and `-c checkInMinutes`,
 * the schedule of DailyBackups and the offline retries of BackupRun).
 */
export const presenceEnvironmentSchema = z.object({
  /** The stack's default presence: "check-in" or "always". */
  CONNECTOR_PRESENCE: z.enum(PRESENCE_MODES),
  /** Seconds between check-ins (1 minute to 6 hours). */
  CHECK_IN_SECONDS: z.coerce
    .number()
    .int()
    .min(CHECK_IN_MINUTES_RANGE.min * 60)
    .max(CHECK_IN_MINUTES_RANGE.max * 60),
  SCHEDULE_TIME_ZONE: z.string().min(1),
  DEFAULT_BACKUP_HOUR: z.coerce.number().int().min(0).max(23),
  BACKUP_WINDOW_HOURS: z.coerce.number().int().min(1).max(24),
  /** BackupRun's offlineRetryInterval and offlineRetryWindow, in seconds. */
  OFFLINE_RETRY_SECONDS: z.coerce.number().int().positive(),
  OFFLINE_RETRY_WINDOW_SECONDS: z.coerce.number().int().min(0),
});

export function presenceSettings(env: z.infer<typeof presenceEnvironmentSchema>): PresenceSettings {
  return {
    defaultMode: env.CONNECTOR_PRESENCE,
    checkInSeconds: env.CHECK_IN_SECONDS,
    schedule: { timeZone: env.SCHEDULE_TIME_ZONE, windowStartHour: env.DEFAULT_BACKUP_HOUR, windowHours: env.BACKUP_WINDOW_HOURS },
    offlineRetrySeconds: env.OFFLINE_RETRY_SECONDS,
    offlineRetryWindowSeconds: env.OFFLINE_RETRY_WINDOW_SECONDS,
  };
}
