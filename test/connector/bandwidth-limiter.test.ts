import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  BandwidthLimiter,
  bandwidthInForce,
  ByteBucket,
  type BucketClock,
  throttledPieces,
  throttledReadable,
} from '../../connector/src/bandwidth';
import { ThrottledHttpHandler } from '../../connector/src/store/throttled-http-handler';
import { bandwidthSettingSchema } from '../../protocol';

/** A clock that only moves when someone sleeps on it: time is virtual, tests take no real time. */
function fakeClock(): BucketClock & { slept: number[] } {
  let now = 0;
  const slept: number[] = [];
  return {
    slept,
    now: () => now,
    sleep: async (ms, signal) => {
      signal?.throwIfAborted();
      slept.push(ms);
      now += ms;
      await Promise.resolve();
    },
  };
}

describe('ByteBucket (fake clock)', () => {
  test('GIVEN 5 MB/s WHEN 50 MB pass in 64 KiB slices THEN it takes 10 s of clock time, within one slice', async () => {
    const clock = fakeClock();
    const bucket = new ByteBucket(clock);
    bucket.setRate(5_000_000);
    const slice = 64 * 1024;
    let sent = 0;
    while (sent < 50_000_000) {
      await bucket.take(slice);
      sent += slice;
    }
    // The first second is the saved-up burst at most; after that the rate is exact.
    expect(clock.now()).toBeGreaterThanOrEqual(((sent - slice) / 5_000_000) * 1000 - 1000);
    expect(clock.now()).toBeLessThanOrEqual((sent / 5_000_000) * 1000 + 1);
    expect(bucket.achievedRate(5_000)).toBeGreaterThan(4_900_000);
    expect(bucket.achievedRate(5_000)).toBeLessThan(5_100_000);
  });

  test('GIVEN several streams taking at once THEN they are let through in the order they asked, sharing one rate', async () => {
    const clock = fakeClock();
    const bucket = new ByteBucket(clock, 0);
    bucket.setRate(1_000_000);
    const order: string[] = [];
    const stream = async (name: string) => {
      for (let i = 0; i < 3; i++) {
        await bucket.take(100_000);
        order.push(name);
      }
    };
    await Promise.all([stream('a'), stream('b'), stream('c')]);
    expect(order).toEqual(['a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'c']);
    // Nine takes of 100 KB at 1 MB/s: the first goes at once, the bucket then waits off 800 KB of debt.
    expect(clock.now()).toBeGreaterThanOrEqual(800);
    expect(clock.now()).toBeLessThanOrEqual(801);
  });

  test('GIVEN a slice larger than the bucket holds THEN it goes, and the next taker waits the debt off', async () => {
    const clock = fakeClock();
    const bucket = new ByteBucket(clock, 0);
    bucket.setRate(100_000);
    await bucket.take(1_000_000);
    expect(clock.now()).toBe(0);
    await bucket.take(1);
    expect(clock.now()).toBeGreaterThanOrEqual(10_000);
  });

  test('GIVEN takers waiting WHEN the rate changes THEN they go on at the new rate within a quarter second', async () => {
    const clock = fakeClock();
    const bucket = new ByteBucket(clock, 0);
    bucket.setRate(100_000);
    await bucket.take(1_000_000); // 10 s of debt at 100 KB/s
    const waiting = bucket.take(1);
    await Promise.resolve();
    bucket.setRate(10_000_000); // now 0.1 s of debt
    await waiting;
    expect(clock.now()).toBeLessThanOrEqual(250 + 100);
    expect(Math.max(...clock.slept)).toBeLessThanOrEqual(250);
  });

  test('GIVEN unlimited THEN nobody waits, and bytes are still counted', async () => {
    const clock = fakeClock();
    const bucket = new ByteBucket(clock);
    for (let i = 0; i < 1000; i++) await bucket.take(1 << 20);
    bucket.count(5);
    expect(clock.slept).toEqual([]);
    expect(bucket.bytesTaken).toBe(1000 * (1 << 20) + 5);
  });

  test('GIVEN a waiting taker WHEN its signal aborts THEN it rejects and the next taker still gets through', async () => {
    const clock = fakeClock();
    const bucket = new ByteBucket(clock, 0);
    bucket.setRate(100_000);
    await bucket.take(1_000_000);
    const controller = new AbortController();
    controller.abort(new Error('cancelled'));
    await expect(bucket.take(10, controller.signal)).rejects.toThrow('cancelled');
    await expect(bucket.take(10)).resolves.toBeUndefined();
  });

  test('a limit of 0 or less is refused', () => {
    expect(() => new ByteBucket(fakeClock()).setRate(0)).toThrow(/must be more than 0 bytes per second, but 0 was provided/);
  });
});

describe('throttled streams (fake clock)', () => {
  const drain = async (source: NodeJS.ReadableStream) => {
    let bytes = 0;
    await pipeline(
      source,
      new Writable({
        write: (chunk: Buffer, _e, done) => {
          bytes += chunk.length;
          done();
        },
      }),
    );
    return bytes;
  };

  test('GIVEN an upload body in pieces THEN every byte passes the bucket, in slices of at most 64 KiB, unchanged', async () => {
    const clock = fakeClock();
    const bucket = new ByteBucket(clock, 0);
    bucket.setRate(2_000_000);
    const pieces = [Buffer.alloc(300_000, 1), Buffer.alloc(5, 2), Buffer.alloc(200_000, 3)];
    const chunks: Buffer[] = [];
    await pipeline(
      throttledPieces(pieces, bucket),
      new Writable({
        write: (chunk: Buffer, _e, done) => {
          chunks.push(chunk);
          done();
        },
      }),
    );
    expect(Buffer.concat(chunks).equals(Buffer.concat(pieces))).toBe(true);
    expect(Math.max(...chunks.map((c) => c.length))).toBeLessThanOrEqual(64 * 1024);
    expect(clock.now()).toBeGreaterThanOrEqual(((500_005 - 64 * 1024) / 2_000_000) * 1000);
  });

  test('GIVEN a download THEN it is read through the download bucket', async () => {
    const clock = fakeClock();
    const bucket = new ByteBucket(clock, 0);
    bucket.setRate(1_000_000);
    const source = throttledPieces([Buffer.alloc(1_000_000)], new ByteBucket(fakeClock()));
    expect(await drain(throttledReadable(source, bucket))).toBe(1_000_000);
    expect(clock.now()).toBeGreaterThanOrEqual(900);
  });

  test('GIVEN an upload aborted while it waits THEN the stream fails with the reason', async () => {
    const clock = fakeClock();
    const bucket = new ByteBucket(clock, 0);
    bucket.setRate(100_000);
    await bucket.take(10_000_000);
    const controller = new AbortController();
    const stream = throttledPieces([Buffer.alloc(1000)], bucket, controller.signal);
    const done = drain(stream);
    controller.abort(new Error('run cancelled'));
    await expect(done).rejects.toThrow('run cancelled');
  });
});

describe("the SDK's HTTP handler under a limit (a real HTTP server on loopback)", () => {
  test('GIVEN an upload waiting for the bucket WHEN the request is aborted (a cancelled run) THEN the request rejects and the process sees no unhandled stream error', async () => {
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.end());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    process.on('uncaughtException', onUncaught);
    try {
      const slow = new ByteBucket(undefined, 0);
      slow.setRate(64 * 1024);
      const handler = new ThrottledHttpHandler({ upload: slow, download: new ByteBucket() });
      const body = Buffer.alloc(1024 * 1024, 7);
      const controller = new AbortController();
      const { port } = server.address() as AddressInfo;
      const request = {
        protocol: 'http:',
        hostname: '127.0.0.1',
        port,
        method: 'PUT',
        path: '/part',
        query: {},
        headers: { host: `127.0.0.1:${port}`, 'content-length': String(body.length) },
        body,
      };
      const sent = handler.handle(request as unknown as Parameters<ThrottledHttpHandler['handle']>[0], { abortSignal: controller.signal });
      await new Promise((resolve) => setTimeout(resolve, 300));
      controller.abort(new Error('the backup was cancelled'));
      await expect(sent).rejects.toThrow();
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(uncaught).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe("the limit in force: the stricter of the tenant's and the configuration file's", () => {
  const monday = (hour: number) => new Date(2026, 10, 30, hour);
  const office = bandwidthSettingSchema.parse({
    default: '50 Mbit/s',
    schedule: [{ days: 'Mon-Fri', from: '07:00', to: '17:00', limit: '5 Mbit/s' }],
  });

  test('neither set: unlimited', () => {
    expect(bandwidthInForce(undefined, null, monday(9))).toMatchObject({ bytesPerSecond: null, source: 'none' });
  });

  test('only one set: that one', () => {
    expect(bandwidthInForce('20 Mbit/s', null, monday(9))).toMatchObject({ bytesPerSecond: 2_500_000, source: 'config' });
    expect(bandwidthInForce(undefined, office, monday(9))).toMatchObject({ bytesPerSecond: 625_000, source: 'tenant', period: 0 });
  });

  test('both set: the stricter at each moment, with when either next changes', () => {
    expect(bandwidthInForce('20 Mbit/s', office, monday(9))).toMatchObject({
      bytesPerSecond: 625_000,
      source: 'tenant',
      period: 0,
      changesAt: monday(17),
    });
    expect(bandwidthInForce('20 Mbit/s', office, monday(20))).toMatchObject({ bytesPerSecond: 2_500_000, source: 'config' });
    // The customer's own cap holds even when the operator allows more.
    expect(bandwidthInForce('1 Mbit/s', '100 Mbit/s', monday(20))).toMatchObject({ bytesPerSecond: 125_000, source: 'config' });
  });

  test("GIVEN a running limiter WHEN the tenant's setting arrives or is removed THEN both buckets change at once, and each change is told once", () => {
    let now = monday(9);
    const told: string[] = [];
    const limiter = new BandwidthLimiter({
      config: '20 Mbit/s',
      now: () => now,
      clock: fakeClock(),
      onChange: (_limit, description) => told.push(description),
    });
    expect(limiter.upload.bytesPerSecond).toBe(2_500_000);
    limiter.setTenantSetting(office);
    expect(limiter.upload.bytesPerSecond).toBe(625_000);
    expect(limiter.download.bytesPerSecond).toBe(625_000);
    limiter.setTenantSetting(office);
    now = monday(18);
    limiter.setTenantSetting(office);
    expect(limiter.upload.bytesPerSecond).toBe(2_500_000);
    limiter.setTenantSetting(null);
    expect(told).toEqual([
      expect.stringMatching(/^20 Mbit\/s from the configuration file \[20 Mbit\/s\]$/),
      expect.stringMatching(/^5 Mbit\/s from the tenant's setting .*, Mon-Fri 07:00-17:00; changes at 2026-11-30 17:00:00/),
      expect.stringMatching(/^20 Mbit\/s from the configuration file/),
    ]);
  });

  test('GIVEN a limiter that follows its schedule THEN the rate changes when a period starts', () => {
    jest.useFakeTimers({ now: monday(6) });
    try {
      const limiter = new BandwidthLimiter({ tenant: office, clock: fakeClock() });
      limiter.follow();
      expect(limiter.upload.bytesPerSecond).toBe(6_250_000);
      jest.advanceTimersByTime(60 * 60_000 + 1000);
      expect(limiter.upload.bytesPerSecond).toBe(625_000);
      expect(limiter.inForce()).toMatchObject({ period: 0, changesAt: monday(17) });
      limiter.stop();
    } finally {
      jest.useRealTimers();
    }
  });
});
