import { Gauge, type Registry } from 'prom-client';
import type { PeerStatus } from './status-types.js';

/** Default of `metrics.peerLabelLimit`: peers with their own `peer` label value. */
export const DEFAULT_PEER_LABEL_LIMIT = 64;

/** The `peer` label value that sums the peers beyond the cap. */
export const OTHER_PEERS_LABEL = '_other';

function gauge(registry: Registry, name: string, help: string, labelNames: string[]): Gauge {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Gauge;
  return new Gauge({ name, help, labelNames, registers: [registry] });
}

/**
 * Per-peer metrics, refreshed from the status document at each scrape. Cardinality is bounded:
 * the first `limit` peers in node-id order get their own `peer` label; the rest are summed into
 * `peer="_other"` (bytes) and counted by `rustynet_peer_label_overflow`. Series of peers that left
 * the netmap are removed at the next scrape.
 *
 * - `rustynet_peer_rx_bytes{peer}`, `rustynet_peer_tx_bytes{peer}`: bytes received from / sent to
 *   the peer as the backend counts them (reset when the tunnel is re-created);
 * - `rustynet_peer_handshake_age_seconds{peer}`: seconds since the last handshake (absent before
 *   the first one);
 * - `rustynet_peer_path{peer,path}`: 1 on the peer's current path (`direct` or `relay`), else 0;
 * - `rustynet_peer_label_overflow`: peers beyond the cap.
 */
export class PeerMetrics {
  private readonly rx: Gauge;
  private readonly tx: Gauge;
  private readonly age: Gauge;
  private readonly path: Gauge;
  private readonly overflow: Gauge;

  constructor(
    registry: Registry,
    readonly limit: number = DEFAULT_PEER_LABEL_LIMIT,
  ) {
    this.rx = gauge(registry, 'rustynet_peer_rx_bytes', 'Bytes received from the peer (backend counter)', ['peer']);
    this.tx = gauge(registry, 'rustynet_peer_tx_bytes', 'Bytes sent to the peer (backend counter)', ['peer']);
    this.age = gauge(registry, 'rustynet_peer_handshake_age_seconds', "Seconds since the peer's last handshake", ['peer']);
    this.path = gauge(registry, 'rustynet_peer_path', "1 on the peer's current path (direct or relay), 0 on the other", ['peer', 'path']);
    this.overflow = gauge(registry, 'rustynet_peer_label_overflow', 'Peers beyond metrics.peerLabelLimit, summed under peer="_other"', []);
  }

  /** Replaces every per-peer series with `peers` (as of `now`, ms since the epoch). */
  update(peers: readonly PeerStatus[], now: number): void {
    for (const g of [this.rx, this.tx, this.age, this.path]) g.reset();
    const sorted = [...peers].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const own = sorted.slice(0, this.limit);
    const rest = sorted.slice(this.limit);
    for (const p of own) {
      this.rx.set({ peer: p.id }, p.rxBytes);
      this.tx.set({ peer: p.id }, p.txBytes);
      if (p.lastHandshakeAt) this.age.set({ peer: p.id }, Math.max(0, (now - Date.parse(p.lastHandshakeAt)) / 1000));
      this.path.set({ peer: p.id, path: 'direct' }, p.path === 'direct' ? 1 : 0);
      this.path.set({ peer: p.id, path: 'relay' }, p.path === 'relay' ? 1 : 0);
    }
    if (rest.length > 0) {
      this.rx.set(
        { peer: OTHER_PEERS_LABEL },
        rest.reduce((n, p) => n + p.rxBytes, 0),
      );
      this.tx.set(
        { peer: OTHER_PEERS_LABEL },
        rest.reduce((n, p) => n + p.txBytes, 0),
      );
    }
    this.overflow.set(rest.length);
  }
}
