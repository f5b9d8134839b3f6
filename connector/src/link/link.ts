import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import WebSocket from 'ws';
import {
  type BackupJob, type CancelJob, type ConnectorMessage, type DrillJob, type CredentialsMessage, type SettingsMessage, encodeMessage, type ErrorMessage, parseMessage, PROTOCOL_VERSION, ProtocolError, type ResultMessage,
} from '../../../protocol';
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
  /** Application heartbeat, inside API Gateway's 10-minute idle limit. @default 480_000 ms */
  readonly heartbeatMs?: number;
  /** Reconnect before API Gateway's 2-hour cut-off. @default 110 minutes */
  readonly maxConnectionMs?: number;
}

export interface LinkEvents {
  job: [BackupJob];
  cancel: [CancelJob];
  drill: [DrillJob];
  'key-registered': [keyId: string];
  credentials: [CredentialsMessage];
  /** The tenant's central settings (bandwidth), after each connect and whenever an operator changes them. */
  settings: [SettingsMessage];
  connected: [];
  /** The cloud refused the connection (HTTP 401/403): a credential problem, not a network one. */
  refused: [status: number];
  disconnected: [code: number, reason: string];
}

/**
 * The connector's one outbound WebSocket: connects, reconnects forever with capped jittered
 * backoff, sends a heartbeat, reconnects proactively before API Gateway's 2-hour limit, turns
 * frames into typed messages, and delivers results from the on-disk outbox until acknowledged.
 */
export class Link extends EventEmitter<LinkEvents> {
  private socket?: WebSocket;
  private attempt = 0;
  private stopped = false;
  private reconnectTimer?: NodeJS.Timeout;
  private heartbeatTimer?: NodeJS.Timeout;
  private ageTimer?: NodeJS.Timeout;
  /** Set when we close on purpose and want the next connection at once. */
  private reconnectAtOnce = false;

  constructor(private readonly options: LinkOptions) {
    super();
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
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

  /**
   * Queues a result on disk and sends it; it is resent after every reconnect until acknowledged.
   * `whenQueued` runs once the result is safe on disk, before it is sent.
   */
  async deliver(result: ResultMessage, whenQueued?: () => Promise<void>): Promise<void> {
    await this.options.outbox.add(result);
    await whenQueued?.();
    this.sendIfConnected(result);
  }

  hasQueuedResult(runId: string): Promise<boolean> {
    return this.options.outbox.has(runId);
  }

  /** Sends now or drops: for progress and heartbeats, where a stale copy is worthless. */
  sendIfConnected(message: ConnectorMessage): boolean {
    if (!this.connected) return false;
    this.socket!.send(encodeMessage(message));
    return true;
  }

  /** Closes the connection and connects again at once (new key, proactive renewal). */
  reconnectNow(reason: string): void {
    this.reconnectAtOnce = true;
    const socket = this.socket;
    if (socket && socket.readyState === WebSocket.OPEN) socket.close(1000, reason);
    else if (!socket || socket.readyState === WebSocket.CLOSED) this.connect();
  }

  private connect(): void {
    clearTimeout(this.reconnectTimer);
    const log = this.options.logger;
    const socket = new WebSocket(this.options.endpoint, {
      headers: { Authorization: this.options.authorization(), 'X-Connector-Version': this.options.connectorVersion },
      handshakeTimeout: 30_000,
    });
    this.socket = socket;
    socket.on('open', () => void this.onOpen(socket));
    socket.on('message', (data: Buffer) => void this.onMessage(data));
    socket.on('unexpected-response', (_req, res) => {
      const status = res.statusCode ?? 0;
      log.warn({ status }, status === 401 || status === 403
        ? 'the cloud refused this connector (tenant disabled, key revoked, or clock off by more than 5 minutes)'
        : 'the endpoint answered without upgrading to WebSocket');
      if (status === 401 || status === 403) this.emit('refused', status);
      socket.terminate();
    });
    socket.on('error', (error) => log.debug({ err: error.message }, 'link error'));
    socket.on('close', (code, reason) => this.onClose(socket, code, reason.toString()));
  }

  private async onOpen(socket: WebSocket): Promise<void> {
    this.attempt = 0;
    this.options.logger.info({ endpoint: this.options.endpoint }, 'connected');
    const heartbeatMs = this.options.heartbeatMs ?? 480_000;
    this.heartbeatTimer = setInterval(() => this.sendIfConnected({ type: 'heartbeat', v: PROTOCOL_VERSION }), heartbeatMs);
    this.ageTimer = setTimeout(() => this.reconnectNow('renewing before the 2-hour limit'), this.options.maxConnectionMs ?? 110 * 60_000);
    this.emit('connected');
    for (const pending of await this.options.outbox.all()) {
      if (socket !== this.socket || !this.connected) break;
      socket.send(encodeMessage(pending));
    }
  }

  private async onMessage(data: Buffer): Promise<void> {
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
          this.options.logger.warn({ error: message.error }, 'the cloud reported an error');
      }
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      this.options.logger.warn({ code: error.code }, `ignored a message from the cloud: ${error.message}`);
      const reply: ErrorMessage = { type: 'error', v: PROTOCOL_VERSION, error: { code: error.code, message: error.message } };
      this.sendIfConnected(reply);
    }
  }

  private onClose(socket: WebSocket, code: number, reason: string): void {
    if (socket !== this.socket) return;
    clearInterval(this.heartbeatTimer);
    clearTimeout(this.ageTimer);
    this.emit('disconnected', code, reason);
    if (this.stopped) return;
    const delay = this.reconnectAtOnce ? 0 : backoffDelay(this.attempt++, this.options.backoff);
    this.reconnectAtOnce = false;
    this.options.logger.info({ code, reason, retryInMs: delay }, 'disconnected; will reconnect');
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }
}
