import { RustynetError, type Clock } from '@rustynet/plugin-api';

/** The wall clock: `Date.now()` and timer-based `sleep`. */
export class SystemClock implements Clock {
  now(): number {
    return Date.now();
  }

  /** @throws RustynetError `ABORTED` when `signal` aborts before `ms` passed. */
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(new RustynetError('ABORTED', 'sleep aborted'));
        return;
      }
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(new RustynetError('ABORTED', 'sleep aborted'));
      };
      const timer = setTimeout(
        () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        Math.max(0, ms),
      );
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
