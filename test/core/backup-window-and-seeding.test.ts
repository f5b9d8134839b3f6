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

  describe('progress that cannot be faked (T20 F1): sent archive bytes AND less pending than ever before', () => {
    const MB = 1_000_000;
    const night = (n: number) => ({
      runId: `acme-night-${n}`,
      finishedAt: new Date(Date.parse('2026-11-01T06:00:00.000Z') + n * 86_400_000).toISOString(),
    });
    const at = (n: number) => new Date(Date.parse(night(n).finishedAt) + 3_600_000);

    test('deleting pending files sends nothing: no progress, and the files deleted never count later', () => {
      const first = nextSeeding(
        undefined,
        archiveProgress({ files: 13, bytes: 64 * MB, uploadedBytes: 64 * MB, pending: { files: 7, bytes: 20 * MB } }),
        night(0),
      );
      // The tester's delete trick: 2 pending files removed, `--window 1s`: 0 sent, 5 files, 14.3 MB left.
      const deleted = nextSeeding(
        first,
        archiveProgress({ files: 13, bytes: 64 * MB, uploadedBytes: 0, pending: { files: 5, bytes: 14.3 * MB } }),
        night(1),
      );
      expect(deleted).toMatchObject({ lastProgressAt: first!.lastProgressAt, leastPendingBytes: 14.3 * MB, backlogBytesSent: 64 * MB });
      expect(seedingStalled(deleted!, at(1))).toBe(true);
      // Next night re-sends a 1 MB changed file only: pending as low as after the deletion, still no progress.
      const resent = nextSeeding(
        deleted,
        archiveProgress({ files: 13, bytes: 64 * MB, uploadedBytes: 1 * MB, pending: { files: 5, bytes: 14.3 * MB } }),
        night(2),
      );
      expect(resent!.lastProgressAt).toBe(first!.lastProgressAt);
      // A night that sends 3 MB of the backlog is progress again, and counts those 3 MB.
      const sent = nextSeeding(
        resent,
        archiveProgress({ files: 14, bytes: 67 * MB, uploadedBytes: 3 * MB, pending: { files: 4, bytes: 11.3 * MB } }),
        night(3),
      );
      expect(sent).toMatchObject({ lastProgressAt: night(3).finishedAt, backlogBytesSent: 67 * MB });
    });

    test('A: one 2 MB changed file re-sent each night, the 20 GB backlog never started: stalled after 24 h, no estimate of 40 nights', () => {
      let s = nextSeeding(
        undefined,
        archiveProgress({ files: 500, bytes: 5 * GB, uploadedBytes: 5 * GB, pending: { files: 2000, bytes: 20 * GB } }),
        night(0),
      );
      for (let n = 1; n <= 10; n++) {
        s = nextSeeding(
          s,
          archiveProgress({ files: 500, bytes: 5 * GB, uploadedBytes: 2 * MB, pending: { files: 2000, bytes: 20 * GB } }),
          night(n),
        );
        expect(s!.lastProgressAt).toBe(night(0).finishedAt);
      }
      expect(seedingStalled(s!, at(10))).toBe(true);
      expect(s).toMatchObject({ runs: 11, bytesSent: 5 * GB + 20 * MB, backlogBytesSent: 5 * GB });
      // The estimate goes by the backlog sent (5 GB in 11 nights), not by the 2 MB re-sent: 44 nights, and flagged.
      expect(seedingNightsLeft(s!)).toBe(44);
      expect(describeSeeding(s!, at(10))).toBe('seeding 20 %, about 44 more nights — NO PROGRESS for 241h');
    });

    test('B: nothing sent, pending up and down by one file each night: stays stalled, does not flap', () => {
      let s = nextSeeding(
        undefined,
        archiveProgress({ files: 10, bytes: 10 * MB, uploadedBytes: 10 * MB, pending: { files: 7, bytes: 20 * MB } }),
        night(0),
      );
      for (let n = 1; n <= 6; n++) {
        const pending = n % 2 === 1 ? { files: 6, bytes: 17 * MB } : { files: 7, bytes: 20 * MB };
        s = nextSeeding(s, archiveProgress({ files: 10, bytes: 10 * MB, uploadedBytes: 0, pending }), night(n));
        expect(s!.lastProgressAt).toBe(night(0).finishedAt);
        expect(seedingStalled(s!, at(n))).toBe(true);
      }
    });

    test("a night that only sends parts of one huge file (paused between parts at the window's end) is progress; parts sent on an earlier night do not count again", () => {
      // Night 0: 10 GB of documents sent; a 200 GB video file starts and pauses with 30 GB of parts in S3.
      const first = nextSeeding(
        undefined,
        archiveProgress({
          files: 100,
          bytes: 10 * GB,
          uploadedBytes: 10 * GB,
          pending: { files: 1, bytes: 200 * GB, partsBytes: 30 * GB },
        }),
        night(0),
      );
      expect(first).toMatchObject({ leastPendingBytes: 170 * GB, backlogBytesSent: 40 * GB, partsBytes: 30 * GB });
      // Night 1 sends only parts of it: no file completed (uploadedBytes 0), 70 GB of parts in S3 now.
      const parts = nextSeeding(
        first,
        archiveProgress({ files: 100, bytes: 10 * GB, uploadedBytes: 0, pending: { files: 1, bytes: 200 * GB, partsBytes: 70 * GB } }),
        night(1),
      );
      expect(parts).toMatchObject({ lastProgressAt: night(1).finishedAt, leastPendingBytes: 130 * GB, backlogBytesSent: 80 * GB });
      // Night 2 sends nothing: the parts already there are no progress.
      const idle = nextSeeding(
        parts,
        archiveProgress({ files: 100, bytes: 10 * GB, uploadedBytes: 0, pending: { files: 1, bytes: 200 * GB, partsBytes: 70 * GB } }),
        night(2),
      );
      expect(idle!.lastProgressAt).toBe(night(1).finishedAt);
      expect(seedingStalled(idle!, at(2))).toBe(true);
    });

    test('the estimate goes by backlog progress: real nights of 60 GB give "about 3 more nights" whatever else was re-sent', () => {
      let s = nextSeeding(
        undefined,
        archiveProgress({ files: 600, bytes: 60 * GB, uploadedBytes: 60 * GB, pending: { files: 2400, bytes: 240 * GB } }),
        night(0),
      );
      // Night 1 sends 61 GB: 60 GB of backlog and a 1 GB file changed during the day (re-sent).
      s = nextSeeding(
        s,
        archiveProgress({ files: 1200, bytes: 121 * GB, uploadedBytes: 61 * GB, pending: { files: 1800, bytes: 180 * GB } }),
        night(1),
      );
      expect(s).toMatchObject({ lastProgressAt: night(1).finishedAt, backlogBytesSent: 120 * GB, leastPendingBytes: 180 * GB });
      expect(seedingNightsLeft(s!)).toBe(3); // 180 GB / 60 GB a night
      // A state recorded before the low-water mark existed carries on from its last pending and bytes sent.
      const old = seedingState('2026-11-26T06:00:00.000Z');
      const next = nextSeeding(
        old,
        archiveProgress({ files: 1320, bytes: 132 * GB, uploadedBytes: 6 * GB, pending: { files: 1680, bytes: 168 * GB } }),
        night(30),
      );
      expect(next).toMatchObject({ lastProgressAt: night(30).finishedAt, leastPendingBytes: 168 * GB, backlogBytesSent: 132 * GB });
    });
  });

  describe("progress by the connector's count of backlog sent (t20b N1/N2): files the previous night left pending", () => {
    const MB = 1_000_000;
    const night = (n: number) => ({
      runId: `beta-night-${n}`,
      finishedAt: new Date(Date.parse('2026-11-01T06:00:00.000Z') + n * 86_400_000).toISOString(),
    });
    const first = () =>
      nextSeeding(
        undefined,
        archiveProgress({ files: 13, bytes: 64 * MB, uploadedBytes: 64 * MB, pending: { files: 7, bytes: 20 * MB } }),
        night(0),
      );

    test('N1: pending files deleted AND a changed file re-sent the same night (the low-water rule took it for progress): no progress', () => {
      const tricked = nextSeeding(
        first(),
        archiveProgress({
          files: 13,
          bytes: 64 * MB,
          uploadedBytes: 1 * MB,
          backlogSent: { files: 0, bytes: 0 },
          pending: { files: 5, bytes: 14.3 * MB },
        }),
        night(1),
      );
      expect(tricked).toMatchObject({ lastProgressAt: night(0).finishedAt, backlogBytesSent: 64 * MB });
      expect(seedingStalled(tricked!, new Date(Date.parse(night(1).finishedAt) + 3_600_000))).toBe(true);
    });

    test('N2: a bulk import adds more than a night sends; the backlog still goes down: progress (no false alarm), and the estimate goes by the backlog sent', () => {
      const importing = nextSeeding(
        first(),
        archiveProgress({
          files: 17,
          bytes: 70 * MB,
          uploadedBytes: 6 * MB,
          backlogSent: { files: 4, bytes: 6 * MB },
          pending: { files: 40, bytes: 120 * MB },
        }),
        night(1),
      );
      expect(importing).toMatchObject({ lastProgressAt: night(1).finishedAt, backlogBytesSent: 70 * MB });
      expect(seedingNightsLeft(importing!)).toBe(4); // 120 MB left at 35 MB of backlog a night
    });
  });
});
