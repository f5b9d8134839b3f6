import { parseMessage, PRESENCE, type Presence, presenceDecision, PROTOCOL_VERSION } from '../../protocol';

const T0 = Date.parse('2026-12-01T10:00:00Z');
const MIN = 60_000;
const checkIn = (over: Partial<Extract<Presence, { mode: 'check-in' }>> = {}): Presence => ({
  mode: 'check-in',
  checkInSeconds: 3600,
  nextBackupAt: null,
  stayUntil: null,
  ...over,
});
/** A connector that started long ago and connected a minute ago. */
const state = (presence: Presence | undefined, over: { now?: number; busy?: boolean; startedAt?: number } = {}) => ({
  presence,
  now: over.now ?? T0,
  startedAt: over.startedAt ?? T0 - 24 * 60 * MIN,
  connectedAt: (over.now ?? T0) - MIN,
  busy: over.busy ?? false,
});
const half = () => 0.5; // no jitter

describe('presenceDecision', () => {
  it('stays connected when the cloud says always, or says nothing (an older cloud)', () => {
    expect(presenceDecision(state({ mode: 'always' }))).toEqual({ stay: true, until: Number.POSITIVE_INFINITY });
    expect(presenceDecision(state(undefined))).toEqual({ stay: true, until: Number.POSITIVE_INFINITY });
  });

  it('leaves an idle check-in and comes back after the interval, spread by the jitter', () => {
    expect(presenceDecision(state(checkIn()), half)).toEqual({ stay: false, reconnectAt: T0 + 60 * MIN });
    const early = presenceDecision(state(checkIn()), () => 0);
    const late = presenceDecision(state(checkIn()), () => 0.999999);
    expect(early).toEqual({ stay: false, reconnectAt: T0 + 54 * MIN });
    expect(late.stay === false && late.reconnectAt).toBeCloseTo(T0 + 66 * MIN, -3);
  });

  it('stays while busy, whatever the schedule', () => {
    const decision = presenceDecision(state(checkIn(), { busy: true }), half);
    expect(decision.stay).toBe(true);
  });

  it('stays for the first minutes after the service starts, and for the answers after connecting', () => {
    expect(presenceDecision(state(checkIn(), { startedAt: T0 - 5 * MIN }), half)).toEqual({
      stay: true,
      until: T0 + (PRESENCE.startupHoldMinutes - 5) * MIN,
    });
    const justConnected = { ...state(checkIn()), connectedAt: T0 - 5_000 };
    expect(presenceDecision(justConnected, half)).toEqual({ stay: true, until: T0 + (PRESENCE.minimumConnectedSeconds - 5) * 1000 });
  });

  it("takes the connector's own startup hold and minimum connection time when given (its configuration's startupHoldMinutes)", () => {
    const started = state(checkIn(), { startedAt: T0 - 5 * MIN });
    expect(presenceDecision({ ...started, startupHoldMinutes: 0 }, half)).toEqual({ stay: false, reconnectAt: T0 + 60 * MIN });
    expect(presenceDecision({ ...started, startupHoldMinutes: 120 }, half)).toEqual({ stay: true, until: T0 + 115 * MIN });
    const justConnected = { ...state(checkIn()), connectedAt: T0 - 5_000 };
    expect(presenceDecision({ ...justConnected, minimumConnectedSeconds: 2 }, half).stay).toBe(false);
  });

  it('stays until the cloud says work waits', () => {
    const stayUntil = new Date(T0 + 17 * MIN).toISOString();
    expect(presenceDecision(state(checkIn({ stayUntil })), half)).toEqual({ stay: true, until: T0 + 17 * MIN });
    expect(presenceDecision(state(checkIn({ stayUntil }), { now: T0 + 17 * MIN }), half).stay).toBe(false);
  });

  it('comes back a lead before the next backup when that is sooner than the next check-in (5 to 10 minutes before, at random: T18 #4), and holds for its job', () => {
    const nextBackupAt = new Date(T0 + 30 * MIN).toISOString();
    expect(presenceDecision(state(checkIn({ nextBackupAt })), () => 0)).toEqual({
      stay: false,
      reconnectAt: T0 + 30 * MIN - PRESENCE.leadSeconds * 1000,
    });
    expect(presenceDecision(state(checkIn({ nextBackupAt })), half)).toEqual({
      stay: false,
      reconnectAt: T0 + 30 * MIN - (PRESENCE.leadSeconds + PRESENCE.leadSpreadSeconds / 2) * 1000,
    });
    // A fleet's arrivals for one slot spread over the whole lead.
    const arrivals = Array.from({ length: 1000 }, (_, i) => {
      const d = presenceDecision(state(checkIn({ nextBackupAt })), () => i / 1000);
      return d.stay ? 0 : Math.floor((T0 + 30 * MIN - d.reconnectAt) / 60_000);
    });
    expect(new Set(arrivals)).toEqual(new Set([5, 6, 7, 8, 9]));
    // Connected at the earliest lead: stays through the slot and the hold after it.
    const atLead = T0 + 30 * MIN - (PRESENCE.leadSeconds + PRESENCE.leadSpreadSeconds) * 1000;
    expect(presenceDecision(state(checkIn({ nextBackupAt }), { now: atLead }), half)).toEqual({
      stay: true,
      until: T0 + (30 + PRESENCE.holdMinutes) * MIN,
    });
    // After the hold the slot is history: the ordinary check-in.
    const after = T0 + (30 + PRESENCE.holdMinutes) * MIN;
    expect(presenceDecision(state(checkIn({ nextBackupAt }), { now: after }), half)).toEqual({
      stay: false,
      reconnectAt: after + 60 * MIN,
    });
  });

  it('is carried by the settings message, and a settings message without it still parses (an older cloud)', () => {
    const presence = checkIn({ nextBackupAt: '2026-12-02T01:15:00.000Z' });
    const parsed = parseMessage('cloud', JSON.stringify({ type: 'settings', v: PROTOCOL_VERSION, bandwidth: null, presence }));
    expect(parsed).toEqual({ type: 'settings', v: PROTOCOL_VERSION, bandwidth: null, presence });
    expect(parseMessage('cloud', JSON.stringify({ type: 'settings', v: PROTOCOL_VERSION, bandwidth: null }))).not.toHaveProperty(
      'presence',
    );
    expect(() =>
      parseMessage(
        'cloud',
        JSON.stringify({ type: 'settings', v: PROTOCOL_VERSION, bandwidth: null, presence: checkIn({ checkInSeconds: 5 }) }),
      ),
    ).toThrow(/checkInSeconds/);
  });
});
