/**
 * A token bucket (RFC 2697's single-rate idea, as in every traffic shaper): `capacity` tokens,
 * refilled at `ratePerSecond`, one call takes `cost` tokens or is refused. Time comes from the
 * caller (milliseconds), so tests drive it with a manual clock.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  /**
   * @param ratePerSecond refill rate in tokens per second; `Infinity` disables the limit.
   * @param capacity burst size in tokens (at least the largest single cost you expect).
   * @param now current time in ms.
   */
  constructor(
    readonly ratePerSecond: number,
    readonly capacity: number,
    now: number,
  ) {
    this.tokens = capacity;
    this.last = now;
  }

  /** Takes `cost` tokens if available. @returns false (and takes nothing) when the bucket is short. */
  take(now: number, cost = 1): boolean {
    if (this.ratePerSecond === Infinity) return true;
    if (now > this.last) {
      this.tokens = Math.min(this.capacity, this.tokens + ((now - this.last) * this.ratePerSecond) / 1000);
      this.last = now;
    }
    if (this.tokens < cost) return false;
    this.tokens -= cost;
    return true;
  }

  /** Tokens available at `now` (for tests and stats). */
  available(now: number): number {
    if (this.ratePerSecond === Infinity) return Infinity;
    return Math.min(this.capacity, this.tokens + (Math.max(0, now - this.last) * this.ratePerSecond) / 1000);
  }
}
