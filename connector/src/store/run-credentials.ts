import {
  type BackupJob,
  type ConnectorMessage,
  type CredentialsMessage,
  PROTOCOL_VERSION,
  type UploadCredentials,
} from '../../../protocol';
import { ConnectorError } from '../errors';
import type { CredentialProvider } from './s3-object-store';

/** What refreshing needs from the link. */
export interface CredentialLink {
  on(event: 'credentials', listener: (message: CredentialsMessage) => void): unknown;
  off(event: 'credentials', listener: (message: CredentialsMessage) => void): unknown;
  sendIfConnected(message: ConnectorMessage): boolean;
}

/**
 * A run's upload credentials as an SDK credential provider: when they are about to expire
 * (uploads can outlive STS's one-hour sessions), fresh ones are requested over the session.
 */
export class RunCredentials {
  private current: UploadCredentials;
  private refreshing?: Promise<UploadCredentials>;
  /** S3 said the current ones expired (its clock, not ours): renew on the next call whatever their expiration says. */
  private stale = false;

  /** `resendMs`: the request goes again this often until answered (a throttled or lost one is not the end). */
  constructor(
    private readonly job: BackupJob,
    private readonly link: CredentialLink,
    private readonly refreshBeforeMs = 5 * 60_000,
    private readonly timeoutMs = 120_000,
    private readonly resendMs = 20_000,
  ) {
    this.current = job.credentials;
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
        this.refreshing ??= this.refresh().finally(() => {
          this.refreshing = undefined;
        });
        this.current = await this.refreshing;
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

  /** S3 answered that the credentials expired (ExpiredToken; RGW's AccessDenied near their end): the next provider call fetches new ones. */
  expired(): void {
    this.stale = true;
  }

  /** True when the current credentials expire within `ms` by this machine's clock, or already have. */
  expiresWithin(ms: number): boolean {
    return Date.parse(this.current.expiration) - Date.now() < ms;
  }

  private refresh(): Promise<UploadCredentials> {
    return new Promise((resolve, reject) => {
      const ask = () => this.link.sendIfConnected({ type: 'credentials-request', v: PROTOCOL_VERSION, runId: this.job.runId });
      const again = setInterval(ask, this.resendMs);
      const timer = setTimeout(() => {
        clearInterval(again);
        this.link.off('credentials', onCredentials);
        reject(
          new ConnectorError(
            'CREDENTIALS_EXPIRED',
            'the upload credentials expired and the cloud sent no new ones (is the connector connected?)',
          ),
        );
      }, this.timeoutMs);
      const onCredentials = (message: CredentialsMessage) => {
        if (message.runId !== this.job.runId) return;
        clearTimeout(timer);
        clearInterval(again);
        this.link.off('credentials', onCredentials);
        resolve(message.credentials);
      };
      this.link.on('credentials', onCredentials);
      ask();
    });
  }
}
