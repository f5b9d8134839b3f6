import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import {
  type BackupJob, type ConnectorMessage, encodeMessage, type ErrorMessage, parseMessage, ProtocolError,
} from '../../../protocol';
import { backoffDelay, type BackoffOptions } from './backoff';
import type { Logger } from 'pino';

export interface LinkOptions {
  readonly endpoint: string;
  readonly credential: string;
  readonly connectorVersion: string;
  readonly logger: Logger;
  readonly backoff?: BackoffOptions;
}

export interface LinkEvents {
  job: [BackupJob];
  connected: [];
  disconnected: [code: number, reason: string];
}

/**
 * The connector's one outbound WebSocket: connects, reconnects forever with capped jittered
 * backoff, turns frames into typed messages, and keeps outgoing messages queued until a
 * connection can take them (so a result is delivered after a reconnect).
 */
export class Link extends EventEmitter<LinkEvents> {
  private socket?: WebSocket;
  private attempt = 0;
  private stopped = false;
  private reconnectTimer?: NodeJS.Timeout;
  private readonly outbox: string[] = [];

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

  /** Sends now if connected, else after the next successful connect. */
  send(message: ConnectorMessage): void {
    this.outbox.push(encodeMessage(message));
    this.flush();
  }

  /** Sends now or drops: for progress, where a stale copy is worthless. */
  sendIfConnected(message: ConnectorMessage): void {
    if (this.connected) this.socket!.send(encodeMessage(message));
  }

  /** Resolves when every queued message has been handed to a live socket. */
  async drained(timeoutMs: number): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    while (this.outbox.length > 0 || (this.socket?.bufferedAmount ?? 0) > 0) {
      if (Date.now() > until) return false;
      await new Promise((r) => setTimeout(r, 50));
    }
    return true;
  }

  private flush(): void {
    while (this.connected && this.outbox.length > 0) this.socket!.send(this.outbox.shift()!);
  }

  private connect(): void {
    const log = this.options.logger;
    const socket = new WebSocket(this.options.endpoint, {
      headers: { Authorization: `Bearer ${this.options.credential}`, 'X-Connector-Version': this.options.connectorVersion },
      handshakeTimeout: 30_000,
    });
    this.socket = socket;
    socket.on('open', () => this.onOpen());
    socket.on('message', (data: Buffer) => this.onMessage(data));
    socket.on('unexpected-response', (_req, res) => {
      log.warn({ status: res.statusCode }, res.statusCode === 403 || res.statusCode === 401
        ? 'the cloud refused this connector (check the tenant and its credential)'
        : 'the endpoint answered without upgrading to WebSocket');
      socket.terminate();
    });
    socket.on('error', (error) => log.debug({ err: error.message }, 'link error'));
    socket.on('close', (code, reason) => this.onClose(code, reason.toString()));
  }

  private onOpen(): void {
    this.attempt = 0;
    this.options.logger.info({ endpoint: this.options.endpoint }, 'connected');
    this.emit('connected');
    this.flush();
  }

  private onMessage(data: Buffer): void {
    try {
      const message = parseMessage('cloud', data);
      if (message.type === 'backup-job') this.emit('job', message);
      else this.options.logger.warn({ error: message.error }, 'the cloud reported an error');
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      this.options.logger.warn({ code: error.code }, `ignored a message from the cloud: ${error.message}`);
      const reply: ErrorMessage = { type: 'error', v: 1, error: { code: error.code, message: error.message } };
      this.send(reply);
    }
  }

  private onClose(code: number, reason: string): void {
    if (this.socket?.readyState !== WebSocket.CLOSED && this.socket?.readyState !== WebSocket.CLOSING) return;
    this.emit('disconnected', code, reason);
    if (this.stopped) return;
    const delay = backoffDelay(this.attempt++, this.options.backoff);
    this.options.logger.info({ code, reason, retryInMs: delay }, 'disconnected; will reconnect');
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }
}
