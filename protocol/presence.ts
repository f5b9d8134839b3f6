import { z } from 'zod';

/**
 * When the connector holds its WebSocket connection open. An always-open connection is most of a
 * tenant's cloud cost (docs/cost.md: connection minutes and the heartbeats that keep it inside API
 * Gateway's 10-minute idle limit), so by default a connector *checks in*: it connects, asks for its
 * settings, stays while there is work and leaves; it connects again at its next check-in, or a few
 * minutes before its next backup, whichever comes first.
 *
 * The cloud decides (it knows the schedule, waiting runs and due drills) and says so in the
 * `settings` message; the connector decides only when to leave, with `presenceDecision` below.
 * A connector that gets no presence (an older cloud) stays connected, as before.
 */
export const PRESENCE = {
  /** Connect at least this long before the next backup's slot, so that its run finds the connector… */
  leadSeconds: 300,
  /** …and up to this much earlier, at random: the tenants of one quarter hour (625 of 10,000) do not all connect in the same second (API Gateway: 500 new connections/s per account; the stage's throttle). */
  leadSpreadSeconds: 300,
  /** Stay this long after a backup's slot for its job: at least BackupRun's retry of an offline connector (5 minutes by default; the stack refuses a longer one), so a run that missed the connector finds it at its next try. */
  holdMinutes: 20,
  /** Stay connected this long after the service starts: customer IT installing, testing or restarting it sees it online and can run a backup at once. */
  startupHoldMinutes: 30,
  /** Leave no sooner than this after connecting: the answers to what was sent on connect (settings, results' acknowledgements) arrive first. */
  minimumConnectedSeconds: 30,
  /** Check-ins are spread by ± this share of the interval, so that a fleet started together does not stay together. */
  checkInJitter: 0.1,
} as const;

export const presenceSchema = z.discriminatedUnion('mode', [
  /** Connected all the time (a support backup starts at once). */
  z.object({ mode: z.literal('always') }),
  z.object({
    mode: z.literal('check-in'),
    /** Seconds between check-ins while idle (1 minute to 6 hours). */
    checkInSeconds: z
      .number()
      .int()
      .min(60)
      .max(6 * 3600),
    /** The instant of the tenant's next daily backup (its slot), or null when none is scheduled. */
    nextBackupAt: z.iso.datetime().nullable(),
    /** Work waits for this connector (a run retrying because it was away): stay connected at least until then. */
    stayUntil: z.iso.datetime().nullable(),
  }),
]);
export type Presence = z.infer<typeof presenceSchema>;

export interface PresenceState {
  /** The cloud's word from the last `settings`; undefined (an older cloud, or none yet) means stay. */
  presence: Presence | undefined;
  /** All instants in milliseconds since the epoch. */
  now: number;
  /** When the service started. */
  startedAt: number;
  /** When this connection opened. */
  connectedAt: number;
  /** A job, drill or restore runs, a result waits for its acknowledgement, or messages wait to be sent. */
  busy: boolean;
  /** The connector's own startup hold (its configuration's `startupHoldMinutes`). @default PRESENCE.startupHoldMinutes */
  startupHoldMinutes?: number;
  /** @default PRESENCE.minimumConnectedSeconds */
  minimumConnectedSeconds?: number;
}

export type PresenceDecision =
  /** Stay connected; decide again at `until` (Infinity: only when something changes). */
  | { stay: true; until: number }
  /** Leave now and connect again at `reconnectAt`. */
  | { stay: false; reconnectAt: number };

/**
 * Whether a connected connector stays or leaves, and when it comes back. Pure: `random` in [0, 1)
 * spreads the check-ins (PRESENCE.checkInJitter) and the arrivals before a backup (leadSpreadSeconds).
 */
export function presenceDecision(state: PresenceState, random: () => number = Math.random): PresenceDecision {
  const { presence, now } = state;
  if (!presence || presence.mode === 'always') return { stay: true, until: Number.POSITIVE_INFINITY };
  const nextBackup = presence.nextBackupAt ? Date.parse(presence.nextBackupAt) : undefined;
  const holds = [
    state.startedAt + (state.startupHoldMinutes ?? PRESENCE.startupHoldMinutes) * 60_000,
    state.connectedAt + (state.minimumConnectedSeconds ?? PRESENCE.minimumConnectedSeconds) * 1000,
    presence.stayUntil ? Date.parse(presence.stayUntil) : 0,
  ];
  // Inside a backup's slot: from the earliest lead before it to the hold after it.
  const earliestLead = (PRESENCE.leadSeconds + PRESENCE.leadSpreadSeconds) * 1000;
  if (nextBackup !== undefined && now >= nextBackup - earliestLead) holds.push(nextBackup + PRESENCE.holdMinutes * 60_000);
  const holdUntil = Math.max(...holds);
  if (state.busy) return { stay: true, until: Math.max(holdUntil, now + 10_000) };
  if (now < holdUntil) return { stay: true, until: holdUntil };
  const r = random();
  let reconnectAt = now + presence.checkInSeconds * 1000 * (1 + PRESENCE.checkInJitter * (2 * r - 1));
  const lead = nextBackup === undefined ? undefined : nextBackup - (PRESENCE.leadSeconds + r * PRESENCE.leadSpreadSeconds) * 1000;
  if (lead !== undefined && lead > now) reconnectAt = Math.min(reconnectAt, lead);
  return { stay: false, reconnectAt: Math.round(reconnectAt) };
}
