import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  ListPartsCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { UploadCredentials, UploadTarget } from '../../../protocol';
import { ConnectorError } from '../errors';
import {
  compositeChecksum,
  type LatestVersion,
  type ObjectStore,
  type PutOptions,
  type StoredObject,
  UploadPaused,
  type VersionFacts,
} from './object-store';
import { throttledReadable } from '../bandwidth/throttled-streams';
import { s3RetryStrategy, type S3RetryOptions } from './s3-retry';
import { SignedRequests } from './signed-requests';
import { type BandwidthBuckets, ThrottledHttpHandler } from './throttled-http-handler';
import { UploadCheckpoint } from './upload-checkpoint';

export interface S3ObjectStoreOptions {
  /** Files up to this size go in one PUT; larger ones as parts of this size (S3 minimum 5 MiB). @default 5 MiB */
  readonly partSizeBytes?: number;
  /** Parts in flight at once. Memory is bounded by (this + 1) × part size. @default 6 */
  readonly partConcurrency?: number;
  /**
   * Folder for upload checkpoints: a multipart upload interrupted (crash, restart, network) is
   * resumed, sending only the parts S3 does not have. @default no resuming
   */
  readonly checkpointDir?: string;
  /** Send every byte up through `upload` and read every byte down through `download` (the connector's bandwidth limit, shared by all its stores). @default unthrottled */
  readonly bandwidth?: BandwidthBuckets;
  /** Retries of every request this store makes (SDK and signed), with the SDK's adaptive strategy. @default S3_MAX_ATTEMPTS attempts, the SDK's backoff */
  readonly retry?: S3RetryOptions;
  /**
   * The credentials' renewal (RunCredentials): when S3 answers that they expired, they are renewed
   * and the request sent once more. @default fixed credentials, an expired answer is final
   */
  readonly renewal?: CredentialRenewal;
}

/** What the store needs of refreshable credentials (RunCredentials). */
export interface CredentialRenewal {
  /** How many times the credentials were renewed: taken before a request is sent, and given to `expired`. */
  readonly generation: number;
  /**
   * S3 said the credentials of `generation` expired: the provider's next call fetches new ones —
   * unless they were renewed since (requests in flight together are refused together, and renewed once).
   */
  expired(generation: number): void;
  /** True when the current credentials expire within `ms` by this machine's clock (or already have). */
  expiresWithin(ms: number): boolean;
}

/** What the expiry check reads of S3's answer: its error code (absent when the answer had no body), HTTP status and the request's method. */
export interface S3Refusal {
  code?: string;
  status?: number;
  method?: string;
}

/**
 * Whether S3's error means the session credentials expired. AWS answers `ExpiredToken` (400, or
 * 403 on some paths; https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html). Ceph
 * RGW answers an expired STS session `AccessDenied` (verified on Ceph 20). A HEAD answer has no
 * body, so no code at all: AWS's expired token is a bare 400, RGW's a bare 403 (the SDK names
 * either `Unknown`/`BadRequest`/`Forbidden`). A refusal without `ExpiredToken` is taken as expiry
 * only while the credentials are within `EXPIRY_SKEW_MS` of their end by this machine's clock (the
 * connector renews 5 minutes before; the rest allows for a clock that runs behind the server's),
 * so a real refusal is not retried for hours.
 */
export function isExpiredCredentials(refusal: S3Refusal, renewal: Pick<CredentialRenewal, 'expiresWithin'>): boolean {
  const { code, status, method } = refusal;
  if (code === 'ExpiredToken' || code === 'TokenRefreshRequired') return true;
  if (!renewal.expiresWithin(EXPIRY_SKEW_MS)) return false;
  if (code === 'AccessDenied') return true;
  const bodiless =
    code === undefined || code === '' || code === 'Unknown' || code === 'UnknownError' || code === 'BadRequest' || code === 'Forbidden';
  return method === 'HEAD' && bodiless && (status === 400 || status === 403);
}
const EXPIRY_SKEW_MS = 10 * 60_000;

/**
 * Tells the SigV4 signer the payload's SHA-256 we already computed, so the SDK does not hash
 * every byte a second time (over plain HTTP it signs the payload).
 */
function withPayloadHash<C extends { middlewareStack: { add: (...args: never[]) => void } }>(command: C, sha256Hex: string): C {
  (
    command.middlewareStack as unknown as {
      add: (
        m: (next: (a: unknown) => unknown) => (a: { request: { headers: Record<string, string> } }) => unknown,
        o: { step: string; name: string },
      ) => void;
    }
  ).add(
    (next) => (args) => {
      args.request.headers['x-amz-content-sha256'] = sha256Hex;
      return next(args);
    },
    { step: 'build', name: 'soBackupPayloadHash' },
  );
  return command;
}

const MiB = 1024 * 1024;
type S3AnswerLike = { status: number; errorCode?: string };
/** An SDK credential provider (what RunCredentials.provider is). */
export type CredentialProvider = () => Promise<{ accessKeyId: string; secretAccessKey: string; sessionToken?: string; expiration?: Date }>;

/** Abort reason of a service stop: the upload is kept for resuming, unlike a cancel. */
export const SHUTDOWN = 'so-backup:shutdown';
const MAX_PARTS = 10_000;

/** ObjectStore on S3 with SHA-256 checksums that S3 verifies on receipt. */
export class S3ObjectStore implements ObjectStore {
  private readonly client: S3Client;
  private readonly partSize: number;
  private readonly concurrency: number;
  private readonly checkpointDir?: string;
  private readonly signed: SignedRequests;
  private readonly download?: BandwidthBuckets['download'];
  private readonly renewal?: CredentialRenewal;

  /** `credentials`: fixed ones, or a provider that refreshes them (RunCredentials). */
  constructor(
    private readonly target: UploadTarget,
    credentials: UploadCredentials | CredentialProvider,
    options: S3ObjectStoreOptions = {},
  ) {
    const provider: CredentialProvider =
      typeof credentials === 'function'
        ? credentials
        : async () => ({
            accessKeyId: credentials.accessKeyId,
            secretAccessKey: credentials.secretAccessKey,
            sessionToken: credentials.sessionToken,
          });
    const retryStrategy = s3RetryStrategy(options.retry);
    this.signed = new SignedRequests(target, provider, retryStrategy);
    this.download = options.bandwidth?.download;
    if (options.bandwidth) this.signed.throttleUploads(options.bandwidth.upload);
    this.client = new S3Client({
      retryStrategy,
      region: target.region,
      endpoint: target.endpoint,
      forcePathStyle: target.forcePathStyle,
      credentials: provider,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      ...(options.bandwidth ? { requestHandler: new ThrottledHttpHandler(options.bandwidth) } : {}),
    });
    const renewal = options.renewal;
    this.renewal = renewal;
    if (renewal) {
      // Expired credentials: renewed, then the request once more (the retry strategy and signing
      // run again below this step, with the provider's new credentials).
      this.client.middlewareStack.add(
        (next) => async (args) => {
          const generation = renewal.generation;
          try {
            return await next(args);
          } catch (error) {
            const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
            const method = (args.request as { method?: string } | undefined)?.method;
            if (!isExpiredCredentials({ code: e.name, status: e.$metadata?.httpStatusCode, method }, renewal)) throw error;
            renewal.expired(generation);
            return next(args);
          }
        },
        { step: 'build', name: 'soBackupRenewExpiredCredentials' },
      );
    }
    this.partSize = options.partSizeBytes ?? 5 * MiB;
    this.concurrency = options.partConcurrency ?? 6;
    this.checkpointDir = options.checkpointDir;
  }

  /** Parts a multipart upload may have in flight now: the store's concurrency, or fewer within the caller's byte budget (at least one). */
  private partsInFlight(options: PutOptions, partSize: number): number {
    const budget = options.partBytesInFlight?.() ?? null;
    return budget === null ? this.concurrency : Math.max(1, Math.min(this.concurrency, Math.floor(budget / partSize)));
  }

  async putBuffer(key: string, body: Buffer | readonly Buffer[], contentType = 'application/octet-stream'): Promise<StoredObject> {
    const pieces = Buffer.isBuffer(body) ? [body] : body;
    const hash = createHash('sha256');
    for (const piece of pieces) hash.update(piece);
    const digest = hash.digest();
    const size = pieces.reduce((total, piece) => total + piece.length, 0);
    const checksum = digest.toString('base64');
    const answer = await this.renewingExpired(() =>
      this.signed.put(
        key,
        pieces,
        {
          'content-type': contentType,
          'x-amz-checksum-sha256': checksum,
          'x-amz-sdk-checksum-algorithm': 'SHA256',
        },
        digest.toString('hex'),
      ),
    ).catch((error: unknown) => {
      throw new ConnectorError('S3_ERROR', `S3 could not be reached uploading ${key}: ${(error as Error).message}`, { cause: error });
    });
    if (answer.status !== 200) {
      // The same error as the SDK path gives, from S3's own error code and message.
      throw storeError(
        { name: answer.errorCode, message: answer.errorMessage ?? '', $metadata: { httpStatusCode: answer.status } },
        `uploading ${key}`,
      );
    }
    const versionId = answer.headers['x-amz-version-id'];
    if (typeof versionId !== 'string' || versionId === '' || versionId === 'null')
      throw new ConnectorError('S3_NOT_VERSIONED', `S3 returned no version for ${key}: bucket versioning must be on`, { permanent: true });
    return {
      key,
      versionId,
      size,
      sha256: digest.toString('hex'),
      s3Checksum: { algorithm: 'SHA256', type: 'FULL_OBJECT', value: checksum },
    };
  }

  partSizeFor(size: number): number {
    return size <= this.partSize ? Infinity : Math.max(this.partSize, Math.ceil(size / MAX_PARTS));
  }

  bufferBytesFor(size: number): number {
    return size <= this.partSize ? size : (this.concurrency + 1) * this.partSizeFor(size);
  }

  async putFile(key: string, path: string | Buffer, options: PutOptions = {}): Promise<StoredObject> {
    const file = await open(path, 'r');
    try {
      const { size, mtimeMs } = await file.stat();
      if (size <= this.partSize) {
        const body = Buffer.alloc(size);
        await readFully(file, body, 0);
        const stored = await this.putBuffer(key, body);
        options.onProgress?.(size);
        return stored;
      }
      return await this.putMultipart(key, file, size, mtimeMs, options);
    } finally {
      await file.close();
    }
  }

  /** Finds an interrupted upload of this very file that S3 still has, and the parts it already holds. */
  private async resumable(
    key: string,
    size: number,
    mtimeMs: number,
  ): Promise<{ checkpoint: UploadCheckpoint; held: Map<number, { checksum: string; etag: string }> } | undefined> {
    if (!this.checkpointDir) return undefined;
    const checkpoint = await UploadCheckpoint.find(this.checkpointDir, key, size, mtimeMs);
    if (!checkpoint) return undefined;
    const held = new Map<number, { checksum: string; etag: string }>();
    try {
      let marker: string | undefined;
      do {
        const page = await this.client.send(
          new ListPartsCommand({ Bucket: this.target.bucket, Key: key, UploadId: checkpoint.state.uploadId, PartNumberMarker: marker }),
        );
        for (const part of page.Parts ?? []) {
          const recorded = checkpoint.state.parts[String(part.PartNumber)];
          // Trust a part only if S3 and the checkpoint agree on its checksum.
          if (recorded && part.ChecksumSHA256 === recorded.checksum) held.set(part.PartNumber!, recorded);
        }
        marker = page.IsTruncated ? page.NextPartNumberMarker : undefined;
      } while (marker);
      return { checkpoint, held };
    } catch {
      await checkpoint.remove(); // the upload is gone (completed, aborted or expired): start afresh
      return undefined;
    }
  }

  private async putMultipart(
    key: string,
    file: Awaited<ReturnType<typeof open>>,
    size: number,
    mtimeMs: number,
    options: PutOptions,
  ): Promise<StoredObject> {
    const resumed = await this.resumable(key, size, mtimeMs);
    const partSize = resumed?.checkpoint.state.partSize ?? this.partSizeFor(size);
    let uploadId = resumed?.checkpoint.state.uploadId;
    if (!uploadId) {
      const created = await this.client
        .send(new CreateMultipartUploadCommand({ Bucket: this.target.bucket, Key: key, ChecksumAlgorithm: 'SHA256' }))
        .catch((error: unknown) => {
          throw storeError(error, `starting the upload of ${key}`);
        });
      uploadId = created.UploadId!;
    }
    const checkpoint =
      resumed?.checkpoint ??
      (this.checkpointDir
        ? await UploadCheckpoint.create(this.checkpointDir, { key, uploadId, partSize, fileSize: size, mtimeMs })
        : undefined);
    const held = resumed?.held ?? new Map<number, { checksum: string; etag: string }>();
    const whole = createHash('sha256');
    const parts: Array<{ PartNumber: number; ChecksumSHA256: string; ETag: string }> = [];
    const inFlight = new Set<Promise<void>>();
    // A fixed pool of part buffers: memory stays at (concurrency + 1) parts whatever the file size.
    const free: Buffer[] = Array.from({ length: this.concurrency + 1 }, () => Buffer.allocUnsafeSlow(partSize));
    let resumedParts = 0;
    let sent = 0;
    try {
      for (let partNumber = 1, offset = 0; offset < size; partNumber++, offset += partSize) {
        options.signal?.throwIfAborted();
        while (free.length === 0 || inFlight.size >= this.partsInFlight(options, partSize)) await Promise.race(inFlight);
        // A safe point between parts: asked to pause (the backup window ended), no part starts;
        // those in flight finish and are recorded, and the checkpoint keeps them for the next run.
        // Without a checkpoint nothing could be resumed, so the file goes on to the end.
        if (checkpoint && options.pause?.()) {
          await Promise.all(inFlight);
          throw new UploadPaused(key, sent, { inStore: parts.length, of: Math.ceil(size / partSize) });
        }
        const buffer = free.pop()!;
        const body = buffer.subarray(0, Math.min(partSize, size - offset));
        await readFully(file, body, offset);
        whole.update(body);
        const digest = createHash('sha256').update(body).digest();
        const checksum = digest.toString('base64');
        const number = partNumber;
        const already = held.get(number);
        if (already && already.checksum === checksum) {
          // S3 has this part, with these very bytes: read and hashed, not sent again.
          parts.push({ PartNumber: number, ChecksumSHA256: checksum, ETag: already.etag });
          resumedParts++;
          sent += body.length;
          free.push(buffer);
          continue;
        }
        const upload = this.client
          .send(
            withPayloadHash(
              new UploadPartCommand({
                Bucket: this.target.bucket,
                Key: key,
                UploadId: uploadId,
                PartNumber: number,
                Body: body,
                ContentLength: body.length,
                ChecksumAlgorithm: 'SHA256',
                ChecksumSHA256: checksum,
              }),
              digest.toString('hex'),
            ),
            { abortSignal: options.signal },
          )
          .then(async (out) => {
            parts.push({ PartNumber: number, ChecksumSHA256: checksum, ETag: out.ETag! });
            await checkpoint?.record(number, checksum, out.ETag!);
            sent += body.length;
            options.onProgress?.(sent);
          });
        const tracked: Promise<void> = upload.finally(() => {
          inFlight.delete(tracked);
          free.push(buffer);
        });
        inFlight.add(tracked);
        // A part may fail while the loop is reading the next one: handled here so that it is not an
        // unhandled rejection; Promise.race/all below still see it and end the upload.
        tracked.catch(() => undefined);
      }
      await Promise.all(inFlight);
      parts.sort((a, b) => a.PartNumber - b.PartNumber);
      const out = await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.target.bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts },
        }),
      );
      if (!out.VersionId)
        throw new ConnectorError('S3_NOT_VERSIONED', `S3 returned no version for ${key}: bucket versioning must be on`, {
          permanent: true,
        });
      await checkpoint?.remove();
      const partDigests = parts.map((p) => p.ChecksumSHA256);
      return {
        key,
        versionId: out.VersionId,
        size,
        sha256: whole.digest('hex'),
        resumedParts,
        s3Checksum: { algorithm: 'SHA256', type: 'COMPOSITE', value: compositeChecksum(partDigests), partSize, parts: partDigests },
      };
    } catch (error) {
      await Promise.allSettled(inFlight);
      // Cancelled, or nothing to resume from: abort, so no parts are left behind. Otherwise (a
      // pause, a service stop, a failure) keep the upload for the next attempt (the bucket's
      // lifecycle aborts forgotten ones after 7 days).
      if (!checkpoint || (options.signal?.aborted && options.signal.reason !== SHUTDOWN)) {
        await this.client
          .send(new AbortMultipartUploadCommand({ Bucket: this.target.bucket, Key: key, UploadId: uploadId }))
          .catch(() => undefined);
        await checkpoint?.remove();
      }
      throw error instanceof ConnectorError ? error : storeError(error, `uploading ${key}`);
    }
  }

  async getVersion(key: string, versionId: string, range?: { start: number; end: number }): Promise<NodeJS.ReadableStream> {
    const { answer, body } = await this.renewingExpired(
      () => this.signed.get(key, versionId, range),
      (got) => got.answer,
    ).catch((error: unknown) => {
      throw new ConnectorError('S3_ERROR', `S3 could not be reached reading ${key} version ${versionId}: ${(error as Error).message}`, {
        cause: error,
      });
    });
    if (!body)
      throw storeError(
        { name: answer.errorCode, message: answer.errorMessage ?? '', $metadata: { httpStatusCode: answer.status } },
        `reading ${key} version ${versionId}`,
      );
    return this.download ? throttledReadable(body, this.download) : body;
  }

  /** A signed request, sent once more with renewed credentials when S3 answers that they expired. */
  private async renewingExpired<T>(
    send: () => Promise<T>,
    answerOf: (result: T) => S3AnswerLike = (result) => result as S3AnswerLike,
  ): Promise<T> {
    const generation = this.renewal?.generation ?? 0;
    const first = await send();
    const answer = answerOf(first);
    if (!this.renewal || answer.status < 400 || !isExpiredCredentials({ code: answer.errorCode, status: answer.status }, this.renewal))
      return first;
    this.renewal.expired(generation);
    return send();
  }

  async head(key: string, versionId?: string): Promise<VersionFacts | undefined> {
    try {
      const out = await this.client.send(
        new HeadObjectCommand({ Bucket: this.target.bucket, Key: key, VersionId: versionId, ChecksumMode: 'ENABLED' }),
      );
      const value = out.ChecksumSHA256;
      return {
        versionId: out.VersionId ?? versionId ?? '',
        size: out.ContentLength ?? -1,
        s3Checksum: value
          ? { type: out.ChecksumType === 'COMPOSITE' || /-\d+$/.test(value) ? 'COMPOSITE' : 'FULL_OBJECT', value }
          : undefined,
      };
    } catch (error) {
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 404 || (error as Error).name === 'NotFound') return undefined;
      throw storeError(error, `reading the facts of ${key}`);
    }
  }

  async latestVersions(prefix: string): Promise<Map<string, LatestVersion>> {
    const latest = new Map<string, LatestVersion>();
    let keyMarker: string | undefined;
    let versionIdMarker: string | undefined;
    do {
      const page = await this.client
        .send(
          new ListObjectVersionsCommand({
            Bucket: this.target.bucket,
            Prefix: prefix,
            KeyMarker: keyMarker,
            VersionIdMarker: versionIdMarker,
          }),
        )
        .catch((error: unknown) => {
          throw storeError(error, `listing ${prefix}`);
        });
      for (const version of page.Versions ?? []) {
        if (version.IsLatest && version.Key && version.VersionId)
          latest.set(version.Key, {
            versionId: version.VersionId,
            size: version.Size ?? 0,
            lastModified: version.LastModified ?? new Date(0),
          });
      }
      keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
      versionIdMarker = page.IsTruncated ? page.NextVersionIdMarker : undefined;
    } while (keyMarker);
    return latest;
  }

  async copyVersion(sourceKey: string, sourceVersionId: string, targetKey: string): Promise<VersionFacts> {
    const out = await this.client
      .send(
        new CopyObjectCommand({
          Bucket: this.target.bucket,
          Key: targetKey,
          ChecksumAlgorithm: 'SHA256',
          CopySource: `${this.target.bucket}/${sourceKey.split('/').map(encodeURIComponent).join('/')}?versionId=${encodeURIComponent(sourceVersionId)}`,
        }),
      )
      .catch((error: unknown) => {
        throw storeError(error, `copying ${sourceKey} to ${targetKey}`);
      });
    // Some S3 implementations (Ceph RGW) do not return the new version id: the current version is the copy.
    const facts = await this.head(targetKey, out.VersionId);
    if (!facts?.versionId)
      throw new ConnectorError('S3_NOT_VERSIONED', `S3 returned no version for ${targetKey}: bucket versioning must be on`, {
        permanent: true,
      });
    return facts;
  }

  async markDeleted(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.target.bucket, Key: key })).catch((error: unknown) => {
      throw storeError(error, `marking ${key} deleted`);
    });
  }
}

async function readFully(file: Awaited<ReturnType<typeof open>>, into: Buffer, position: number): Promise<void> {
  for (let done = 0; done < into.length; ) {
    const { bytesRead } = await file.read(into, done, into.length - done, position + done);
    if (bytesRead === 0) throw new ConnectorError('FILE_CHANGED', 'file became shorter while it was read');
    done += bytesRead;
  }
}

function storeError(error: unknown, doing: string): ConnectorError {
  const e = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  const permanent = status === 403 || status === 400;
  return new ConnectorError(
    status === 403 ? 'S3_ACCESS_DENIED' : 'S3_ERROR',
    `S3 refused ${doing}: ${e.name ?? 'Error'}${status ? ` (HTTP ${status})` : ''}: ${e.message ?? String(error)}`,
    { cause: error, permanent },
  );
}
