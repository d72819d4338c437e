/**
 * Fail closed at netmap expiry, for daemons fed by the control plane. While the control plane is
 * away the daemon keeps its last good netmap; once that map's `expiresAt` passes with no newer
 * one, the guard takes the tunnel down (`Daemon.down`: peers, routes and policy removed) and
 * brings it back (`Daemon.up`, which re-applies the newest verified map) as soon as a new map
 * arrives. A tunnel the operator took down (`rustynet down`) is never brought up by the guard.
 */
import type { Daemon } from '@rustynet/daemon';

/** The daemon methods the guard uses. */
export type GuardedDaemon = Pick<Daemon, 'status' | 'down' | 'up' | 'pollNow'>;

/** Watches the applied netmap's expiry. */
export class ExpiryGuard {
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private busy = false;
  private stopped = false;

  /**
   * @param intervalMs longest time between two checks (a status read asks the backend for stats,
   *   so the guard sleeps until the applied map's expiry instead of polling every second).
   * @param log one line per transition.
   */
  constructor(
    private readonly daemon: GuardedDaemon,
    private readonly log: (line: string) => void,
    private readonly intervalMs = 30_000,
  ) {}

  /** Starts checking. */
  start(): void {
    this.schedule(0);
  }

  /** Stops checking. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Next check in `ms` (replacing a pending one). */
  private schedule(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.check(), ms);
    this.timer.unref();
  }

  /** A new map arrived: ingest it, and reopen when the guard had closed the tunnel. */
  async onUpdate(): Promise<void> {
    if (!this.closed) {
      await this.daemon.pollNow();
      this.schedule(0);
      return;
    }
    // up() re-reads the source (the new map) after the stale candidate fails its expiry check.
    const r = await this.daemon.up();
    const s = await this.daemon.status();
    if (s.state === 'up' && s.netmap !== null && Date.parse(s.netmap.expiresAt) > Date.now()) {
      this.closed = false;
      this.log(`fresh netmap (version ${s.netmap.version}): tunnel back up (${r.result})`);
      this.schedule(0);
    } else {
      await this.daemon.down();
    }
  }

  private async check(): Promise<void> {
    if (this.busy || this.closed) return;
    this.busy = true;
    let next = this.intervalMs;
    try {
      const s = await this.daemon.status();
      const expiresAt = s.netmap !== null ? Date.parse(s.netmap.expiresAt) : NaN;
      if (s.state === 'up' && s.netmap !== null && expiresAt <= Date.now()) {
        this.closed = true;
        this.log(`netmap version ${s.netmap.version} expired at ${s.netmap.expiresAt} with no newer one: failing closed (tunnel down)`);
        await this.daemon.down();
      } else if (s.state === 'up' && Number.isFinite(expiresAt)) {
        // Wake just after the expiry (a new map reschedules through onUpdate).
        next = Math.min(this.intervalMs, expiresAt - Date.now() + 50);
      } else {
        next = Math.min(this.intervalMs, 1_000);
      }
    } catch (err) {
      this.log(`expiry check failed: ${String(err)}`);
    } finally {
      this.busy = false;
      if (!this.closed) this.schedule(next);
    }
  }
}
