/**
 * Per-call deadline and cancellation ({@link CallOptions}), and the mapping of runner errors to
 * this backend's error codes.
 */
import {
  DEFAULT_CALL_TIMEOUT_MS,
  RustynetError,
  isRustynetError,
  type CallOptions,
  type Clock,
  type RunOptions,
} from '@rustynet/plugin-api';

/**
 * The deadline and signal of one plugin call. Each command the call runs gets the caller's
 * signal and the time left, so a call never outlives its deadline.
 */
export class CallScope {
  readonly signal: AbortSignal | undefined;
  private readonly deadline: number;

  /**
   * @param options the caller's options; without `timeoutMs` the call gets
   *   {@link DEFAULT_CALL_TIMEOUT_MS} (30 s).
   */
  constructor(
    private readonly clock: Clock,
    options: CallOptions = {},
  ) {
    this.signal = options.signal;
    this.deadline = clock.now() + (options.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS);
  }

  /** Milliseconds left before the deadline (may be 0 or less). */
  remaining(): number {
    return this.deadline - this.clock.now();
  }

  /**
   * Throws when the call may not continue.
   * @throws RustynetError `ABORTED` when the signal fired (`TIMEOUT` if its reason is a timeout),
   *   `TIMEOUT` when the deadline passed.
   */
  check(): void {
    if (this.signal?.aborted) {
      const reason: unknown = this.signal.reason;
      const isTimeout = typeof reason === 'object' && reason !== null && (reason as { name?: unknown }).name === 'TimeoutError';
      throw new RustynetError(isTimeout ? 'TIMEOUT' : 'ABORTED', isTimeout ? 'the call timed out' : 'the call was aborted', { cause: reason });
    }
    if (this.remaining() <= 0) throw new RustynetError('TIMEOUT', 'the call passed its deadline');
  }

  /** Runner options carrying this call's signal and remaining time. */
  runOptions(extra: RunOptions = {}): RunOptions {
    this.check();
    const out: RunOptions = { ...extra, timeoutMs: Math.max(1, this.remaining()) };
    if (this.signal) out.signal = this.signal;
    return out;
  }

  /** Sleeps `ms` (bounded by the deadline). @throws like {@link check}. */
  async sleep(ms: number): Promise<void> {
    this.check();
    await this.clock.sleep(Math.max(0, Math.min(ms, this.remaining())), this.signal);
    this.check();
  }
}

const PERMISSION_RE = /Operation not permitted|Permission denied|EPERM|EACCES/i;

/**
 * Maps an error thrown by `CommandRunner.run` for `command` (a short label such as `wg set`) to
 * this backend's codes: `TIMEOUT` and `ABORTED` pass through; a failed command becomes
 * `PERMISSION_DENIED` when its stderr says so, else `BACKEND_FAILED` with `details.command`,
 * `details.exitCode` and `details.stderr`.
 */
export function toBackendError(err: unknown, command: string): RustynetError {
  if (isRustynetError(err, 'TIMEOUT') || isRustynetError(err, 'ABORTED')) return err;
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
