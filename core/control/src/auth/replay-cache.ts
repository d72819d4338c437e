/**
 * Remembers one-time values (request nonces) until they can no longer be fresh, so a replayed
 * request inside the freshness window is refused. In memory, per process: the first, cheap
 * check; on PostgreSQL the shared table (shared-nonces.ts) then covers the other instances.
 * Across a restart, requests signed before the process started are refused by their timestamp
 * instead (see ControlService.authenticate and docs/control.md, "Replay protection").
 */

/** A set of seen values with expiry, pruned as it grows. */
export class ReplayCache {
  private readonly seen = new Map<string, number>();
  private lastPrune = 0;

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 1_000_000,
  ) {}

  /**
   * Records `value`; false when it was already recorded and not yet expired (a replay), or when
   * the cache is full (fail closed).
   */
  add(value: string, now: number): boolean {
    if (now - this.lastPrune > this.ttlMs / 4 || this.seen.size >= this.maxEntries) this.prune(now);
    const exp = this.seen.get(value);
    if (exp !== undefined && exp > now) return false;
    if (this.seen.size >= this.maxEntries) return false;
    this.seen.set(value, now + this.ttlMs);
    return true;
  }

  private prune(now: number): void {
    this.lastPrune = now;
    for (const [k, exp] of this.seen) if (exp <= now) this.seen.delete(k);
  }
}
