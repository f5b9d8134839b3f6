import { backoffDelay } from '../../connector/src/link/backoff';

describe('backoffDelay', () => {
  test('PROPERTY: every delay is within [0, min(cap, base·2^attempt)] and attempts never run out', () => {
    for (let attempt = 0; attempt < 10_000; attempt++) {
      const random = Math.random();
      const delay = backoffDelay(attempt, { baseMs: 1000, capMs: 300_000 }, () => random);
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThanOrEqual(Math.min(300_000, 1000 * 2 ** Math.min(attempt, 30)));
      expect(Number.isFinite(delay)).toBe(true);
    }
  });

  test('full jitter spreads reconnects over the whole window (no thundering herd)', () => {
    const delays = Array.from({ length: 2000 }, () => backoffDelay(20));
    expect(Math.min(...delays)).toBeLessThan(30_000);
    expect(Math.max(...delays)).toBeGreaterThan(270_000);
    expect(Math.max(...delays)).toBeLessThanOrEqual(300_000);
  });
});
