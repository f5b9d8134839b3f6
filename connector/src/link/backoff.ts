/** Reconnect delays: exponential, capped, with full jitter; never gives up. */
export interface BackoffOptions {
  /** @default 1000 ms */
  readonly baseMs?: number;
  /** @default 300_000 ms (5 minutes) */
  readonly capMs?: number;
}

/** The delay before reconnect attempt `attempt` (0-based): uniform in [0, min(cap, base·2^attempt)]. */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const base = options.baseMs ?? 1000;
  const cap = options.capMs ?? 300_000;
  const ceiling = Math.min(cap, base * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}
