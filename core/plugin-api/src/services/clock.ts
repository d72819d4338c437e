/** Time source; tests substitute a manual clock. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /**
   * Resolves after `ms` milliseconds.
   * @throws RustynetError `ABORTED` when `signal` aborts first.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}
