/**
 * Options accepted by every asynchronous plugin method.
 *
 * Every call either carries an `AbortSignal` or runs under a deadline. A method that sees its
 * signal abort stops as soon as it safely can and rejects with `ABORTED` (or `TIMEOUT` when
 * the abort reason is a timeout), leaving the state it had before the call where it can.
 */
export interface CallOptions {
  /** Aborts the call. */
  signal?: AbortSignal;
  /** Deadline for the call in milliseconds; hosts default to 30 000 ms. */
  timeoutMs?: number;
}

/** Default deadline of a plugin call, in milliseconds. */
export const DEFAULT_CALL_TIMEOUT_MS = 30_000;
