/**
 * Choosing the home relay (docs/relay.md, "Several relays"): per-relay health from probe rounds
 * and a smoothed round-trip time, and the choice of the nearest healthy relay with hysteresis.
 * Pure bookkeeping, no sockets and no clock: the relay monitor feeds it events (registered, lost,
 * an answer with its RTT, a probe round without any answer) and asks it for the home after each
 * round, so unit tests drive it without timing.
 */
import { invalidInput, type NetmapRelay } from '@rustynet/plugin-api';

/** Tuning of {@link RelaySelector}; the client's options carry the same names. */
export interface RelaySelectionOptions {
  /** Consecutive probe rounds without any answer before a relay is unhealthy. */
  probeMisses: number;
  /** Consecutive answered rounds before a relay that was (re)registered or unhealthy is healthy again. */
  healthyAfter: number;
  /**
   * A healthy home is replaced by a nearer relay only when that one's smoothed RTT is lower by
   * more than `max(switchMarginMs, switchMarginRatio × home RTT)` ...
   */
  switchMarginMs: number;
  switchMarginRatio: number;
  /** ... in this many consecutive rounds. */
  switchAfterRounds: number;
}

/** Defaults of {@link RelaySelectionOptions}. */
export const DEFAULT_SELECTION_OPTIONS: Readonly<RelaySelectionOptions> = Object.freeze({
  probeMisses: 3,
  healthyAfter: 2,
  switchMarginMs: 10,
  switchMarginRatio: 0.2,
  switchAfterRounds: 3,
});

/** The largest RTT sample taken (ms); anything above, negative or not finite is refused. */
export const MAX_RTT_MS = 60_000;
/** Weight of a new RTT sample in the smoothed RTT (as TCP's SRTT, RFC 6298: 1/8). */
export const RTT_ALPHA = 0.125;

/** What is known of one relay (status, metrics). */
export interface RelayHealth {
  /** The netmap's relay id. */
  id: string;
  /** The netmap's `region`, when it lists one. */
  region?: string;
  /** A session with the relay exists (registered and not lost since). */
  registered: boolean;
  /** Registered, answering, and answered `healthyAfter` rounds since it was (re)registered. */
  healthy: boolean;
  /** Smoothed round-trip time of its answers (ms), undefined before the first one. */
  rttMs: number | undefined;
  /** Consecutive probe rounds without an answer. */
  misses: number;
  /** True for the relay this node uses as home. */
  home: boolean;
}

interface Entry {
  relay: NetmapRelay;
  order: number;
  registered: boolean;
  healthy: boolean;
  rttMs: number | undefined;
  misses: number;
  answered: number;
}

/** Why the home changed (logs, tracing). */
export type HomeChange = 'first' | 'home unhealthy' | 'nearer' | 'home lost';

/** The home relay choice of one client run. */
export class RelaySelector {
  private readonly entries = new Map<string, Entry>();
  private homeId: string | undefined;
  private nearerRounds = 0;
  private nearerId: string | undefined;
  /** RTT samples refused (negative, not finite, over {@link MAX_RTT_MS}, unknown relay). */
  refusedSamples = 0;

  /**
   * @throws RustynetError `INVALID_INPUT` naming `relays[i].id` for a duplicate relay id, or an
   *   option out of range.
   */
  constructor(
    relays: readonly NetmapRelay[],
    private readonly opts: RelaySelectionOptions = DEFAULT_SELECTION_OPTIONS,
  ) {
    for (const [k, min] of [
      ['probeMisses', 1],
      ['healthyAfter', 1],
      ['switchAfterRounds', 1],
      ['switchMarginMs', 0],
      ['switchMarginRatio', 0],
    ] as const) {
      const v = opts[k];
      if (typeof v !== 'number' || !Number.isFinite(v) || v < min) throw invalidInput(k, `must be a finite number >= ${min}`);
    }
    relays.forEach((relay, order) => {
      if (this.entries.has(relay.id)) throw invalidInput(`relays[${order}].id`, `duplicate relay id "${relay.id}"`);
      this.entries.set(relay.id, { relay, order, registered: false, healthy: false, rttMs: undefined, misses: 0, answered: 0 });
    });
  }

  /** The current home relay id (undefined: none). */
  get home(): string | undefined {
    return this.homeId;
  }

  /** A session with `id` exists now (a new registration: health starts over). */
  registered(id: string): void {
    const e = this.entries.get(id);
    if (!e) return;
    e.registered = true;
    e.healthy = false;
    e.misses = 0;
    e.answered = 0;
  }

  /** The session with `id` is gone (relay restarted, unhealthy and dropped, run ended). */
  lost(id: string): void {
    const e = this.entries.get(id);
    if (!e) return;
    e.registered = false;
    e.healthy = false;
    e.answered = 0;
  }

  /**
   * The relay answered in this round; `rttMs` is the round trip of a probe answer, when this
   * answer was one. A bad sample (negative, NaN, infinite, above {@link MAX_RTT_MS}) still counts
   * as an answer but does not change the RTT (counted in {@link refusedSamples}).
   */
  answered(id: string, rttMs?: number): void {
    const e = this.entries.get(id);
    if (!e || !e.registered) {
      if (rttMs !== undefined) this.refusedSamples++;
      return;
    }
    if (rttMs !== undefined) {
      if (typeof rttMs !== 'number' || !Number.isFinite(rttMs) || rttMs < 0 || rttMs > MAX_RTT_MS) this.refusedSamples++;
      else e.rttMs = e.rttMs === undefined ? rttMs : e.rttMs + RTT_ALPHA * (rttMs - e.rttMs);
    }
    e.misses = 0;
    e.answered++;
    if (e.answered >= this.opts.healthyAfter) e.healthy = true;
  }

  /** A probe round passed with nothing heard from `id`. @returns true when it just became unhealthy. */
  missed(id: string): boolean {
    const e = this.entries.get(id);
    if (!e || !e.registered) return false;
    e.misses++;
    e.answered = 0;
    if (e.healthy && e.misses >= this.opts.probeMisses) {
      e.healthy = false;
      return true;
    }
    return false;
  }

  /** True when `id` is registered and healthy. */
  isHealthy(id: string): boolean {
    return this.entries.get(id)?.healthy === true;
  }

  /**
   * Decides the home after a round: an unhealthy or lost home is replaced at once by the nearest
   * healthy relay (without one, by any registered relay that is not failing); a healthy home only
   * by a relay nearer by the margin for `switchAfterRounds` consecutive rounds.
   * @returns the change, or undefined when the home stays.
   */
  evaluate(): { from: string | undefined; to: string | undefined; why: HomeChange } | undefined {
    const from = this.homeId;
    const cur = from === undefined ? undefined : this.entries.get(from);
    const best = this.nearest();
    if (cur === undefined || !cur.registered || !cur.healthy) {
      // A home that is registered and has not failed yet (just registered) stays until a relay is
      // healthy; before any is, a registered relay that has not missed a round beats none.
      const failing = cur === undefined || !cur.registered || cur.misses >= this.opts.probeMisses;
      if (!failing && best === undefined) return undefined;
      const next = best ?? this.fallback();
      if (next === undefined && cur?.registered) return undefined;
      this.homeId = next?.relay.id;
      this.nearerRounds = 0;
      if (this.homeId === from) return undefined;
      const why: HomeChange = from === undefined ? 'first' : cur?.registered ? 'home unhealthy' : 'home lost';
      return { from, to: this.homeId, why };
    }
    if (best === undefined || best === cur || best.rttMs === undefined || cur.rttMs === undefined) {
      this.nearerRounds = 0;
      return undefined;
    }
    const margin = Math.max(this.opts.switchMarginMs, this.opts.switchMarginRatio * cur.rttMs);
    if (best.rttMs >= cur.rttMs - margin) {
      this.nearerRounds = 0;
      return undefined;
    }
    this.nearerRounds = this.nearerId === best.relay.id ? this.nearerRounds + 1 : 1;
    this.nearerId = best.relay.id;
    if (this.nearerRounds < this.opts.switchAfterRounds) return undefined;
    this.homeId = best.relay.id;
    this.nearerRounds = 0;
    return { from, to: this.homeId, why: 'nearer' };
  }

  /** Every relay's state, in netmap order. */
  snapshot(): RelayHealth[] {
    return [...this.entries.values()].map((e) => ({
      id: e.relay.id,
      ...(e.relay.region !== undefined && { region: e.relay.region }),
      registered: e.registered,
      healthy: e.healthy,
      rttMs: e.rttMs,
      misses: e.misses,
      home: e.relay.id === this.homeId,
    }));
  }

  /** The healthy relay with the lowest smoothed RTT (unknown RTT last; ties: netmap order). */
  private nearest(): Entry | undefined {
    let best: Entry | undefined;
    for (const e of this.entries.values()) {
      if (!e.healthy) continue;
      if (best === undefined || rank(e) < rank(best) || (rank(e) === rank(best) && e.order < best.order)) best = e;
    }
    return best;
  }

  /** A registered relay that has not missed a round (netmap order), for when none is healthy yet. */
  private fallback(): Entry | undefined {
    return [...this.entries.values()].find((e) => e.registered && e.misses === 0);
  }
}

function rank(e: Entry): number {
  return e.rttMs ?? Number.POSITIVE_INFINITY;
}
