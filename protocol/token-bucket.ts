/**
 * A token bucket as API Gateway describes its throttling ("a token counts for a request"): it
 * holds at most `burst` tokens, starts full, and refills continuously at `ratePerSecond`. A
 * request that finds no token is throttled. Pure: the clock is passed in (milliseconds).
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  /** @throws RangeError when the rate is not positive or the burst is below 1. */
  constructor(
    readonly ratePerSecond: number,
    readonly burst: number,
    now: number = Date.now(),
  ) {
    if (!(ratePerSecond > 0)) throw new RangeError(`ratePerSecond must be more than 0, but ${ratePerSecond} was provided`);
    if (!(burst >= 1)) throw new RangeError(`burst must be 1 or more, but ${burst} was provided`);
    this.tokens = burst;
    this.last = now;
  }

  private refill(now: number): void {
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.ratePerSecond);
      this.last = now;
    }
  }

  /** Takes one token if there is one; false means throttled. */
  tryTake(now: number = Date.now()): boolean {
    this.refill(now);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Milliseconds until a token is available (0 when one is). */
  waitMs(now: number = Date.now()): number {
    this.refill(now);
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) / this.ratePerSecond) * 1000);
  }
}
