import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import WebSocket from 'ws';
import {
  type BackupJob,
  type CancelJob,
  type ConnectorMessage,
  type DrillJob,
  type CredentialsMessage,
  type SettingsMessage,
  encodeMessage,
  type ErrorMessage,
  GATEWAY_INTEGRATION_FAILED,
  GATEWAY_THROTTLED,
  MESSAGE_BUDGET,
  parseGatewayFrame,
  parseMessage,
  PROTOCOL_VERSION,
  ProtocolError,
  type ResultMessage,
  TokenBucket,
} from '../../../protocol';
import { dial, isRefusal } from './handshake';
import { backoffDelay, type BackoffOptions } from './backoff';
import type { Outbox } from './outbox';

export interface LinkOptions {
  readonly endpoint: string;
  /** The Authorization header for the next connection attempt (fresh timestamp and nonce each time). */
  readonly authorization: () => string;
  readonly connectorVersion: string;
  readonly logger: Logger;
  readonly outbox: Outbox;
  readonly backoff?: BackoffOptions;
  /** A heartbeat after this long without sending anything, inside API Gateway's 10-minute idle limit. @default MESSAGE_BUDGET.heartbeatSeconds */
  readonly heartbeatMs?: number;
  /** Reconnect before API Gateway's 2-hour cut-off. @default MESSAGE_BUDGET.reconnectAfterMinutes */
  readonly maxConnectionMs?: number;
  /** WebSocket ping interval; a connection that answered pings and then leaves one unanswered for `pongTimeoutMs` is replaced. @default MESSAGE_BUDGET */
  readonly pingMs?: number;
  readonly pongTimeoutMs?: number;
  /** First resend of an unacknowledged result; doubles up to the cap. @default MESSAGE_BUDGET */
  readonly resultResendMs?: number;
  readonly resultResendCapMs?: number;
  /** Back-off after a message API Gateway throttled (full jitter, doubling to the cap). @default MESSAGE_BUDGET */
  readonly throttleBackoff?: BackoffOptions;
  /** The per-connection budget: burst and refill interval. @default MESSAGE_BUDGET */
  readonly connectionBurst?: number;
  readonly connectionRefillMs?: number;
}

export interface LinkEvents {
  job: [BackupJob];
  cancel: [CancelJob];
  drill: [DrillJob];
  'key-registered': [keyId: string];
  credentials: [CredentialsMessage];
  /** The cloud refused something this connector sent (a credentials request, naming its run, drill or restore grant). */
  'cloud-error': [ErrorMessage];
  /** The tenant's central settings (bandwidth), after each connect and whenever an operator changes them. */
  settings: [SettingsMessage];
  connected: [];
  /** The cloud refused the connection (HTTP 401/403): a credential problem, not a network one. */
  refused: [status: number];
  disconnected: [code: number, reason: string];
  /** The cloud acknowledged a result: it left the outbox. */
  acknowledged: [runId: string];
  /** The link left on purpose (`rest`) and connects again at `until` (ms since the epoch), or earlier for a result. */
  resting: [until: number, reason: string];
  /** API Gateway did not deliver a message (throttled, or its integration failed); the newest recent one not yet accounted for (its type given) is sent again after `retryInMs`. */
  undelivered: [reason: string, type: ConnectorMessage['type'], retryInMs: number];
  /** The connection stopped answering pings and was replaced. */
  'half-open': [];
}

/** API Gateway answers a throttled message at once: messages sent longer ago than this were delivered. */
const RECENT_MS = 5_000;

/** Sending order when the budget is short: results first, heartbeats last. */
const PRIORITY: Record<ConnectorMessage['type'], number> = {
  result: 0,
  'credentials-request': 1,
  'rotate-key': 1,
  'drill-result': 1,
  error: 1,
  'restore-request': 1,
  'settings-request': 1,
  progress: 2,
  heartbeat: 3,
};

/** Messages of which only the newest matters: a newer one replaces a queued one (per run for progress). */
function coalesceKey(message: ConnectorMessage): string | undefined {
  if (message.type === 'heartbeat') return 'heartbeat';
  if (message.type === 'progress') return `progress:${message.runId}`;
  if (message.type === 'result') return `result:${message.runId}`;
  if (message.type === 'credentials-request') return `credentials:${message.runId}`;
  if (message.type === 'settings-request') return 'settings-request';
  return undefined;
}

/**
 * The connector's one outbound WebSocket: connects, reconnects forever with capped jittered
 * backoff, reconnects proactively before API Gateway's 2-hour limit, and turns frames into typed
 * messages. Everything it sends goes through one queue that keeps the message budget
 * (protocol/message-budget.ts): a per-connection token bucket, results first, a heartbeat only
 * after a silence; a message API Gateway throttled (or failed to deliver) is sent again after a
 * jittered back-off. Results stay in the on-disk outbox and are sent again on a timer and after
 * every reconnect until acknowledged. WebSocket pings find a half-open connection and replace it.
 */
export class Link extends EventEmitter<LinkEvents> {
  private socket?: WebSocket;
  private attempt = 0;
  private stopped = false;
  private reconnectTimer?: NodeJS.Timeout;
  private heartbeatTimer?: NodeJS.Timeout;
  private ageTimer?: NodeJS.Timeout;
  private pingTimer?: NodeJS.Timeout;
  private pongTimer?: NodeJS.Timeout;
  private pumpTimer?: NodeJS.Timeout;
  private resendTimer?: NodeJS.Timeout;
  /** Set when we close on purpose and want the next connection at once. */
  private reconnectAtOnce = false;
  /** Set by `rest`: the connection closes (or stays closed) until this instant (ms since the epoch). */
  private restUntil?: number;
  /** The reconnect timer set by `rest` is pending: no connection until it fires (or a result wakes the link). */
  private restingUntil?: number;
  private queue: ConnectorMessage[] = [];
  /** Messages sent recently, oldest first: API Gateway's error frames answer them in order. */
  private recent: Array<{ message: ConnectorMessage; at: number }> = [];
  private bucket: TokenBucket;
  private pausedUntil = 0;
  private throttleAttempt = 0;
  private lastThrottleAt = 0;
  private lastSentAt = 0;
  private resendRound = 0;
  private pong = { seen: false, awaitingSince: 0, warned: false };

  constructor(private readonly options: LinkOptions) {
    super();
    this.bucket = this.newBucket();
  }

  private newBucket(): TokenBucket {
    return new TokenBucket(
      1000 / (this.options.connectionRefillMs ?? MESSAGE_BUDGET.connectionRefillSeconds * 1000),
      this.options.connectionBurst ?? MESSAGE_BUDGET.connectionBurst,
    );
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.restUntil = undefined;
    this.restingUntil = undefined;
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.resendTimer);
    this.clearConnectionTimers();
    const socket = this.socket;
    if (socket && socket.readyState === WebSocket.OPEN) {
      await new Promise<void>((resolve) => {
        socket.once('close', () => resolve());
        socket.close(1000, 'connector stopping');
        setTimeout(resolve, 2000).unref();
      });
    }
    socket?.terminate();
  }

  get connected(): boolean {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  /** The instant (ms since the epoch) the link connects again after `rest`, while it rests; else undefined. */
  get restingUntilMs(): number | undefined {
    return this.restingUntil;
  }

  /** Messages queued for this connection and not yet sent (the budget or a throttle holds them back). */
  get sendQueueLength(): number {
    return this.queue.length;
  }

  /**
   * Leaves on purpose and comes back at `untilMs` (ms since the epoch): the connection closes with
   * 1000 and `reason`, and the next one is dialled at that instant — no back-off, no reconnect
   * before it — unless a result is delivered meanwhile (`deliver` connects at once), `reconnectNow`
   * is called, or the link stops. A dial at the instant that fails falls back to the usual back-off.
   * Used for check-in presence (protocol/presence.ts); the caller decides when (presence-controller.ts).
   */
  rest(untilMs: number, reason: string): void {
    if (this.stopped) return;
    this.reconnectAtOnce = false;
    this.restUntil = untilMs;
    const socket = this.socket;
    if (socket && (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING)) {
      if (socket.readyState === WebSocket.OPEN) socket.close(1000, reason.slice(0, 120));
      else socket.terminate();
      return; // onClose schedules the check-in
    }
    this.scheduleCheckIn(reason);
  }

  /**
   * Queues a result on disk and sends it; it is sent again on a timer and after every reconnect
   * until acknowledged. `whenQueued` runs once the result is safe on disk, before it is sent.
   */
  async deliver(result: ResultMessage, whenQueued?: () => Promise<void>): Promise<void> {
    await this.options.outbox.add(result);
    await whenQueued?.();
    // A result never waits for a check-in: a resting link connects now, and onOpen sends the outbox.
    if (this.restingUntil !== undefined || (this.restUntil !== undefined && !this.connected)) this.wake('a result to deliver');
    else this.sendIfConnected(result);
    this.armResend(true);
  }

  /** Ends a rest early: connects now. */
  private wake(reason: string): void {
    if (this.stopped) return;
    this.options.logger.info({ reason }, 'checking in early');
    this.restUntil = undefined;
    this.restingUntil = undefined;
    clearTimeout(this.reconnectTimer);
    const socket = this.socket;
    if (!socket || socket.readyState === WebSocket.CLOSED) this.connect();
    // else: a connection is being dialled or closing; onClose reconnects at once (restUntil is cleared)
    else this.reconnectAtOnce = true;
  }

  /** The connection is closed: the next one at the rest's instant. */
  private scheduleCheckIn(reason: string): void {
    const until = this.restUntil!;
    this.restUntil = undefined;
    this.restingUntil = until;
    clearTimeout(this.reconnectTimer);
    this.options.logger.info({ reason, checkInAt: new Date(until).toISOString() }, `checking in again at ${new Date(until).toISOString()}`);
    this.reconnectTimer = setTimeout(
      () => {
        this.restingUntil = undefined;
        this.connect();
      },
      Math.max(0, until - Date.now()),
    );
    this.emit('resting', until, reason);
    // A result never waits for a check-in: one queued just as the link decided to rest wakes it now.
    void this.options.outbox.all().then(
      (pending) => {
        if (pending.length > 0 && this.restingUntil === until) this.wake('a result waits for its acknowledgement');
      },
      () => undefined,
    );
  }

  hasQueuedResult(runId: string): Promise<boolean> {
    return this.options.outbox.has(runId);
  }

  /** How many results wait in the outbox for the cloud's acknowledgement. */
  async pendingResultCount(): Promise<number> {
    return (await this.options.outbox.all()).length;
  }

  /**
   * Queues a message for this connection within the budget, or drops it when not connected (for
   * progress and heartbeats a stale copy is worthless; results come back from the outbox).
   * A newer progress, heartbeat or credentials request replaces a queued one.
   */
  sendIfConnected(message: ConnectorMessage): boolean {
    if (!this.connected) return false;
    this.enqueue(message);
    return true;
  }

  /** Closes the connection and connects again at once (new key, proactive renewal). */
  reconnectNow(reason: string): void {
    this.reconnectAtOnce = true;
    this.restUntil = undefined;
    this.restingUntil = undefined;
    const socket = this.socket;
    if (socket && socket.readyState === WebSocket.OPEN) socket.close(1000, reason);
    else if (!socket || socket.readyState === WebSocket.CLOSED) this.connect();
  }

  private enqueue(message: ConnectorMessage): void {
    const key = coalesceKey(message);
    if (key) this.queue = this.queue.filter((queued) => coalesceKey(queued) !== key);
    this.queue.push(message);
    // Stable: equal priorities keep their order.
    this.queue.sort((a, b) => PRIORITY[a.type] - PRIORITY[b.type]);
    this.pump();
  }

  /** Sends what the budget allows now, and comes back when the next token is due. */
  private pump(): void {
    clearTimeout(this.pumpTimer);
    const socket = this.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    const now = Date.now();
    if (now < this.pausedUntil) {
      this.pumpTimer = setTimeout(() => this.pump(), this.pausedUntil - now);
      return;
    }
    while (this.queue.length > 0) {
      if (!this.bucket.tryTake(now)) {
        this.pumpTimer = setTimeout(() => this.pump(), Math.max(1, this.bucket.waitMs(now)));
        return;
      }
      const message = this.queue.shift()!;
      socket.send(encodeMessage(message));
      this.lastSentAt = now;
      this.recent.push({ message, at: now });
    }
    this.recent = this.recent.filter((r) => now - r.at < RECENT_MS);
    this.armHeartbeat();
  }

  /** A heartbeat only when nothing else went out for the heartbeat interval. */
  private armHeartbeat(): void {
    clearTimeout(this.heartbeatTimer);
    if (!this.connected) return;
    const interval = this.options.heartbeatMs ?? MESSAGE_BUDGET.heartbeatSeconds * 1000;
    const due = Math.max(0, this.lastSentAt + interval - Date.now());
    this.heartbeatTimer = setTimeout(() => {
      if (Date.now() - this.lastSentAt >= interval) this.enqueue({ type: 'heartbeat', v: PROTOCOL_VERSION });
      else this.armHeartbeat();
    }, due);
  }

  /** Unacknowledged results go out again after 30 s, 60 s, 120 s … (capped), until acknowledged. */
  private armResend(fresh = false): void {
    if (fresh) this.resendRound = 0;
    clearTimeout(this.resendTimer);
    if (this.stopped) return;
    const base = this.options.resultResendMs ?? MESSAGE_BUDGET.resultResendSeconds * 1000;
    const cap = this.options.resultResendCapMs ?? MESSAGE_BUDGET.resultResendCapSeconds * 1000;
    const delay = Math.min(cap, base * 2 ** Math.min(this.resendRound, 20));
    this.resendTimer = setTimeout(() => void this.resendPending(), delay * (0.8 + Math.random() * 0.4));
  }

  private async resendPending(): Promise<void> {
    const pending = await this.options.outbox.all();
    if (pending.length === 0) return;
    // A result never waits for a check-in (one queued just as the link went to rest).
    if (this.restingUntil !== undefined) this.wake('a result waits for its acknowledgement');
    else if (this.connected) {
      this.options.logger.info({ runIds: pending.map((p) => p.runId) }, 'result not acknowledged yet; sending it again');
      for (const result of pending) this.enqueue(result);
    }
    this.resendRound++;
    this.armResend();
  }

  private connect(): void {
    clearTimeout(this.reconnectTimer);
    this.restingUntil = undefined;
    const log = this.options.logger;
    const socket = dial({
      endpoint: this.options.endpoint,
      authorization: this.options.authorization(),
      connectorVersion: this.options.connectorVersion,
      handshakeTimeoutMs: 30_000,
    });
    this.socket = socket;
    socket.on('open', () => void this.onOpen(socket));
    socket.on('message', (data: Buffer) => void this.onMessage(data));
    socket.on('pong', () => {
      this.pong.seen = true; // this endpoint answers pings: from now on, a missing pong means a dead connection
      this.onAlive();
    });
    socket.on('unexpected-response', (_req, res) => {
      const status = res.statusCode ?? 0;
      log.warn(
        { status },
        isRefusal(status)
          ? 'the cloud refused this connector (tenant disabled, key revoked, or clock off by more than 5 minutes)'
          : status === 429
            ? 'the cloud is throttling new connections; trying again later'
            : 'the endpoint answered without upgrading to WebSocket',
      );
      if (isRefusal(status)) this.emit('refused', status);
      socket.terminate();
    });
    socket.on('error', (error) => log.debug({ err: error.message }, 'link error'));
    socket.on('close', (code, reason) => this.onClose(socket, code, reason.toString()));
  }

  private async onOpen(socket: WebSocket): Promise<void> {
    this.attempt = 0;
    this.options.logger.info({ endpoint: this.options.endpoint }, 'connected');
    this.bucket = this.newBucket();
    this.pausedUntil = 0;
    this.recent = [];
    this.lastSentAt = Date.now();
    this.pong = { seen: false, awaitingSince: 0, warned: false };
    this.armHeartbeat();
    this.startPings(socket);
    this.ageTimer = setTimeout(
      () => this.reconnectNow('renewing before the 2-hour limit'),
      this.options.maxConnectionMs ?? MESSAGE_BUDGET.reconnectAfterMinutes * 60_000,
    );
    this.emit('connected');
    const pending = await this.options.outbox.all();
    if (socket !== this.socket || !this.connected) return;
    for (const result of pending) this.enqueue(result);
    if (pending.length > 0) this.armResend(true);
  }

  /** Any frame from the cloud proves the connection alive, as a pong does. */
  private onAlive(): void {
    this.pong.awaitingSince = 0;
    clearTimeout(this.pongTimer);
  }

  /**
   * A ping every interval. A connection that has answered a ping before and then leaves one unanswered
   * for the pong timeout (so within interval + timeout: 45 s by default) is half-open (the peer or a middlebox is gone without a close): it is
   * terminated and a new one dialled. An endpoint that never answers pings is not judged by them.
   */
  private startPings(socket: WebSocket): void {
    const interval = this.options.pingMs ?? MESSAGE_BUDGET.pingSeconds * 1000;
    const timeout = this.options.pongTimeoutMs ?? MESSAGE_BUDGET.pongTimeoutSeconds * 1000;
    const check = () => {
      if (socket !== this.socket || socket.readyState !== WebSocket.OPEN || this.pong.awaitingSince === 0) return;
      if (this.pong.seen) {
        this.options.logger.warn(
          { silentForMs: Date.now() - this.pong.awaitingSince },
          'the connection stopped answering pings (half-open); replacing it',
        );
        this.emit('half-open');
        this.reconnectAtOnce = true;
        socket.terminate();
        return;
      }
      if (!this.pong.warned)
        this.options.logger.info(
          'the endpoint does not answer WebSocket pings; half-open connections are found by the heartbeat and the 2-hour renewal only',
        );
      this.pong.warned = true;
    };
    // One ping at a time: the next goes only once the last was answered (or judged).
    this.pingTimer = setInterval(() => {
      if (socket !== this.socket || socket.readyState !== WebSocket.OPEN || this.pong.awaitingSince !== 0 || this.pong.warned) return;
      this.pong.awaitingSince = Date.now();
      socket.ping();
      clearTimeout(this.pongTimer);
      this.pongTimer = setTimeout(check, timeout);
    }, interval);
  }

  private async onMessage(data: Buffer): Promise<void> {
    this.onAlive();
    const frame = parseGatewayFrame(data);
    if (frame) return this.onGatewayFrame(frame.message);
    try {
      const message = parseMessage('cloud', data);
      switch (message.type) {
        case 'backup-job':
          this.emit('job', message);
          break;
        case 'cancel-job':
          this.emit('cancel', message);
          break;
        case 'drill-job':
          this.emit('drill', message);
          break;
        case 'restore-grant':
          break; // for `so-connector restore`'s own connection
        case 'ack':
          await this.options.outbox.remove(message.runId);
          this.queue = this.queue.filter((queued) => !(queued.type === 'result' && queued.runId === message.runId));
          if ((await this.options.outbox.all()).length === 0) clearTimeout(this.resendTimer);
          this.emit('acknowledged', message.runId);
          break;
        case 'key-registered':
          this.emit('key-registered', message.keyId);
          break;
        case 'credentials':
          this.emit('credentials', message);
          break;
        case 'settings':
          this.emit('settings', message);
          break;
        case 'error':
          this.options.logger.warn(
            { error: message.error, inReplyTo: message.inReplyTo, runId: message.runId },
            'the cloud reported an error',
          );
          this.emit('cloud-error', message);
      }
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      this.options.logger.warn({ code: error.code }, `ignored a message from the cloud: ${error.message}`);
      const reply: ErrorMessage = { type: 'error', v: PROTOCOL_VERSION, error: { code: error.code, message: error.message } };
      this.sendIfConnected(reply);
    }
  }

  /**
   * API Gateway's own frame: a message sent recently was not delivered (throttled, or the message
   * function failed). Sending pauses for a jittered back-off and that message goes again.
   * Nothing is answered (an answer would only add to the load).
   */
  private onGatewayFrame(reason: string): void {
    if (reason !== GATEWAY_THROTTLED && reason !== GATEWAY_INTEGRATION_FAILED) {
      this.options.logger.warn({ reason }, 'API Gateway refused a message');
      return;
    }
    const now = Date.now();
    if (now - this.lastThrottleAt > 5 * 60_000) this.throttleAttempt = 0;
    this.lastThrottleAt = now;
    const delay = Math.max(
      250,
      backoffDelay(
        this.throttleAttempt++,
        this.options.throttleBackoff ?? { baseMs: MESSAGE_BUDGET.throttleBackoffBaseMs, capMs: MESSAGE_BUDGET.throttleBackoffCapMs },
      ),
    );
    this.pausedUntil = Math.max(this.pausedUntil, now + delay);
    // The frame does not say which message it answers. The stage's token bucket lets the first
    // messages of a burst through and refuses the later ones, so each frame stands for the newest
    // recent message not yet accounted for: that one goes again. (Sending every recent one again
    // would resend delivered ones ahead of the refused one, and under a steady throttle the last of a
    // burst would never get through.) Results and credential requests also have their own resend
    // until answered, so a frame that answered an older message loses nothing that matters.
    const recent = this.recent.filter((r) => now - r.at < RECENT_MS);
    const refused = recent.pop();
    this.recent = recent;
    if (refused) {
      this.emit('undelivered', reason, refused.message.type, delay);
      const key = coalesceKey(refused.message);
      if (key ? !this.queue.some((queued) => coalesceKey(queued) === key) : !this.queue.includes(refused.message))
        this.enqueue(refused.message);
    }
    this.options.logger.info(
      { reason, type: refused?.message.type, retryInMs: delay },
      'API Gateway did not deliver a message; sending it again after a pause',
    );
    this.pump();
  }

  private clearConnectionTimers(): void {
    clearTimeout(this.heartbeatTimer);
    clearTimeout(this.ageTimer);
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
    clearTimeout(this.pumpTimer);
  }

  private onClose(socket: WebSocket, code: number, reason: string): void {
    if (socket !== this.socket) return;
    this.clearConnectionTimers();
    // Results come back from the outbox on the next connection; the rest is stale.
    this.queue = [];
    this.emit('disconnected', code, reason);
    if (this.stopped) return;
    if (this.restUntil !== undefined) {
      this.scheduleCheckIn(reason);
      return;
    }
    const delay = this.reconnectAtOnce ? 0 : backoffDelay(this.attempt++, this.options.backoff);
    this.reconnectAtOnce = false;
    this.options.logger.info({ code, reason, retryInMs: delay }, 'disconnected; will reconnect');
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }
}
