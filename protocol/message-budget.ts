/**
 * How much one connector may send, so that a whole fleet stays well inside the API Gateway stage's
 * throttle, which every connector shares (infra: ConnectorApi, 50 messages/s, burst 100). Every
 * message counts against it, heartbeats and $connect included. Sized in docs/protocol.md
 * ("Message budget") and checked against the synthesized template by the tests.
 */
export const MESSAGE_BUDGET = {
  /** A heartbeat only after this long without sending anything: inside API Gateway's 10-minute idle limit, with a minute to spare for a throttled one to be sent again. */
  heartbeatSeconds: 540,
  /** Progress of a running job at most this often (any phase): the run's state machine wants some every 10 minutes. */
  progressIntervalSeconds: 240,
  /** The first progress of a job waits a random delay up to this long, so that jobs started together do not report together. */
  firstProgressJitterSeconds: 90,
  /** An unacknowledged result is sent again after this long, doubling up to `resultResendCapSeconds`. */
  resultResendSeconds: 30,
  resultResendCapSeconds: 300,
  /** Per connection: at most this many messages at once, refilled one per `connectionRefillSeconds` (a runaway connector cannot flood the stage). */
  connectionBurst: 4,
  connectionRefillSeconds: 10,
  /** After a throttled message: wait (full jitter) from this, doubling up to the cap, then send it again. */
  throttleBackoffBaseMs: 2_000,
  throttleBackoffCapMs: 120_000,
  /** A WebSocket ping this often; a connection that answered pings before and then leaves one unanswered this long is half-open and replaced. */
  pingSeconds: 20,
  pongTimeoutSeconds: 25,
  /** A fresh connection before API Gateway's 2-hour cut. */
  reconnectAfterMinutes: 115,
} as const;

export interface FleetLoad {
  /** Heartbeats and reconnections ($connect) of an idle fleet, messages per second. */
  idlePerSecond: number;
  /** The same plus the runs' own messages, with the fleet's backups spread evenly over the backup window. */
  backupWindowPerSecond: number;
}

/**
 * The steady load a fleet puts on the stage's throttle with this budget. A run sends about
 * `messagesPerRun` messages (progress every 4 minutes of a `runMinutes` run, the result, and
 * a credentials request for long uploads); heartbeats stop while it does.
 */
export function fleetLoad(
  tenants: number,
  options: { backupWindowHours: number; runMinutes?: number; budget?: typeof MESSAGE_BUDGET },
): FleetLoad {
  const budget = options.budget ?? MESSAGE_BUDGET;
  const runMinutes = options.runMinutes ?? 30;
  const heartbeats = tenants / budget.heartbeatSeconds;
  const connects = tenants / (budget.reconnectAfterMinutes * 60);
  const idlePerSecond = heartbeats + connects;
  const messagesPerRun = Math.ceil((runMinutes * 60) / budget.progressIntervalSeconds) + 2;
  const windowSeconds = options.backupWindowHours * 3600;
  // While a run sends progress, it sends no heartbeats: the run replaces them.
  const runShare = Math.min(1, (runMinutes * 60) / windowSeconds);
  const backupWindowPerSecond = idlePerSecond * (1 - runShare) + connects * runShare + (tenants * messagesPerRun) / windowSeconds;
  return { idlePerSecond, backupWindowPerSecond };
}
