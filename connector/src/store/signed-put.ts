import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { SignatureV4 } from '@smithy/signature-v4';
import type { UploadTarget } from '../../../protocol';

/** A SigV4 hash for the signer, on Node's own crypto. */
type SourceData = string | ArrayBuffer | ArrayBufferView;
const bytes = (data: SourceData) => (typeof data === 'string' ? data : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data));

class NodeSha256 {
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
export interface PutAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  errorCode?: string;
  errorMessage?: string;
}

const ATTEMPTS = 4;

/**
 * One S3 PutObject of an in-memory body, signed with SigV4 and sent on a keep-alive connection.
 * The archive sends thousands of small files a day; through the SDK's middleware stack each PUT
 * costs about 3 ms of CPU (measured: 400 PUTs of 40 KB took 1.25 s of CPU through the SDK,
 * 0.28 s this way), on a server that also runs SQL Server. Retries 5xx, 429 and network errors
 * with jittered backoff, as the SDK's standard mode does.
 */
export class SignedPut {
  private readonly agent: http.Agent;
  private readonly url: URL;
  private readonly signer: SignatureV4;

  constructor(private readonly target: UploadTarget, credentials: () => Promise<Credentials>) {
    this.url = new URL(target.endpoint ?? `https://s3.${target.region}.amazonaws.com`);
    this.agent = this.url.protocol === 'https:' ? new https.Agent({ keepAlive: true, maxSockets: 64 }) : new http.Agent({ keepAlive: true, maxSockets: 64 });
    this.signer = new SignatureV4({ credentials, region: target.region, service: 's3', sha256: NodeSha256, uriEscapePath: false, applyChecksum: false });
  }

  async put(key: string, body: readonly Buffer[], headers: Record<string, string>, payloadSha256Hex: string): Promise<PutAnswer> {
    const length = body.reduce((total, piece) => total + piece.length, 0);
    // Bucket names with dots break virtual-hosted TLS names: those go path-style, as the SDK does.
    const pathStyle = this.target.forcePathStyle || this.target.bucket.includes('.');
    const hostname = pathStyle ? this.url.hostname : `${this.target.bucket}.${this.url.hostname}`;
    const host = this.url.port ? `${hostname}:${this.url.port}` : hostname;
    const path = `${pathStyle ? `/${this.target.bucket}` : ''}/${key.split('/').map(encodeRfc3986).join('/')}`;
    let answer: PutAnswer | undefined;
    let lastError: unknown;
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      try {
        const signed = await this.signer.sign({
          method: 'PUT', protocol: this.url.protocol, hostname, port: this.url.port ? Number(this.url.port) : undefined, path, query: {},
          headers: { host, 'content-length': String(length), 'x-amz-content-sha256': payloadSha256Hex, ...headers },
        });
        answer = await this.send(hostname, path, signed.headers, body);
        if (answer.status < 500 && answer.status !== 429) return answer;
      } catch (error) {
        lastError = error;
      }
      if (attempt < ATTEMPTS) await new Promise((resolve) => setTimeout(resolve, Math.random() * 100 * 2 ** attempt));
    }
    if (answer) return answer;
    throw lastError;
  }

  private send(hostname: string, path: string, headers: Record<string, string>, body: readonly Buffer[]): Promise<PutAnswer> {
    const transport = this.url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const request = transport.request({ agent: this.agent, method: 'PUT', hostname, port: this.url.port || undefined, path, headers, timeout: 120_000 }, (response) => {
        const status = response.statusCode ?? 0;
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => {
          if (status >= 300) chunks.push(chunk);
        });
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status, headers: response.headers, errorCode: /<Code>([^<]*)<\/Code>/.exec(text)?.[1], errorMessage: /<Message>([^<]*)<\/Message>/.exec(text)?.[1] });
        });
        response.on('error', reject);
      });
      request.on('timeout', () => request.destroy(new Error('S3 did not answer within 120 s')));
      request.on('error', reject);
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
