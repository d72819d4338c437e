import type { Clock, Gauge, Logger, Metrics } from '@rustynet/plugin-api';

/** Default `netmap.expiryWarningSeconds`: warn 10 minutes before the applied netmap expires. */
export const DEFAULT_EXPIRY_WARNING_SECONDS = 600;

/** Largest delay `setTimeout` takes (2^31 - 1 ms, about 24.8 days); longer waits are re-armed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** What {@link ExpiryGuard} watches: the applied netmap's version, digest and `expiresAt` (ms). */
export interface ExpiryTarget {
  version: number;
  digest: string;
  expiresAtMs: number;
}

/** Options of {@link ExpiryGuard}. */
export interface ExpiryGuardOptions {
  /** Seconds before expiry at which one warning is logged per netmap; 0: none. */
  warningSeconds: number;
  metrics: Metrics;
  clock: Pick<Clock, 'now'>;
  logger: Logger;
  /**
   * Called (at most once per netmap) when the watched netmap's `expiresAt` has passed: the daemon
   * fails closed there. Errors are logged; the guard calls again on the next {@link ExpiryGuard.check}.
   */
  onExpired: (target: ExpiryTarget) => Promise<void>;
}

/**
 * Watches the applied netmap's `expiresAt` while the daemon runs (trust checks it only when a map
 * arrives): keeps the gauge `rustynet_netmap_expiry_seconds` (seconds left, 0 once expired, absent
 * state: 0), logs one warning `warningSeconds` before expiry, and calls `onExpired` at `expiresAt`
 * (a timer, re-checked by every {@link check}).
 */
export class ExpiryGuard {
  private target: ExpiryTarget | undefined;
  private warnedDigest: string | undefined;
  private expiredDigest: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly gauge: Gauge;

  constructor(private readonly o: ExpiryGuardOptions) {
    this.gauge = o.metrics.gauge(
      'rustynet_netmap_expiry_seconds',
      "Seconds until the applied netmap's expiresAt (0 when expired or none); the daemon fails closed at 0",
    );
  }

  /** Seconds left of the watched netmap (negative once expired), or undefined without one. */
  secondsLeft(): number | undefined {
    return this.target && (this.target.expiresAtMs - this.o.clock.now()) / 1000;
  }

  /** True when the watched netmap's `expiresAt` has passed. */
  get expired(): boolean {
    const left = this.secondsLeft();
    return left !== undefined && left <= 0;
  }

  /** Watches `target` (the newly applied netmap) instead of the previous one; undefined: none. */
  watch(target: ExpiryTarget | undefined): void {
    if (target?.digest !== this.target?.digest) {
      this.target = target;
      this.arm();
    }
    this.check();
  }

  /** Updates the gauge, logs the warning when due, and fires `onExpired` when expired. */
  check(): void {
    const t = this.target;
    const left = this.secondsLeft();
    this.gauge.set(left === undefined ? 0 : Math.max(0, left));
    if (!t || left === undefined) return;
    if (left <= 0) {
      if (this.expiredDigest === t.digest) return;
      this.expiredDigest = t.digest;
      this.o.onExpired(t).catch((err: unknown) => {
        this.expiredDigest = undefined;
        this.o.logger.error({ err: String(err), version: t.version }, 'fail-closed at netmap expiry failed; retrying');
      });
      return;
    }
    if (this.o.warningSeconds > 0 && left <= this.o.warningSeconds && this.warnedDigest !== t.digest) {
      this.warnedDigest = t.digest;
      this.o.logger.warn(
        { version: t.version, expiresAt: new Date(t.expiresAtMs).toISOString(), secondsLeft: Math.round(left) },
        'netmap expires soon and no fresher one has arrived; the node fails closed at expiry',
      );
    }
  }

  /** Stops the timer (daemon stop). */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.target = undefined;
  }

  /** One timer for the next event: the warning, else the expiry (re-armed when longer than a timer takes). */
  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const t = this.target;
    if (!t) return;
    const now = this.o.clock.now();
    const warnAt = t.expiresAtMs - this.o.warningSeconds * 1000;
    const next = warnAt > now && this.warnedDigest !== t.digest ? warnAt : t.expiresAtMs;
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, next - now + 1));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.check();
      if (this.target === t && this.expiredDigest !== t.digest) this.arm();
    }, delay);
    this.timer.unref();
  }
}
