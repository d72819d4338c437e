/**
 * Round-trip time estimation and the probe time-out derived from it, after RFC 6298 ("Computing
 * TCP's Retransmission Timer"), section 2: SRTT and RTTVAR from each measurement, and
 * RTO = SRTT + max(G, K * RTTVAR) with K = 4 and alpha = 1/8, beta = 1/4, clamped to
 * [`minMs`, `maxMs`]. A probe carries a fresh nonce every time, so every answer is an unambiguous
 * sample (Karn's problem does not arise). The timer is not backed off on a miss (section 5.5):
 * each probe is a new measurement, and consecutive misses are counted by the path controller.
 */

/** RFC 6298 gains: alpha = 1/8, beta = 1/4, K = 4. */
const ALPHA = 1 / 8;
const BETA = 1 / 4;
const K = 4;

/** Options of {@link RttEstimator} (all in ms). */
export interface RttEstimatorOptions {
  /** Smallest time-out: the probe interval (a probe is never a miss before the next round). */
  minMs: number;
  /** Largest time-out. */
  maxMs: number;
  /** Clock granularity G (default 10 ms: timer and event-loop resolution). */
  granularityMs?: number;
  /**
   * Time-out before the first sample (default `minMs`, the probe interval, so an unanswered
   * first probe counts as before; RFC 6298 2.1 suggests 1 s for TCP).
   */
  initialMs?: number;
}

/** Smoothed RTT (SRTT), RTT variation (RTTVAR) and the time-out of one peer's probes. */
export class RttEstimator {
  private srtt: number | undefined;
  private rttvar = 0;
  private readonly g: number;
  private readonly initial: number;

  constructor(private readonly o: RttEstimatorOptions) {
    this.g = o.granularityMs ?? 10;
    this.initial = clamp(o.initialMs ?? o.minMs, o.minMs, o.maxMs);
  }

  /** SRTT in ms, or undefined before the first sample. */
  get smoothedMs(): number | undefined {
    return this.srtt;
  }

  /** RTTVAR in ms (0 before the first sample). */
  get variationMs(): number {
    return this.rttvar;
  }

  /**
   * Takes one measured round trip (ms, >= 0): RFC 6298 2.2 for the first, 2.3 after.
   * Negative or non-finite values are ignored.
   */
  sample(rttMs: number): void {
    if (!Number.isFinite(rttMs) || rttMs < 0) return;
    if (this.srtt === undefined) {
      this.srtt = rttMs;
      this.rttvar = rttMs / 2;
      return;
    }
    this.rttvar = (1 - BETA) * this.rttvar + BETA * Math.abs(this.srtt - rttMs);
    this.srtt = (1 - ALPHA) * this.srtt + ALPHA * rttMs;
  }

  /** The current time-out in ms: `SRTT + max(G, 4 * RTTVAR)`, clamped; the initial one before any sample. */
  timeoutMs(): number {
    if (this.srtt === undefined) return this.initial;
    return clamp(this.srtt + Math.max(this.g, K * this.rttvar), this.o.minMs, this.o.maxMs);
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}
