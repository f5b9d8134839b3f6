import { AdaptiveRetryStrategy, isThrottlingError, isTransientError } from '@smithy/core/retry';
import type { RetryErrorInfo, RetryErrorType, RetryStrategyV2, StandardRetryBackoffStrategy } from '@smithy/types';

/**
 * Attempts per S3 request (1 + retries). S3 answers `503 SlowDown` while it scales a prefix
 * ("Best practices design patterns: optimizing Amazon S3 performance"); ten in a row must not
 * fail a backup. With the SDK's throttling backoff (base 1 s, doubling, capped at 20 s, full
 * jitter: @smithy/core/retry) eleven retries wait about 75 s on average, at most about 150 s.
 */
export const S3_MAX_ATTEMPTS = 12;

export interface S3RetryOptions {
  /** @default S3_MAX_ATTEMPTS */
  readonly maxAttempts?: number;
  /** The backoff between attempts; the SDK's own (exponential, full jitter) unless given. Tests pass a short one. */
  readonly backoff?: StandardRetryBackoffStrategy;
}

/**
 * The connector's one S3 retry strategy: the AWS SDK's adaptive mode (a client-side token bucket
 * that slows every request of this store down when S3 throttles, plus the SDK's retry quota), with
 * enough attempts to ride out throttling. One instance serves both the SDK client and the
 * connector's own signed requests, so they share the sending rate.
 */
export function s3RetryStrategy(options: S3RetryOptions = {}): RetryStrategyV2 {
  const maxAttempts = options.maxAttempts ?? S3_MAX_ATTEMPTS;
  return new AdaptiveRetryStrategy(maxAttempts, { maxAttempts, ...(options.backoff ? { backoff: options.backoff } : {}) });
}

/** What went wrong with one attempt of a signed request: S3's answer (status, error code) or a network error. */
export type AttemptFailure = { status: number; errorCode?: string } | { error: unknown };

/** Classifies a failed attempt the way the SDK does (429 and throttling codes such as SlowDown; 5xx and network errors). */
export function retryErrorInfo(failure: AttemptFailure): RetryErrorInfo {
  const error =
    'error' in failure
      ? (failure.error as Error & { code?: string })
      : Object.assign(new Error(failure.errorCode ?? `HTTP ${failure.status}`), {
          name: failure.errorCode ?? `Http${failure.status}`,
          $metadata: { httpStatusCode: failure.status },
        });
  const errorType: RetryErrorType = isThrottlingError(error as never)
    ? 'THROTTLING'
    : isTransientError(error as never)
      ? 'TRANSIENT'
      : 'status' in failure && failure.status >= 500
        ? 'SERVER_ERROR'
        : 'CLIENT_ERROR';
  return { errorType, error: error as never };
}

/** True when S3's answer is a failure worth another attempt (throttled or a server error). */
export function isRetryableAnswer(status: number): boolean {
  return status === 429 || status >= 500;
}
