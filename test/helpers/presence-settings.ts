import type { PresenceSettings } from '../../core';

/**
 * A stack's presence settings for tests (core/presence.ts): check-in hourly, the Europe/Oslo
 * schedule with a 4-hour window from 02:00, an absent connector retried every 15 minutes for
 * 4 hours (the tests' expectations are written for these numbers; the stack's default retry is 5
 * minutes). `overrides` change any of them.
 */
export function presenceSettings(overrides: Partial<PresenceSettings> = {}): PresenceSettings {
  return {
    defaultMode: 'check-in',
    checkInSeconds: 3600,
    schedule: { timeZone: 'Europe/Oslo', windowStartHour: 2, windowHours: 4 },
    offlineRetrySeconds: 900,
    offlineRetryWindowSeconds: 4 * 3600,
    ...overrides,
  };
}
