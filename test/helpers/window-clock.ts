/**
 * A backup window that ends after `sends` files have started sending: the mirror reads the clock
 * once before each upload, so the first `sends` readings are before the window's end and every
 * later one after it. No sleeping, no real time: the test decides exactly how far a night gets.
 */
export function windowAfter(sends: number): { windowEndsAt: Date; now: () => number } {
  const windowEndsAt = new Date('2026-11-30T06:00:00.000Z');
  let readings = 0;
  return { windowEndsAt, now: () => windowEndsAt.getTime() + (++readings > sends ? 0 : -1) };
}
