/**
 * A token bucket: `capacity` tokens, refilled at `ratePerSecond`. Used to bound the signature
 * checks one claimed sender can cost the probe responder.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  /** @param now current time in ms (the caller's clock). */
  constructor(
    private readonly capacity: number,
    private readonly ratePerSecond: number,
    now: number,
  ) {
    this.tokens = capacity;
    this.last = now;
  }

  /** Takes one token; false when the bucket is empty. */
  take(now: number): boolean {
    const elapsed = Math.max(0, now - this.last);
    this.last = Math.max(this.last, now);
    this.tokens = Math.min(this.capacity, this.tokens + (elapsed * this.ratePerSecond) / 1000);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
