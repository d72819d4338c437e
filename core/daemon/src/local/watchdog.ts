import type { BackendFault, Clock, Counter, Logger } from '@rustynet/plugin-api';
import { toRustynetError } from '../util/errors.js';
import type { DataPlaneHealth, StatusError } from './status-types.js';

/** Back-off between failed restore attempts, ms: `minMs * factor^(n-1)`, capped at `maxMs`. */
export interface RestoreBackoff {
  /** Delay after the first failed attempt. Default 250 ms. */
  minMs: number;
  /** Largest delay. Default 5 000 ms. */
  maxMs: number;
  /** Growth per failed attempt. Default 2. */
  factor: number;
}

/** Default {@link RestoreBackoff}. */
export const DEFAULT_RESTORE_BACKOFF: Readonly<RestoreBackoff> = { minMs: 250, maxMs: 5000, factor: 2 };

/** What the watchdog drives; the session wires these to the daemon's parts. */
export interface WatchdogDeps {
  /** The daemon's injected clock (all waits go through it). */
  clock: Pick<Clock, 'now' | 'sleep'>;
  logger: Logger;
  /** `rustynet_dataplane_faults_total{source}`. */
  faults: Counter;
  /** `rustynet_dataplane_restores_total{result}`. */
  restores: Counter;
  /** Appends an audit record (may throw: a full disk must not stop a restore). */
  audit: (kind: 'dataplane.fault' | 'dataplane.restore', data: Record<string, unknown>) => Promise<unknown>;
  /** Runs `fn` in the daemon's serialiser (restores never interleave with applies). */
  serial: <T>(fn: () => Promise<T>) => Promise<T>;
  /** True while the data plane should run (state up, a netmap applied, data plane started). */
  wanted: () => boolean;
  /** Health read: `backend.stats()`. Throws when the backend failed. */
  probe: () => Promise<void>;
  /**
   * Restores the whole desired state: stop, start, then peers, routes, policy and DNS of the
   * applied netmap. Runs inside the serialiser. Throws when that fails.
   */
  restore: () => Promise<void>;
  backoff?: Partial<RestoreBackoff>;
}

/**
 * The daemon's data-plane watchdog, for any backend. It notices a failed backend — a fault the
 * backend reports through `onFault`, or a failed `stats()` at a poll tick ({@link check}) — and
 * restores the whole desired state at once, then with back-off until it succeeds, the data
 * plane is no longer wanted (down, stopped), or {@link stop}. Each attempt is counted and
 * audited; {@link health} is what status shows (`ok`, `degraded`, `restoring` and why).
 * A fault the backend heals itself (`selfHealing`) is only recorded: `degraded` until the next
 * health read succeeds.
 */
export class DataPlaneWatchdog {
  private state: DataPlaneHealth['state'] = 'ok';
  private reason: StatusError | null = null;
  private restoresOk = 0;
  private restoresFailed = 0;
  private lastRestore: DataPlaneHealth['lastRestore'] = null;
  private loop: Promise<void> | undefined;
  private readonly abort = new AbortController();
  private readonly backoff: RestoreBackoff;

  constructor(private readonly d: WatchdogDeps) {
    this.backoff = { ...DEFAULT_RESTORE_BACKOFF, ...d.backoff };
  }

  /** The backend's `onFault` callback. Never throws; never waits. */
  readonly report = (fault: BackendFault): void => {
    if (this.abort.signal.aborted) return;
    this.d.faults.inc({ source: 'backend' });
    const reason = this.statusError(fault.code, fault.message);
    if (fault.selfHealing === true) {
      this.d.logger.warn({ code: fault.code, err: fault.message }, 'the backend reports a fault it restores itself');
      if (!this.loop) {
        this.state = 'degraded';
        this.reason = reason;
      }
      this.auditSafe('dataplane.fault', { source: 'backend', code: fault.code, message: fault.message, selfHealing: true });
      return;
    }
    this.trigger(reason, 'backend');
  };

  /**
   * One health read (a poll tick): when the data plane is wanted and no restore runs, calls
   * `probe`; a failure starts a restore. A success clears a self-healing fault. Never throws.
   */
  async check(): Promise<void> {
    if (this.loop || this.abort.signal.aborted || !this.d.wanted()) return;
    try {
      await this.d.probe();
      if (this.state === 'degraded' && !this.loop) this.state = 'ok';
    } catch (err) {
      if (this.loop || !this.d.wanted()) return;
      const e = toRustynetError(err, 'BACKEND_FAILED');
      this.d.faults.inc({ source: 'stats' });
      this.trigger(this.statusError(e.code, `health read failed: ${e.message}`), 'stats');
    }
  }

  /** Health as status shows it. */
  health(): DataPlaneHealth {
    return {
      state: this.state,
      reason: this.reason,
      restores: { ok: this.restoresOk, failed: this.restoresFailed },
      lastRestore: this.lastRestore,
    };
  }

  /** Resolves once the current restore loop (if any) has ended. */
  async settled(): Promise<void> {
    await this.loop;
  }

  /** Ends the restore loop (daemon stop). Idempotent. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop?.catch(() => undefined);
  }

  private trigger(reason: StatusError, source: string): void {
    if (this.loop || this.abort.signal.aborted) return;
    this.state = 'degraded';
    this.reason = reason;
    this.d.logger.error({ code: reason.code, err: reason.message, source }, 'data plane failed; restoring the desired state');
    this.auditSafe('dataplane.fault', { source, code: reason.code, message: reason.message });
    this.loop = this.restoreLoop(reason).finally(() => {
      this.loop = undefined;
    });
  }

  private async restoreLoop(cause: StatusError): Promise<void> {
    const signal = this.abort.signal;
    let delay = this.backoff.minMs;
    for (let attempt = 1; !signal.aborted; attempt++) {
      const done = await this.d.serial(async () => {
        if (signal.aborted) return true;
        if (!this.d.wanted()) {
          this.d.logger.info('data plane no longer wanted; restore abandoned');
          this.state = 'ok';
          return true;
        }
        this.state = 'restoring';
        const t0 = this.d.clock.now();
        try {
          await this.d.restore();
        } catch (err) {
          const e = toRustynetError(err, 'BACKEND_FAILED');
          this.restoresFailed++;
          this.d.restores.inc({ result: 'failed' });
          this.state = 'degraded';
          this.reason = this.statusError(e.code, `restore attempt ${attempt} failed: ${e.message}`);
          this.lastRestore = { at: new Date(t0).toISOString(), result: 'failed', durationMs: this.d.clock.now() - t0, attempt };
          this.d.logger.error({ code: e.code, err: e.message, attempt, retryInMs: delay }, 'data-plane restore failed; retrying');
          this.auditSafe('dataplane.restore', { result: 'failed', attempt, code: e.code, message: e.message, cause: cause.message });
          return false;
        }
        const durationMs = this.d.clock.now() - t0;
        this.restoresOk++;
        this.d.restores.inc({ result: 'ok' });
        this.state = 'ok';
        this.lastRestore = { at: new Date(t0).toISOString(), result: 'ok', durationMs, attempt };
        this.d.logger.info({ attempt, durationMs, cause: cause.message }, 'data plane restored');
        this.auditSafe('dataplane.restore', { result: 'ok', attempt, durationMs, cause: cause.message });
        return true;
      });
      if (done) return;
      try {
        await this.d.clock.sleep(delay, signal);
      } catch {
        return;
      }
      delay = Math.min(this.backoff.maxMs, delay * this.backoff.factor);
    }
  }

  private statusError(code: string, message: string): StatusError {
    return { code, message, at: new Date(this.d.clock.now()).toISOString() };
  }

  private auditSafe(kind: 'dataplane.fault' | 'dataplane.restore', data: Record<string, unknown>): void {
    void this.d.audit(kind, data).catch((err: unknown) => this.d.logger.error({ err: String(err) }, 'audit append failed'));
  }
}
