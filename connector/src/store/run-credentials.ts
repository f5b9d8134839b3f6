import {
  type ConnectorMessage,
  type CredentialsMessage,
  type CredentialsRequestMessage,
  type ErrorMessage,
  PROTOCOL_VERSION,
  type UploadCredentials,
  type UploadTarget,
} from '../../../protocol';
import { ConnectorError } from '../errors';
import { type CredentialProvider, type CredentialRenewal, S3ObjectStore, type S3ObjectStoreOptions } from './s3-object-store';

/** What refreshing over the session needs from the link. */
export interface CredentialLink {
  on(event: 'credentials', listener: (message: CredentialsMessage) => void): unknown;
  on(event: 'cloud-error', listener: (message: ErrorMessage) => void): unknown;
  off(event: 'credentials', listener: (message: CredentialsMessage) => void): unknown;
  off(event: 'cloud-error', listener: (message: ErrorMessage) => void): unknown;
  sendIfConnected(message: ConnectorMessage): boolean;
}

/**
 * Where fresh credentials come from: the cloud, asked with a `credentials-request` naming the run
 * (and the drill or the restore grant). Rejects with a ConnectorError when the cloud refuses or
 * does not answer in time.
 */
export type CredentialSource = () => Promise<UploadCredentials>;

/** Which transfers a credentials request is for: a backup run's uploads, a drill's or a restore's reads. */
export type CredentialsFor = Pick<CredentialsRequestMessage, 'runId' | 'drillId' | 'restoreRequestId'>;

/** Whether a `credentials` answer, or the cloud's refusal, is the one for this request (the same run, drill and restore grant). */
export function answersRequest(
  message: Pick<CredentialsMessage, 'runId' | 'drillId' | 'restoreRequestId'>,
  request: CredentialsFor,
): boolean {
  return message.runId === request.runId && message.drillId === request.drillId && message.restoreRequestId === request.restoreRequestId;
}

/**
 * The credentials of one run's transfers — a backup's uploads, a restore drill's or a restore's
 * reads — as an SDK credential provider and the store's CredentialRenewal. STS sessions last an
 * hour and transfers can outlive them: fresh ones are fetched from `source` shortly before they
 * expire by this machine's clock, or at once when S3 said they have (`expired()`, its clock).
 * Backups, drills and restores share this one mechanism; only the source differs.
 */
export class RunCredentials implements CredentialRenewal {
  private current: UploadCredentials;
  private refreshing?: Promise<UploadCredentials>;
  /** S3 said the current ones expired (its clock, not ours): renew on the next call whatever their expiration says. */
  private stale = false;
  private renewals = 0;

  /** `refreshBeforeMs`: renewed this long before their expiration. */
  constructor(
    initial: UploadCredentials,
    private readonly source: CredentialSource,
    private readonly refreshBeforeMs = 5 * 60_000,
  ) {
    this.current = initial;
  }

  /**
   * For S3Client({ credentials }) and the signed requests: the current credentials, renewed first
   * when they are about to expire or S3 said they have. Marked `memoized` so that the SDK asks it
   * on every request instead of keeping its own copy until `expiration`: a renewal after S3's
   * ExpiredToken must reach the very next request.
   */
  readonly provider: CredentialProvider = Object.assign(
    async () => {
      if (this.stale || Date.parse(this.current.expiration) - Date.now() < this.refreshBeforeMs) {
        // One renewal at a time: concurrent requests wait for the same one.
        this.refreshing ??= this.source().finally(() => {
          this.refreshing = undefined;
        });
        const fresh = await this.refreshing;
        if (fresh !== this.current) {
          this.current = fresh;
          this.renewals++;
        }
        this.stale = false;
      }
      const c = this.current;
      return {
        accessKeyId: c.accessKeyId,
        secretAccessKey: c.secretAccessKey,
        sessionToken: c.sessionToken,
        expiration: new Date(Date.parse(c.expiration) - this.refreshBeforeMs),
      };
    },
    { memoized: true },
  );

  /** How many times the credentials were renewed. */
  get generation(): number {
    return this.renewals;
  }

  /**
   * S3 answered that the credentials of `generation` expired (ExpiredToken; RGW's AccessDenied near
   * their end): the next provider call fetches new ones — unless they were renewed since, as when
   * several requests signed with the old ones are refused one after another.
   */
  expired(generation: number = this.renewals): void {
    if (generation === this.renewals) this.stale = true;
  }

  /** True when the current credentials expire within `ms` by this machine's clock, or already have. */
  expiresWithin(ms: number): boolean {
    return Date.parse(this.current.expiration) - Date.now() < ms;
  }
}

/**
 * The store of a run's transfers (a backup, a restore drill, a restore) on credentials that renew
 * themselves from `source`: before they expire, and when S3 says they have (the request is then
 * sent once more). The one way the connector builds a store on STS credentials.
 */
export function storeOnRunCredentials(
  target: UploadTarget,
  initial: UploadCredentials,
  source: CredentialSource,
  options: Omit<S3ObjectStoreOptions, 'renewal'> = {},
): S3ObjectStore {
  const credentials = new RunCredentials(initial, source);
  return new S3ObjectStore(target, credentials.provider, { ...options, renewal: credentials });
}

/**
 * Fresh credentials over the service's session (backups and restore drills): a
 * `credentials-request` for `request`, sent again every `resendMs` until the `credentials` for that
 * very request arrive (a throttled or lost request is not the end), CREDENTIALS_EXPIRED after
 * `timeoutMs`. The cloud's refusal of that very request (an `error` naming its run, drill or
 * restore grant: the run ended, the drill was answered or expired) ends it at once with the
 * cloud's code and words (permanent).
 */
export function credentialsOverLink(
  link: CredentialLink,
  request: CredentialsFor,
  options: { timeoutMs?: number; resendMs?: number } = {},
): CredentialSource {
  const { timeoutMs = 120_000, resendMs = 20_000 } = options;
  return () =>
    new Promise((resolve, reject) => {
      const ask = () => link.sendIfConnected({ type: 'credentials-request', v: PROTOCOL_VERSION, ...request });
      const again = setInterval(ask, resendMs);
      const done = () => {
        clearTimeout(timer);
        clearInterval(again);
        link.off('credentials', onCredentials);
        link.off('cloud-error', onRefusal);
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new ConnectorError(
            'CREDENTIALS_EXPIRED',
            `the credentials of ${request.drillId ? `drill ${request.drillId} of ` : ''}run ${request.runId} expired and the cloud sent no new ones (is the connector connected?)`,
          ),
        );
      }, timeoutMs);
      const onCredentials = (message: CredentialsMessage) => {
        if (!answersRequest(message, request)) return;
        done();
        resolve(message.credentials);
      };
      const onRefusal = (message: ErrorMessage) => {
        if (
          message.inReplyTo !== 'credentials-request' ||
          message.runId === undefined ||
          !answersRequest({ ...message, runId: message.runId }, request)
        )
          return;
        done();
        reject(new ConnectorError(message.error.code, message.error.message, { permanent: true }));
      };
      link.on('credentials', onCredentials);
      link.on('cloud-error', onRefusal);
      ask();
    });
}
