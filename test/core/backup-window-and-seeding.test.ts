import {
  archiveProgress,
  DEFAULT_RUN_WINDOW_SECONDS,
  describeRunWindow,
  describeSeeding,
  nextSeeding,
  parseRunWindow,
  runWindowOf,
  type SeedingState,
  seedingNightsLeft,
  seedingPercent,
  seedingStalled,
  windowEndsAt,
} from '../../core';
import { seedingState } from '../helpers/seeding';

describe('a run window (issue 20)', () => {
  test.each([
    ['5h', 5 * 3600],
    ['90m', 90 * 60],
    ['45s', 45],
    ['1h30m', 5400],
    ['1h 30m 5s', 5405],
    [' 8H ', 8 * 3600],
    ['23h', 23 * 3600],
    ['none', 0],
    ['None', 0],
  ])('"%s" is %d seconds', (text, seconds) => {
    expect(parseRunWindow(text)).toBe(seconds);
  });

  test.each([
    ['', /is not a duration: give hours, minutes or seconds, e\.g\. "5h", "90m"/],
    ['5', /"5" is not a duration/],
    ['5 hours', /"5 hours" is not a duration/],
    ['1d', /"1d" is not a duration/],
    ['-5h', /"-5h" is not a duration/],
    ['30m5h', /"30m5h" is not a duration/],
    ['0h', /a window of "0h" is empty: give at least 1s, or "none"/],
    ['24h', /longer than 23h: the next night's run would find this one still running/],
    ['23h1s', /longer than 23h/],
  ])('"%s" is refused, naming the mistake', (text, message) => {
    expect(() => parseRunWindow(text)).toThrow(message);
  });

  test('described as written', () => {
    expect([5 * 3600, 5400, 45, 3661, 0].map(describeRunWindow)).toEqual(['5h', '1h 30m', '45s', '1h 1m 1s', 'none']);
  });

  test("the run's window, else the tenant's, else the stack's; 0 (none) at any level is a choice, not a gap", () => {
    expect(runWindowOf({}, undefined, DEFAULT_RUN_WINDOW_SECONDS)).toEqual({ seconds: 8 * 3600, source: 'stack' });
    expect(runWindowOf({}, { backupWindowSeconds: 0 }, 8 * 3600)).toEqual({ seconds: 0, source: 'tenant' });
    expect(runWindowOf({ windowSeconds: 45 }, { backupWindowSeconds: 0 }, 8 * 3600)).toEqual({ seconds: 45, source: 'run' });
    expect(runWindowOf({ windowSeconds: 0 }, { backupWindowSeconds: 3600 }, 8 * 3600)).toEqual({ seconds: 0, source: 'run' });
  });

  test("it ends the window's length after the run was requested, whenever the job is sent; none: no end", () => {
    expect(windowEndsAt('2026-11-25T22:00:00.000Z', { seconds: 8 * 3600 })).toBe('2026-11-26T06:00:00.000Z');
    expect(windowEndsAt(new Date('2026-11-25T22:00:00.000Z'), { seconds: 45 })).toBe('2026-11-25T22:00:45.000Z');
    expect(windowEndsAt('2026-11-25T22:00:00.000Z', { seconds: 0 })).toBeUndefined();
    expect(() => windowEndsAt('yesterday', { seconds: 60 })).toThrow(/"yesterday" is not a time/);
  });
});

describe('seeding: the state, the percentage, the estimate, a stall (issue 20)', () => {
  const GB = 1_000_000_000;
  const state = (over: Partial<SeedingState> = {}) => seedingState('2026-11-26T06:00:00.000Z', over);

  test("a run's progress: the snapshot's files and bytes are done; pending is what the window left", () => {
    expect(archiveProgress({ files: 10, bytes: 1000, uploadedBytes: 400, pending: { files: 30, bytes: 3000 } })).toEqual({
      filesDone: 10,
      filesTotal: 40,
      bytesDone: 1000,
      bytesTotal: 4000,
      pendingFiles: 30,
      pendingBytes: 3000,
      uploadedBytes: 400,
    });
    expect(archiveProgress({ files: 10, bytes: 1000, uploadedBytes: 0 })).toMatchObject({ filesTotal: 10, pendingFiles: 0 });
  });

  test('42 % done, about 3 more nights at 63 GB a night; rounded down so it never reads 100 % while files are pending', () => {
    expect(seedingPercent(state())).toBe(42);
    expect(seedingNightsLeft(state())).toBe(3); // 174 GB left / 63 GB a night
    expect(describeSeeding(state(), new Date('2026-11-26T12:00:00.000Z'))).toBe('seeding 42 %, about 3 more nights');
    expect(seedingPercent(state({ bytesDone: 299.99 * GB }))).toBe(99);
    expect(seedingPercent(state({ bytesTotal: 0, bytesDone: 0, filesDone: 1, filesTotal: 4 }))).toBe(25);
    expect(describeSeeding(state({ bytesDone: 250 * GB }), new Date('2026-11-26T12:00:00.000Z'))).toBe('seeding 83 %, about 1 more night');
  });

  test('no estimate before a run has sent anything', () => {
    expect(seedingNightsLeft(state({ bytesSent: 0 }))).toBeUndefined();
    expect(describeSeeding(state({ bytesSent: 0 }), new Date('2026-11-26T12:00:00.000Z'))).toBe('seeding 42 %, no estimate yet');
  });

  test('stalled after 24 h without progress, and said so', () => {
    expect(seedingStalled(state(), new Date('2026-11-27T06:00:00.000Z'))).toBe(false);
    expect(seedingStalled(state(), new Date('2026-11-27T06:00:01.000Z'))).toBe(true);
    expect(describeSeeding(state(), new Date('2026-11-27T12:00:00.000Z'))).toBe('seeding 42 %, about 3 more nights — NO PROGRESS for 30h');
  });

  test('a night that sent nothing and left as much pending keeps the last progress time; one that sent something moves it', () => {
    const before = state();
    const idle = nextSeeding(
      before,
      archiveProgress({ files: 1260, bytes: 126 * GB, uploadedBytes: 0, pending: { files: 1740, bytes: 174 * GB } }),
      { runId: 'acme-2026-11-27-daily', finishedAt: '2026-11-27T06:00:00.000Z' },
    );
    expect(idle).toMatchObject({ lastProgressAt: before.lastProgressAt, lastRunId: 'acme-2026-11-27-daily', runs: 3 });
    const moved = nextSeeding(
      idle,
      archiveProgress({ files: 1300, bytes: 130 * GB, uploadedBytes: 4 * GB, pending: { files: 1700, bytes: 170 * GB } }),
      { runId: 'acme-2026-11-28-daily', finishedAt: '2026-11-28T06:00:00.000Z' },
    );
    expect(moved).toMatchObject({ lastProgressAt: '2026-11-28T06:00:00.000Z', runs: 4, bytesSent: 130 * GB, filesDone: 1300 });
    expect(
      nextSeeding(moved, archiveProgress({ files: 3000, bytes: 300 * GB, uploadedBytes: 170 * GB }), { runId: 'x', finishedAt: '' }),
    ).toBeUndefined();
  });
});
