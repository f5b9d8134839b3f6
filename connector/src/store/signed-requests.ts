import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { SignatureV4 } from '@smithy/signature-v4';
import type { RetryStrategyV2 } from '@smithy/types';
import type { ByteBucket } from '../bandwidth/byte-bucket';
import { isLimited, throttledPieces } from '../bandwidth/throttled-streams';
import type { UploadTarget } from '../../../protocol';
import { type AttemptFailure, isRetryableAnswer, retryErrorInfo, s3RetryStrategy } from './s3-retry';

/** A SigV4 hash for the signer, on Node's own crypto (local mode's signature checks use it too). */
type SourceData = string | ArrayBuffer | ArrayBufferView;
const bytes = (data: SourceData) =>
  typeof data === 'string'
    ? data
    : ArrayBuffer.isView(data)
      ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
      : new Uint8Array(data);

export class NodeSha256 {
  private readonly hash;

  constructor(secret?: SourceData) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }

  update(data: SourceData): void {
    this.hash.update(bytes(data));
  }

  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
}

export type Credentials = { accessKeyId: string; secretAccessKey: string; sessionToken?: string };

/** What S3 answered: status, headers, and the body when it is an error. */
export interface S3Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  errorCode?: string;
  errorMessage?: string;
}

/** SHA-256 of an empty body, the payload hash of a GET. */
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/**
 * S3 PutObject of an in-memory body and GetObject of one version, signed with SigV4 and sent on
 * keep-alive connections. The archive sends (and a restore fetches) thousands of small files;
 * through the SDK's middleware stack each request costs about 3 ms of CPU (measured: 400 PUTs
 * of 40 KB took 1.25 s of CPU through the SDK, 0.28 s this way), on a server that also runs SQL
 * Server. Retries 5xx, 429 (SlowDown included) and network errors with the SDK's own retry
 * strategy, shared with the store's SDK client (s3-retry.ts; for a GET: until the body starts).
 */
export class SignedRequests {
  private readonly agent: http.Agent;
  private readonly url: URL;
  private readonly signer: SignatureV4;
  private uploads?: ByteBucket;

  constructor(
    private readonly target: UploadTarget,
    credentials: () => Promise<Credentials>,
    private readonly retry: RetryStrategyV2 = s3RetryStrategy(),
  ) {
    this.url = new URL(target.endpoint ?? `https://s3.${target.region}.amazonaws.com`);
    this.agent =
      this.url.protocol === 'https:'
        ? new https.Agent({ keepAlive: true, maxSockets: 64 })
        : new http.Agent({ keepAlive: true, maxSockets: 64 });
    this.signer = new SignatureV4({
      credentials,
      region: target.region,
      service: 's3',
      sha256: NodeSha256,
      uriEscapePath: false,
      applyChecksum: false,
    });
  }

  /** Sends every request body through this bucket (the bandwidth limit); each attempt is throttled and counted. */
  throttleUploads(bucket: ByteBucket): void {
    this.uploads = bucket;
  }

  put(key: string, body: readonly Buffer[], headers: Record<string, string>, payloadSha256Hex: string): Promise<S3Answer> {
    const length = body.reduce((total, piece) => total + piece.length, 0);
    return this.request(
      'PUT',
      key,
      {},
      { 'content-length': String(length), 'x-amz-content-sha256': payloadSha256Hex, ...headers },
      body,
    ).then(({ answer }) => answer);
  }

  /** One exact version (or a byte range of it). On 200/206 the body is returned to be read; otherwise the error. */
  async get(
    key: string,
    versionId: string,
    range?: { start: number; end: number },
  ): Promise<{ answer: S3Answer; body?: http.IncomingMessage }> {
    return this.request(
      'GET',
      key,
      { versionId },
      { 'x-amz-content-sha256': EMPTY_SHA256, ...(range ? { range: `bytes=${range.start}-${range.end}` } : {}) },
      [],
    );
  }

  private async request(
    method: 'PUT' | 'GET',
    key: string,
    query: Record<string, string>,
    headers: Record<string, string>,
    body: readonly Buffer[],
  ): Promise<{ answer: S3Answer; body?: http.IncomingMessage }> {
    // Bucket names with dots break virtual-hosted TLS names: those go path-style, as the SDK does.
    const pathStyle = this.target.forcePathStyle || this.target.bucket.includes('.');
    const hostname = pathStyle ? this.url.hostname : `${this.target.bucket}.${this.url.hostname}`;
    const host = this.url.port ? `${hostname}:${this.url.port}` : hostname;
    const path = `${pathStyle ? `/${this.target.bucket}` : ''}/${key.split('/').map(encodeRfc3986).join('/')}`;
    const search = Object.entries(query)
      .map(([name, value]) => `${encodeRfc3986(name)}=${encodeRfc3986(value)}`)
      .join('&');
    let token = await this.retry.acquireInitialRetryToken('s3');
    for (;;) {
      let failure: AttemptFailure;
      let answer: { answer: S3Answer; body?: http.IncomingMessage } | undefined;
      try {
        const signed = await this.signer.sign({
          method,
          protocol: this.url.protocol,
          hostname,
          port: this.url.port ? Number(this.url.port) : undefined,
          path,
          query,
          headers: { host, ...headers },
        });
        answer = await this.send(method, hostname, search ? `${path}?${search}` : path, signed.headers, body);
        if (!isRetryableAnswer(answer.answer.status)) {
          this.retry.recordSuccess(token);
          return answer;
        }
        failure = { status: answer.answer.status, errorCode: answer.answer.errorCode };
      } catch (error) {
        failure = { error };
      }
      try {
        // Waits the strategy's backoff (and the adaptive rate limiter) before the next attempt.
        token = await this.retry.refreshRetryTokenForRetry(token, retryErrorInfo(failure));
      } catch {
        if (answer) return answer; // out of attempts: S3's last answer is the error to report
        throw 'error' in failure ? failure.error : new Error(`S3 answered HTTP ${failure.status}`);
      }
      await new Promise((resolve) => setTimeout(resolve, token.getRetryDelay()));
    }
  }

  private send(
    method: 'PUT' | 'GET',
    hostname: string,
    path: string,
    headers: Record<string, string>,
    body: readonly Buffer[],
  ): Promise<{ answer: S3Answer; body?: http.IncomingMessage }> {
    const transport = this.url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const request = transport.request(
        { agent: this.agent, method, hostname, port: this.url.port || undefined, path, headers, timeout: 120_000 },
        (response) => {
          const status = response.statusCode ?? 0;
          // A successful GET hands its body to the caller, unread.
          if (method === 'GET' && (status === 200 || status === 206)) {
            resolve({ answer: { status, headers: response.headers }, body: response });
            return;
          }
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => {
            if (status >= 300) chunks.push(chunk);
          });
          response.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            resolve({
              answer: {
                status,
                headers: response.headers,
                errorCode: /<Code>([^<]*)<\/Code>/.exec(text)?.[1],
                errorMessage: /<Message>([^<]*)<\/Message>/.exec(text)?.[1],
              },
            });
          });
          response.on('error', reject);
        },
      );
      request.on('timeout', () => request.destroy(new Error('S3 did not answer within 120 s')));
      request.on('error', reject);
      if (this.uploads && !isLimited(this.uploads)) this.uploads.count(body.reduce((total, piece) => total + piece.length, 0));
      else if (this.uploads && body.length > 0) {
        const throttled = throttledPieces(body, this.uploads);
        throttled.on('error', (error) => request.destroy(error));
        request.once('close', () => throttled.destroy());
        throttled.pipe(request);
        return;
      }
      for (const piece of body) request.write(piece);
      request.end();
    });
  }

  destroy(): void {
    this.agent.destroy();
  }
}

/** S3 keys in a URL path: every byte but unreserved characters percent-encoded (RFC 3986), as SigV4 wants. */
function encodeRfc3986(segment: string): string {
  return encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
