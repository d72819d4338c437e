/**
 * Retry with exponential back-off (on p-retry), for calls that may fail for a while: a relay that
 * is not up yet, a socket that is still being created, a data-plane process being restarted.
 */
import pRetry, { AbortError } from 'p-retry';
import { isRustynetError } from '@rustynet/plugin-api';
import { abortError } from './abort.js';

/** Options of {@link retry}. Delays are in milliseconds. */
export interface RetryOptions {
  /** Retries after the first attempt (so at most `retries + 1` attempts). Default 5. */
  retries?: number;
  /** Delay before the first retry. Default 250 ms. */
  minDelayMs?: number;
  /** Largest delay between attempts. Default 5 000 ms. */
  maxDelayMs?: number;
  /** Growth of the delay per attempt. Default 2. */
  factor?: number;
  /** Multiply each delay by a random factor in [1, 2) to spread retrying clients. Default false. */
  randomize?: boolean;
  /** Stops retrying (and the wait between attempts) when it aborts. */
  signal?: AbortSignal;
  /**
   * Decides whether `error` (thrown by attempt number `attempt`, from 1) is worth another try.
   * Default: everything but RustynetError `INVALID_INPUT`, `UNSUPPORTED`, `TIMEOUT`, `ABORTED`.
   */
  shouldRetry?: (error: unknown, attempt: number) => boolean;
  /** Called after each failed attempt that will be retried (for logs and metrics). */
  onFailedAttempt?: (error: unknown, attempt: number, retriesLeft: number) => void;
}

const FINAL_CODES = new Set(['INVALID_INPUT', 'UNSUPPORTED', 'TIMEOUT', 'ABORTED']);

/** The default of {@link RetryOptions.shouldRetry}. */
export function isRetryable(error: unknown): boolean {
  return !(isRustynetError(error) && FINAL_CODES.has(error.code));
}

/** Carries an attempt's error through p-retry untouched (p-retry decorates the errors it sees). */
class AttemptFailed extends Error {
  constructor(readonly value: unknown) {
    super(value instanceof Error ? value.message : String(value));
  }
}

/**
 * Calls `attempt` until it resolves, retrying failures with exponential back-off
 * (`minDelayMs * factor^(n-1)`, capped at `maxDelayMs`).
 * @param attempt receives the attempt number (from 1).
 * @returns what the successful attempt resolved to.
 * @throws the last attempt's error, unchanged, when retries run out or `shouldRetry` says no;
 *   RustynetError `ABORTED` (`TIMEOUT` for a timeout reason) when `signal` aborts first.
 */
export async function retry<T>(attempt: (attemptNumber: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const shouldRetry = options.shouldRetry ?? isRetryable;
  const { signal } = options;
  if (signal?.aborted) throw abortError(signal.reason);
  let last: AttemptFailed | undefined;
  try {
    return await pRetry(
      async (n) => {
        try {
          return await attempt(n);
        } catch (err) {
          last = new AttemptFailed(err);
          if (signal?.aborted || !shouldRetry(err, n)) throw new AbortError(last);
          throw last;
        }
      },
      {
        retries: options.retries ?? 5,
        minTimeout: options.minDelayMs ?? 250,
        maxTimeout: options.maxDelayMs ?? 5000,
        factor: options.factor ?? 2,
        randomize: options.randomize ?? false,
        ...(signal && { signal }),
        onFailedAttempt: (e) => {
          if (e.retriesLeft > 0) options.onFailedAttempt?.(last?.value, e.attemptNumber, e.retriesLeft);
        },
      },
    );
  } catch (err) {
    if (signal?.aborted) throw abortError(signal.reason);
    if (last !== undefined) throw last.value;
    throw err;
  }
}
