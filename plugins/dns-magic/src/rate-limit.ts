/**
 * Per-source token bucket. Each source IP has a bucket of `burst` tokens that refills at `qps`
 * tokens per second; a query takes one token, and a query finding the bucket empty is over the
 * limit. Time comes from the caller (the plugin's `Clock`), so tests control it exactly.
 */
export class TokenBucketLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  /**
   * @param qps tokens added per second (> 0)
   * @param burst bucket capacity (>= 1)
   * @param maxSources most sources tracked; when full, buckets that have refilled completely
   *   are forgotten, and if none has, all are (the limiter then fails open briefly rather than
   *   growing without bound).
   */
  constructor(
    private readonly qps: number,
    private readonly burst: number,
    private readonly maxSources: number,
  ) {}

  /** Takes one token for `source` at time `nowMs`. @returns false when over the limit. */
  take(source: string, nowMs: number): boolean {
    let b = this.buckets.get(source);
    if (!b) {
      if (this.buckets.size >= this.maxSources) this.prune(nowMs);
      b = { tokens: this.burst, at: nowMs };
      this.buckets.set(source, b);
    } else if (nowMs > b.at) {
      b.tokens = Math.min(this.burst, b.tokens + ((nowMs - b.at) / 1000) * this.qps);
      b.at = nowMs;
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** Number of sources currently tracked. */
  get size(): number {
    return this.buckets.size;
  }

  private prune(nowMs: number): void {
    for (const [k, b] of this.buckets) {
      if (b.tokens + ((nowMs - b.at) / 1000) * this.qps >= this.burst) this.buckets.delete(k);
    }
    if (this.buckets.size >= this.maxSources) this.buckets.clear();
  }
}
