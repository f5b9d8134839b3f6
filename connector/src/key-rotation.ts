import type { Logger } from 'pino';
import { newConnectorKeyPair, PROTOCOL_VERSION, publicKeyDerOf, signatureAuthorization } from '../../protocol';
import { type ConnectorIdentity, saveIdentity } from './identity';
import type { Link } from './link/link';

/**
 * The connector's key and its rotation without downtime: a new key is generated here, saved as
 * pending, and registered over the authenticated session; once the cloud confirms, the connector
 * reconnects with it, and that first use makes it the only key (the old one stops working).
 * If the new key is refused, the connector keeps the old one.
 */
export class ConnectorKeys {
  private usedPending = false;
  /** When a rotate-key went out on the current connection (its key-registered answer is awaited). */
  private registerSentAt?: number;

  constructor(
    private identity: ConnectorIdentity,
    private readonly identityFile: string,
    private readonly logger: Logger,
  ) {}

  get keyId(): string {
    return this.identity.current.keyId;
  }

  /** A rotate-key was sent less than a minute ago and the cloud's key-registered has not come: a check-in connector stays for it. */
  awaitingRegistration(now = Date.now()): boolean {
    const pending = this.identity.pending;
    return Boolean(pending && !pending.registered && this.registerSentAt !== undefined && now - this.registerSentAt < 60_000);
  }

  /** The Authorization header for the next connection. */
  authorization(now = Date.now()): string {
    const pending = this.identity.pending;
    this.usedPending = Boolean(pending?.registered);
    const key = this.usedPending && pending ? pending : this.identity.current;
    return signatureAuthorization(this.identity.tenantId, key.keyId, key.privateKeyPem, now);
  }

  attach(link: Link): void {
    link.on('connected', () => void this.onConnected(link));
    link.on('refused', () => void this.onRefused());
    link.on('key-registered', (keyId) => void this.onRegistered(link, keyId));
  }

  /**
   * Rotates when due, looked at on every connection, not only the first: a service runs for months,
   * and a check-in connector (protocol/presence.ts) is connected for minutes a day, so a rotation that
   * falls due while it rests starts at its next check-in. A pending key is carried on by `attach`'s
   * own 'connected' listener. `days` 0 ("at every start") rotates once per call of this.
   */
  rotateWhenDue(link: Link, days: number, now: () => Date = () => new Date()): void {
    let checked = false;
    link.on('connected', () => {
      if (this.identity.pending || (days === 0 && checked)) return;
      checked = true;
      this.rotateIfDue(link, days, now()).catch((error: unknown) =>
        this.logger.warn({ err: (error as Error).message }, 'could not start the key rotation; trying again at the next connection'),
      );
    });
  }

  /** Starts a rotation if the current key is older than `days` (or at once with days = 0). */
  async rotateIfDue(link: Link, days: number, now = new Date()): Promise<boolean> {
    const age = now.getTime() - Date.parse(this.identity.current.createdAt);
    if (age < days * 86_400_000 && days > 0) return false;
    if (!this.identity.pending) {
      const pair = newConnectorKeyPair();
      this.identity = {
        ...this.identity,
        pending: { keyId: pair.keyId, privateKeyPem: pair.privateKeyPem, createdAt: now.toISOString(), registered: false },
      };
      await saveIdentity(this.identityFile, this.identity);
      this.logger.info({ keyId: pair.keyId }, 'new connector key generated; registering it');
    }
    return this.register(link);
  }

  private register(link: Link): boolean {
    const pending = this.identity.pending;
    if (!pending || pending.registered) return false;
    const publicKey = publicKeyDerOf(pending.privateKeyPem);
    const sent = link.sendIfConnected({ type: 'rotate-key', v: PROTOCOL_VERSION, keyId: pending.keyId, publicKey });
    if (sent) this.registerSentAt = Date.now();
    return sent;
  }

  private async onConnected(link: Link): Promise<void> {
    const pending = this.identity.pending;
    if (this.usedPending && pending) {
      this.identity = {
        tenantId: this.identity.tenantId,
        current: { keyId: pending.keyId, privateKeyPem: pending.privateKeyPem, createdAt: pending.createdAt },
      };
      await saveIdentity(this.identityFile, this.identity);
      this.logger.info({ keyId: pending.keyId }, 'key rotation complete: connected with the new key');
    } else if (pending && !pending.registered) {
      this.register(link);
    }
  }

  private async onRefused(): Promise<void> {
    if (!this.usedPending || !this.identity.pending) return;
    this.logger.warn({ keyId: this.identity.pending.keyId }, 'the new key was refused; keeping the current key');
    this.identity = { tenantId: this.identity.tenantId, current: this.identity.current };
    await saveIdentity(this.identityFile, this.identity);
  }

  private async onRegistered(link: Link, keyId: string): Promise<void> {
    const pending = this.identity.pending;
    if (!pending || pending.keyId !== keyId) return;
    this.registerSentAt = undefined;
    this.identity = { ...this.identity, pending: { ...pending, registered: true } };
    await saveIdentity(this.identityFile, this.identity);
    link.reconnectNow('switching to the new key');
  }
}
