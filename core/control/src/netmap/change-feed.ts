/**
 * Wakes long-polls: waiters register for "a version above N" and are all resolved at once when
 * {@link ChangeFeed.publish} announces a newer version.
 */

interface Waiter {
  after: number;
  resolve: (woken: boolean) => void;
}

/** The set of waiting polls. */
export class ChangeFeed {
  private readonly waiters = new Set<Waiter>();
  private current = 0;

  /** Number of waiting polls. */
  get size(): number {
    return this.waiters.size;
  }

  /** Announces `version`; resolves (with true) every waiter waiting for less. */
  publish(version: number): void {
    this.current = Math.max(this.current, version);
    for (const w of this.waiters) {
      if (this.current > w.after) {
        this.waiters.delete(w);
        w.resolve(true);
      }
    }
  }

  /**
   * Resolves true once a version above `after` is published, false after `timeoutMs` or when
   * `signal` aborts. Resolves at once when one already is.
   */
  wait(after: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.current > after) return Promise.resolve(true);
    if (signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const finish = (woken: boolean): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.waiters.delete(waiter);
        resolve(woken);
      };
      const waiter: Waiter = { after, resolve: finish };
      const onAbort = (): void => finish(false);
      const timer = setTimeout(() => finish(false), timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(waiter);
    });
  }

  /** Resolves every waiter with false (shutdown). */
  close(): void {
    for (const w of [...this.waiters]) w.resolve(false);
  }
}
