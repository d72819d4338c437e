/**
 * The deadline and signal of one plugin call ({@link CallOptions}), as one object that the
 * implementation passes down to every command, socket and sleep of the call.
 */
import { DEFAULT_CALL_TIMEOUT_MS, RustynetError, type CallOptions, type Clock, type RunOptions } from '@rustynet/plugin-api';
import { abortError } from './abort.js';

/**
 * The deadline and signal of one plugin call. Each command the call runs gets the caller's signal
 * and the time left ({@link runOptions}), so a call never outlives its deadline.
 *
 * ```ts
 * const scope = new CallScope(context.clock, options);
 * await context.runner.run('ip', ['link', 'show'], scope.runOptions());
 * ```
 */
export class CallScope {
  /** The caller's signal, if any. */
  readonly signal: AbortSignal | undefined;
  /** Absolute deadline, in the clock's milliseconds since the epoch. */
  readonly deadline: number;
  /** The whole budget of the call in milliseconds (the caller's `timeoutMs`, or the default). */
  readonly timeoutMs: number;

  /**
   * @param clock the plugin's clock (`context.clock`); deadlines follow it, so fake clocks work.
   * @param options the caller's options; without `timeoutMs` the call gets
   *   {@link DEFAULT_CALL_TIMEOUT_MS} (30 000 ms).
   */
  constructor(
    private readonly clock: Clock,
    options: CallOptions = {},
  ) {
    this.signal = options.signal;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    this.deadline = clock.now() + this.timeoutMs;
  }

  /** Milliseconds left before the deadline (0 or less once it has passed). */
  remaining(): number {
    return this.deadline - this.clock.now();
  }

  /**
   * Throws when the call may not continue.
   * @throws RustynetError `ABORTED` when the signal fired (`TIMEOUT` if its reason is a timeout),
   *   `TIMEOUT` when the deadline passed.
   */
  check(): void {
    if (this.signal?.aborted) throw abortError(this.signal.reason);
    if (this.remaining() <= 0) throw new RustynetError('TIMEOUT', 'the call passed its deadline');
  }

  /**
   * Runner options carrying this call's signal and remaining time (at least 1 ms).
   * @param extra other runner options (input, env, reject, ...), copied into the result.
   * @throws like {@link check}.
   */
  runOptions(extra: RunOptions = {}): RunOptions {
    this.check();
    const out: RunOptions = { ...extra, timeoutMs: Math.max(1, this.remaining()) };
    if (this.signal) out.signal = this.signal;
    return out;
  }

  /**
   * Sleeps `ms` milliseconds on the plugin's clock, cut short at the deadline.
   * @throws like {@link check}, before and after the sleep.
   */
  async sleep(ms: number): Promise<void> {
    this.check();
    await this.clock.sleep(Math.max(0, Math.min(ms, this.remaining())), this.signal);
    this.check();
  }

  /**
   * An AbortSignal that fires when the caller's signal does or when the deadline passes (with a
   * `TimeoutError` reason), for APIs that take only a signal (sockets, `fetch`, p-retry).
   * Uses a real timer for the deadline.
   */
  toSignal(): AbortSignal {
    const timeout = AbortSignal.timeout(Math.max(1, this.remaining()));
    return this.signal ? AbortSignal.any([this.signal, timeout]) : timeout;
  }
}
