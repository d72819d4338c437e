import type { Endpoint, NodeId } from '@rustynet/plugin-api';

/** A peer's tunnel counters as the backend reports them (`stats().peers[]`). */
export interface TunnelCounters {
  id: NodeId;
  /** Bytes received from the peer through the tunnel. */
  rxBytes: number;
  /** Latest completed handshake, ms since the epoch, or null. */
  lastHandshakeAt: number | null;
  /** The endpoint the backend sends to now, if it reports one (see `EndpointSettle`). */
  endpoint?: Endpoint;
}

interface Baseline {
  /** Counters at the previous observation (`rxBytes` -1: none yet). */
  rxBytes: number;
  lastHandshakeAt: number | null;
  /** When the counters last moved (ms, the caller's clock), if they did while watched. */
  lastAdvanceAt?: number;
}

/**
 * Whether a peer's tunnel still carries traffic while its daemon does not answer probes: the
 * path controller takes a baseline of the peer's backend counters when its probes start to fail
 * and asks, at the switch threshold, whether the received bytes or the handshake time moved
 * since. A tunnel that still receives from the peer proves the direct path works (the peer's
 * daemon may have died, its data plane has not); moving it to a relay nobody answers on would
 * cut it off.
 */
export class TunnelLiveness {
  private readonly baselines = new Map<NodeId, Baseline>();

  /** Peers with a baseline (their probes are failing). */
  get watched(): NodeId[] {
    return [...this.baselines.keys()];
  }

  /** Starts watching `peer` (no-op when watched): the next {@link observe} takes its baseline. */
  watch(peer: NodeId): void {
    if (!this.baselines.has(peer)) this.baselines.set(peer, { rxBytes: -1, lastHandshakeAt: null });
  }

  /** Stops watching `peer` (its probes are answered again, or it left). */
  forget(peer: NodeId): void {
    this.baselines.delete(peer);
  }

  /** Forgets every peer. */
  clear(): void {
    this.baselines.clear();
  }

  /**
   * Takes the backend's current counters at `now` (ms): the first view of a watched peer is its
   * baseline; each later one that shows more received bytes or a newer handshake is an advance.
   */
  observe(counters: readonly TunnelCounters[], now: number): void {
    for (const c of counters) {
      const b = this.baselines.get(c.id);
      if (!b) continue;
      if (b.rxBytes >= 0 && (c.rxBytes > b.rxBytes || (c.lastHandshakeAt ?? 0) > (b.lastHandshakeAt ?? 0))) b.lastAdvanceAt = now;
      b.rxBytes = c.rxBytes;
      b.lastHandshakeAt = c.lastHandshakeAt;
    }
  }

  /** True when `peer`'s tunnel received data or completed a handshake within `windowMs` before `now`. */
  alive(peer: NodeId, now: number, windowMs: number): boolean {
    const at = this.baselines.get(peer)?.lastAdvanceAt;
    return at !== undefined && now - at <= windowMs;
  }
}
