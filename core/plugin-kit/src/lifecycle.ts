/**
 * The lifecycle base class every plugin kind can build on (abstract-level style): public methods
 * do the contract's bookkeeping in one place, protected `_` methods do the work.
 */
import { RustynetError, type CallOptions, type Clock } from '@rustynet/plugin-api';
import { mapAbortError } from './abort.js';
import { CallScope } from './call-scope.js';
import { SerialQueue } from './serial-queue.js';

/** Options of the {@link PluginLifecycle} constructor. */
export interface LifecycleOptions {
  /** The plugin's clock (`context.clock`); call deadlines follow it. */
  clock: Clock;
  /**
   * How messages name the plugin, e.g. `'the DNS server'` gives "the DNS server is not
   * running" / "the DNS server is already running".
   */
  label: string;
  /**
   * When true, `stop` first aborts a start in progress (its scope's signal fires with an
   * `ABORTED` reason; see {@link PluginLifecycle.stopPending}) instead of waiting for it, for
   * plugins whose start may wait long (retrying a server until the deadline). Default false.
   */
  stopAbortsStart?: boolean;
}

/**
 * Lifecycle of a plugin that is started, used, and stopped.
 *
 * Every public call (`start`, `stop`, and what subclasses route through {@link whileRunning} or
 * {@link serial}):
 * 1. is queued: calls run one at a time, in call order (a {@link SerialQueue});
 * 2. checks the state: `ALREADY_RUNNING` for a second start ({@link runStart}), `NOT_RUNNING` for work before
 *    `start` or after `stop`; `stop` is idempotent and never throws `NOT_RUNNING`;
 * 3. checks the caller's signal and deadline ({@link CallScope}): `ABORTED`, or `TIMEOUT` when
 *    the signal's reason is a timeout or `timeoutMs` passed;
 * 4. calls the protected implementation with the running state and the call's scope, mapping a
 *    DOM `AbortError`/`TimeoutError` escaping from it to `ABORTED`/`TIMEOUT`.
 *
 * Implementations validate their whole input before changing anything, so that a call failing
 * with `INVALID_INPUT`, `UNKNOWN_PEER`, `DUPLICATE_PEER` or `UNSUPPORTED` changes nothing.
 *
 * @typeParam TState what a running instance holds (devices, sockets, peers, ...); `undefined`
 *   while stopped, so it must not itself be `undefined`.
 * @typeParam TConfig the argument of `start`.
 */
export abstract class PluginLifecycle<TState, TConfig> {
  private current: TState | undefined;
  private readonly queue = new SerialQueue();
  private readonly stopAbortsStart: boolean;
  /** Aborts the starts in progress (when `stopAbortsStart`). */
  private readonly starting = new Set<AbortController>();
  private stopsPending = 0;
  /** The plugin's clock. */
  protected readonly clock: Clock;
  /** How messages name the plugin. */
  protected readonly label: string;

  protected constructor(options: LifecycleOptions) {
    this.clock = options.clock;
    this.label = options.label;
    this.stopAbortsStart = options.stopAbortsStart === true;
  }

  /** True from a call of `stop` until it settles (a start in progress can tell it was cut short). */
  protected get stopPending(): boolean {
    return this.stopsPending > 0;
  }

  /** True between a successful `start` and the next `stop`. */
  get isRunning(): boolean {
    return this.current !== undefined;
  }

  /**
   * Starts the plugin: `_start` builds the running state. Subclasses expose it as their kind's
   * public `start` (`start(config, options)`, or `start(options)` for kinds without a config).
   * @throws RustynetError `ALREADY_RUNNING`, `ABORTED`, `TIMEOUT`, or what `_start` throws (it
   *   must leave nothing behind when it throws).
   */
  protected runStart(config: TConfig, options?: CallOptions): Promise<void> {
    const abort = this.stopAbortsStart ? new AbortController() : undefined;
    let callOptions = options;
    if (abort) {
      this.starting.add(abort);
      callOptions = { ...options, signal: options?.signal ? AbortSignal.any([options.signal, abort.signal]) : abort.signal };
    }
    const run = this.queued(callOptions, async (scope) => {
      if (this.current !== undefined) throw new RustynetError('ALREADY_RUNNING', `${this.label} is already running`);
      scope.check();
      this.current = await this._start(config, scope);
    });
    return abort ? run.finally(() => this.starting.delete(abort)) : run;
  }

  /**
   * Stops the plugin: `_stop` removes everything the running instance made. Idempotent; never
   * throws `NOT_RUNNING` (while stopped it calls `_stopIdle`, which does nothing by default).
   *
   * When `_stop` resolves, the instance is stopped. When it resolves with a RustynetError (things
   * it could not remove), the instance is stopped too and `stop` rejects with that error. When it
   * throws, the instance stays running, so that `stop` can be retried.
   * @throws RustynetError `ABORTED`, `TIMEOUT`, or what `_stop` throws or resolves with.
   */
  stop(options?: CallOptions): Promise<void> {
    this.stopsPending++;
    for (const s of this.starting) s.abort(new RustynetError('ABORTED', `${this.label} stopped while starting`));
    return this.queued(options, async (scope) => {
      const state = this.current;
      if (state === undefined) return this._stopIdle(scope);
      scope.check();
      const incomplete = await this._stop(state, scope);
      this.current = undefined;
      if (incomplete) throw incomplete;
    }).finally(() => {
      this.stopsPending--;
    });
  }

  /**
   * Runs `work` in the queue with the running state.
   * @throws RustynetError `NOT_RUNNING` when not running, `ABORTED`/`TIMEOUT`, or what `work` throws.
   */
  protected whileRunning<T>(options: CallOptions | undefined, work: (state: TState, scope: CallScope) => Promise<T>): Promise<T> {
    return this.queued(options, async (scope) => {
      const state = this.requireRunning();
      scope.check();
      return work(state, scope);
    });
  }

  /**
   * Runs `work` in the queue whatever the state (for calls allowed while stopped, such as key
   * generation, or that report a stopped instance themselves).
   * @throws RustynetError `ABORTED`/`TIMEOUT`, or what `work` throws.
   */
  protected serial<T>(options: CallOptions | undefined, work: (scope: CallScope) => Promise<T>): Promise<T> {
    return this.queued(options, async (scope) => {
      scope.check();
      return work(scope);
    });
  }

  /**
   * Runs `work` at once with the running state, without waiting for queued calls: for read-only
   * calls (counters, status) that must not wait behind a long call. `work` must not change the
   * state, and must cope with a call in progress.
   * @throws RustynetError `NOT_RUNNING` when not running, `ABORTED`/`TIMEOUT`, or what `work` throws.
   */
  protected async unqueued<T>(options: CallOptions | undefined, work: (state: TState, scope: CallScope) => Promise<T>): Promise<T> {
    const scope = new CallScope(this.clock, options);
    try {
      const state = this.requireRunning();
      scope.check();
      return await work(state, scope);
    } catch (err) {
      throw mapAbortError(err);
    }
  }

  /** The running state, or `undefined` when stopped. Does not wait for queued calls. */
  protected get runningState(): TState | undefined {
    return this.current;
  }

  /**
   * The running state.
   * @throws RustynetError `NOT_RUNNING` when stopped.
   */
  protected requireRunning(): TState {
    if (this.current === undefined) throw new RustynetError('NOT_RUNNING', `${this.label} is not running`);
    return this.current;
  }

  /** A scope for work outside the caller's deadline (cleanup after a failure), of `timeoutMs`. */
  protected cleanupScope(timeoutMs: number): CallScope {
    return new CallScope(this.clock, { timeoutMs });
  }

  private queued<T>(options: CallOptions | undefined, work: (scope: CallScope) => Promise<T>): Promise<T> {
    return this.queue.run(async () => {
      const scope = new CallScope(this.clock, options);
      try {
        return await work(scope);
      } catch (err) {
        throw mapAbortError(err);
      }
    });
  }

  /**
   * Brings the plugin up and returns its running state. Called with nothing running.
   * @throws whatever the plugin documents for `start`; must leave nothing behind.
   */
  protected abstract _start(config: TConfig, scope: CallScope): Promise<TState>;

  /**
   * Removes everything `state` holds. Resolve with a RustynetError to report what is left behind
   * (the instance counts as stopped); throw to stay running. See {@link stop}.
   */
  protected abstract _stop(state: TState, scope: CallScope): Promise<RustynetError | void>;

  /**
   * Called by `stop` while stopped, e.g. to remove what a crashed earlier run left behind.
   * Default: nothing. Errors it throws reach the caller of `stop`.
   */
  protected async _stopIdle(_scope: CallScope): Promise<void> {}
}
