import type { SeedingState } from '../../core';

const GB = 1_000_000_000;

/**
 * A tenant's seeding state (core/seeding.ts) two nights into a 300 GB archive: 1,260 of 3,000
 * files, 126 of 300 GB (42 %), 63 GB a night (about 3 more nights), last progress at
 * `lastProgressAt`; `over` changes any field.
 */
export function seedingState(lastProgressAt: string, over: Partial<SeedingState> = {}): SeedingState {
  return {
    startedRunId: 'acme-2026-11-22-daily',
    startedAt: '2026-11-22T06:00:00.000Z',
    lastProgressAt,
    lastRunId: 'acme-2026-11-24-daily',
    filesDone: 1260,
    filesTotal: 3000,
    bytesDone: 126 * GB,
    bytesTotal: 300 * GB,
    runs: 2,
    bytesSent: 126 * GB,
    ...over,
  };
}
