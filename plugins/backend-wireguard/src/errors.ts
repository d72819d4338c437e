/**
 * The mapping of runner errors to this backend's error codes. (Deadlines and aborts are
 * plugin-kit's `CallScope`.)
 */
import { RustynetError, isRustynetError } from '@rustynet/plugin-api';
import { isAbortError } from '@rustynet/plugin-kit';

const PERMISSION_RE = /Operation not permitted|Permission denied|EPERM|EACCES/i;

/**
 * Maps an error thrown by `CommandRunner.run` for `command` (a short label such as `wg set`) to
 * this backend's codes: `TIMEOUT` and `ABORTED` pass through; a failed command becomes
 * `PERMISSION_DENIED` when its stderr says so, else `BACKEND_FAILED` with `details.command`,
 * `details.exitCode` and `details.stderr`.
 */
export function toBackendError(err: unknown, command: string): RustynetError {
  if (isAbortError(err) && isRustynetError(err)) return err;
  if (isRustynetError(err, 'BACKEND_FAILED') || isRustynetError(err, 'PERMISSION_DENIED')) return err;
  const details: Record<string, unknown> = { command };
  let stderr = '';
  if (isRustynetError(err) && err.details) {
    if (err.details.exitCode !== undefined) details.exitCode = err.details.exitCode;
    if (typeof err.details.stderr === 'string') stderr = err.details.stderr;
  } else if (err instanceof Error) {
    stderr = err.message;
  }
  details.stderr = stderr.slice(-4096);
  const code = PERMISSION_RE.test(stderr) ? 'PERMISSION_DENIED' : 'BACKEND_FAILED';
  const first = stderr.trim().split('\n')[0] ?? '';
  return new RustynetError(code, `${command} failed${first ? `: ${first}` : ''}`, { details, cause: err });
}
