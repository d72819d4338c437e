/**
 * The one mapping of an aborted call to the plugin API's error codes: a signal whose reason is a
 * `TimeoutError` (as from `AbortSignal.timeout`) or a passed deadline is `TIMEOUT`; any other abort
 * is `ABORTED`.
 */
import { RustynetError, isRustynetError } from '@rustynet/plugin-api';

/** True when `reason` (an abort reason or a thrown value) is a `TimeoutError` DOMException or Error. */
export function isTimeoutReason(reason: unknown): boolean {
  return typeof reason === 'object' && reason !== null && (reason as { name?: unknown }).name === 'TimeoutError';
}

/**
 * The error for a call whose signal aborted with `reason`.
 * @param reason the signal's `reason` (any value).
 * @param what short text naming the call, e.g. `'applyPeers'`; used in the message only.
 * @returns RustynetError `TIMEOUT` when `reason` is a timeout, else `ABORTED`; `cause` is `reason`.
 *   A `reason` that already is a RustynetError `TIMEOUT` or `ABORTED` is returned unchanged.
 */
export function abortError(reason: unknown, what = 'the call'): RustynetError {
  if (isRustynetError(reason, 'TIMEOUT') || isRustynetError(reason, 'ABORTED')) return reason;
  return isTimeoutReason(reason)
    ? new RustynetError('TIMEOUT', `${what} timed out`, { cause: reason })
    : new RustynetError('ABORTED', `${what} was aborted`, { cause: reason });
}

/**
 * Throws when `signal` has aborted.
 * @throws RustynetError `TIMEOUT` or `ABORTED` as {@link abortError} maps the signal's reason.
 */
export function throwIfAborted(signal: AbortSignal | undefined, what?: string): void {
  if (signal?.aborted) throw abortError(signal.reason, what);
}

/** True when `err` is a RustynetError `TIMEOUT` or `ABORTED` (the call was cut short, not failed). */
export function isAbortError(err: unknown): boolean {
  return isRustynetError(err, 'TIMEOUT') || isRustynetError(err, 'ABORTED');
}

/**
 * Maps an error thrown inside an aborted or timed-out call to the plugin API's codes: a DOM
 * `AbortError`/`TimeoutError` (from `fetch`, `timers/promises`, `events.once`, ...) becomes
 * `ABORTED`/`TIMEOUT`; everything else, RustynetErrors included, is returned unchanged.
 */
export function mapAbortError(err: unknown, what?: string): unknown {
  if (typeof err !== 'object' || err === null || isRustynetError(err)) return err;
  const name = (err as { name?: unknown }).name;
  if (name === 'TimeoutError') return abortError(err, what);
  if (name === 'AbortError') return abortError((err as { cause?: unknown }).cause ?? err, what);
  return err;
}
