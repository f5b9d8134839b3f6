import { Readable } from 'node:stream';
import type { ByteBucket } from './byte-bucket';

/** The largest slice taken from the bucket at once: small enough that parallel streams interleave smoothly. 64 KiB. */
const MAX_SLICE = 64 * 1024;

/** A slice of about 1/20 s at the bucket's rate, 4-64 KiB, so even a slow link sees a steady flow rather than bursts. */
function sliceFor(bucket: ByteBucket): number {
  const rate = bucket.bytesPerSecond;
  return rate === null ? MAX_SLICE : Math.max(4096, Math.min(MAX_SLICE, Math.floor(rate / 20)));
}

/**
 * Whether a request starting now needs throttling. An unlimited rate costs nothing: the body is
 * sent as it is (and counted); a limit set meanwhile applies from the next request (at most one
 * upload part later).
 */
export function isLimited(bucket: ByteBucket): boolean {
  return bucket.bytesPerSecond !== null;
}

/**
 * An in-memory body (one or more pieces) as a stream that lets each slice through only when the
 * bucket allows. Aborting `signal` (or destroying the stream) stops it waiting; the stream then fails
 * with the reason, never as an unhandled error.
 */
export function throttledPieces(pieces: readonly Uint8Array[], bucket: ByteBucket, signal?: AbortSignal): Readable {
  const stop = new AbortController();
  const onAbort = () => stop.abort(signal!.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  async function* slices(): AsyncGenerator<Buffer> {
    try {
      for (const piece of pieces) {
        const buffer = Buffer.isBuffer(piece) ? piece : Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
        for (let offset = 0; offset < buffer.length; ) {
          const slice = buffer.subarray(offset, offset + sliceFor(bucket));
          await bucket.take(slice.length, stop.signal);
          offset += slice.length;
          yield slice;
        }
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }
  const stream = Readable.from(slices(), { objectMode: false });
  stream.once('close', () => stop.abort(new Error('stream closed')));
  // The SDK's HTTP handler sends a body with pipe(), which forwards no error: without a listener an
  // abort (a cancelled run) would be an unhandled 'error' event that ends the process. The request
  // reports the abort itself; a pipeline() consumer still receives the error.
  stream.on('error', () => undefined);
  return stream;
}

/** A received body passed on only as fast as the bucket allows; reading slower makes TCP slow the sender down. Unlimited: the body itself. */
export function throttledReadable<S extends NodeJS.ReadableStream>(source: S, bucket: ByteBucket): S | Readable {
  if (!isLimited(bucket)) return source;
  const stop = new AbortController();
  async function* chunks(): AsyncGenerator<Buffer> {
    for await (const chunk of source as AsyncIterable<Buffer | string>) {
      const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      for (let offset = 0; offset < buffer.length; ) {
        const slice = buffer.subarray(offset, offset + sliceFor(bucket));
        await bucket.take(slice.length, stop.signal);
        offset += slice.length;
        yield slice;
      }
    }
  }
  const stream = Readable.from(chunks(), { objectMode: false });
  stream.once('close', () => {
    stop.abort(new Error('stream closed'));
    // A consumer that stops early (a damaged part) releases the connection too.
    const readable = source as unknown as Readable;
    if (!readable.readableEnded && typeof readable.destroy === 'function') readable.destroy();
  });
  // As for throttledPieces: a consumer that reads (pipeline, for await) gets a failed download's
  // error; one that has stopped reading must not see it as an unhandled 'error' event.
  stream.on('error', () => undefined);
  return stream;
}
