import type { Readable } from 'node:stream';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { ByteBucket } from '../bandwidth/byte-bucket';
import { isLimited, throttledPieces, throttledReadable } from '../bandwidth/throttled-streams';

/** The buckets a store sends and receives through. */
export interface BandwidthBuckets {
  readonly upload: ByteBucket;
  readonly download: ByteBucket;
}

/**
 * The SDK's Node.js HTTP handler with every request body sent through the upload bucket and every
 * response body read through the download bucket. The handler runs once per attempt, so a retried
 * part is throttled (and counted) again, and its in-memory body is never a spent stream.
 */
export class ThrottledHttpHandler extends NodeHttpHandler {
  constructor(private readonly buckets: BandwidthBuckets) {
    super();
  }

  override async handle(...[request, options]: Parameters<NodeHttpHandler['handle']>): ReturnType<NodeHttpHandler['handle']> {
    const body: unknown = request.body;
    const limited = isLimited(this.buckets.upload);
    if (!limited && body instanceof Uint8Array) this.buckets.upload.count(body.length);
    const throttled =
      limited && body instanceof Uint8Array && body.length > 0
        ? { ...request, body: throttledPieces([body], this.buckets.upload, options?.abortSignal as AbortSignal | undefined) }
        : request;
    const answer = await super.handle(throttled as typeof request, options);
    const received = answer.response.body as Readable | undefined;
    if (received && typeof received.pipe === 'function') answer.response.body = throttledReadable(received, this.buckets.download);
    return answer;
  }
}
