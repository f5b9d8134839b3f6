/** The clock a ByteBucket waits on; tests pass a fake one. */
export interface BucketClock {
  /** Milliseconds, monotonic. */
  now(): number;
  /** Resolves after `ms` milliseconds, or rejects with the signal's reason when it aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const realClock: BucketClock = {
  now: () => performance.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal!.reason);
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

/** How long a waiting taker sleeps at most before it looks again, so a changed rate applies within this. */
const MAX_SLEEP_MS = 250;

/**
 * A token bucket of bytes shared by every stream in one direction: it refills at the rate (bytes
 * per second), holds at most `burstSeconds` of it, and lets takers through one at a time in the
 * order they asked (so parallel streams share the rate fairly, chunk by chunk). A taker may take
 * more than the bucket holds: the bucket goes into debt and the next taker waits it off, so the
 * long-run rate is exact whatever the chunk size. The rate can change at any time (schedule,
 * operator); `null` is unlimited (nobody waits). Also counts the bytes that passed, for the rate
 * actually achieved.
 */
export class ByteBucket {
  private tokens = 0;
  private last: number;
  private queue: Promise<void> = Promise.resolve();
  private rate: number | null = null;
  /** Every byte taken, and when (for achievedRate). */
  private readonly history: Array<{ at: number; total: number }> = [];
  private total = 0;

  /** `burstSeconds`: how much of the rate an idle bucket saves up (a busy server that pauses a stream for a moment does not lose its share). */
  constructor(
    private readonly clock: BucketClock = realClock,
    private readonly burstSeconds = 1,
  ) {
    this.last = clock.now();
  }

  /** Bytes per second now; null: unlimited. */
  get bytesPerSecond(): number | null {
    return this.rate;
  }

  /** Every byte that has passed so far. */
  get bytesTaken(): number {
    return this.total;
  }

  /** Counts bytes that went unthrottled (the rate was unlimited when their request started), for achievedRate. */
  count(bytes: number): void {
    const now = this.clock.now();
    if (this.history.length === 0) this.history.push({ at: now, total: this.total });
    this.total += bytes;
    const lastEntry = this.history[this.history.length - 1]!;
    // One entry per 100 ms is enough for a rate over seconds (the first one stays the baseline).
    if (this.history.length > 1 && now - lastEntry.at < 100) lastEntry.total = this.total;
    else this.history.push({ at: now, total: this.total });
  }

  /** Changes the rate; takers already waiting go on at the new one. @throws RangeError when not positive. */
  setRate(bytesPerSecond: number | null): void {
    if (bytesPerSecond !== null && !(bytesPerSecond > 0))
      throw new RangeError(`a bandwidth limit must be more than 0 bytes per second, but ${bytesPerSecond} was provided`);
    this.refill();
    this.rate = bytesPerSecond;
    if (bytesPerSecond !== null) this.tokens = Math.min(this.tokens, bytesPerSecond * this.burstSeconds);
  }

  /** Waits until `bytes` may be sent (or received). Rejects with the signal's reason when it aborts (the bytes are then not counted). */
  take(bytes: number, signal?: AbortSignal): Promise<void> {
    const turn = this.queue.then(() => this.waitFor(bytes, signal));
    // The next taker waits for this one, whether it got through or was aborted.
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  /** Bytes per second over the last `windowMs` (or since the first byte, if later). */
  achievedRate(windowMs = 10_000): number {
    const now = this.clock.now();
    while (this.history.length > 1 && this.history[1]!.at <= now - windowMs) this.history.shift();
    const first = this.history[0];
    if (!first || now - first.at <= 0) return 0;
    return ((this.total - first.total) / (now - first.at)) * 1000;
  }

  private refill(): void {
    const now = this.clock.now();
    if (this.rate !== null && now > this.last)
      this.tokens = Math.min(this.rate * this.burstSeconds, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
  }

  private async waitFor(bytes: number, signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      this.refill();
      if (this.rate === null || this.tokens >= 0) break;
      await this.clock.sleep(Math.min(MAX_SLEEP_MS, Math.ceil((-this.tokens / this.rate) * 1000)), signal);
    }
    if (this.rate !== null) this.tokens -= bytes;
    this.count(bytes);
  }
}
