import { RustynetError } from '@rustynet/plugin-api';

/** Default deadline of one hook tap, in milliseconds. */
export const DEFAULT_HOOK_DEADLINE_MS = 5000;

/**
 * Runs `fn` and settles with it, or rejects with `TIMEOUT` once `ms` milliseconds have passed.
 * A synchronous throw becomes a rejection. A late rejection of `fn`'s promise is swallowed so it
 * can never surface as an unhandled rejection.
 * @throws RustynetError `TIMEOUT` (details `{ deadlineMs, label }`) when the deadline passes.
 */
export function withDeadline<T>(fn: () => T | Promise<T>, ms: number, label: string): Promise<T> {
  let inner: Promise<T>;
  try {
    inner = Promise.resolve(fn());
  } catch (err) {
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the tap's own throw, unchanged; callers map it
    return Promise.reject(err);
  }
  inner.catch(() => undefined);
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new RustynetError('TIMEOUT', `${label} did not finish within ${ms} ms`, { details: { deadlineMs: ms, label } }));
    }, ms);
    inner.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the tap's own rejection, unchanged
        reject(err);
      },
    );
  });
}
