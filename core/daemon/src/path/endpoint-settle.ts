import { formatEndpoint, type Endpoint, type NodeId, type PeerPath } from '@rustynet/plugin-api';
import type { TunnelCounters } from './tunnel-liveness.js';

/** Default time after a switch during which the backend's endpoint is checked, in probe rounds. */
export const DEFAULT_SETTLE_ROUNDS = 10;

/** A peer whose backend roamed back to the endpoint a switch replaced (see {@link EndpointSettle}). */
export interface EndpointDrift {
  peer: NodeId;
  /** The path the peer is on and the endpoint the switch set. */
  path: PeerPath;
  expected: Endpoint;
  /** The endpoint the backend reports now (one the switch replaced), `host:port`. */
  seen: string;
}

interface Settling {
  path: PeerPath;
  expected: Endpoint;
  /** Endpoints the switch replaced, `host:port`. */
  stale: Set<string>;
  /** Checked until this time (ms, the controller's clock). */
  until: number;
}

/**
 * Watches each peer's backend endpoint for a while after a switch to direct (or a relay path
 * re-opened on a new local endpoint): the endpoint it replaced is a closed relay socket.
 *
 * A backend that claims `roaming` may take the source address of the most recent authenticated
 * datagram from a peer as that peer's endpoint (the roaming of common UDP tunnel protocols, see
 * docs/path-controller.md). A datagram of the old
 * path that arrives after `updatePeerEndpoint` — a reply the peer sent through the relay just
 * before its own switch, delivered by the local relay socket before `closePath` — moves the
 * backend back to the old endpoint. After a switch to direct that endpoint is a closed loopback
 * socket: if both ends catch such a datagram, neither sends on the direct path again, nothing
 * arrives to roam them back, and their probes (sent by the daemons, not the backends) still say
 * the path works. This check is what undoes it: the controller reads the backend's endpoints
 * (`stats().peers[].endpoint`) each round while some peer is settling, and re-applies the
 * switch's endpoint when the backend reports one the switch replaced. A genuinely new endpoint
 * (the peer's NAT mapping changed) is left alone.
 */
export class EndpointSettle {
  private readonly peers = new Map<NodeId, Settling>();

  /** @param windowMs how long after a switch (or a repair) a peer is checked, ms. */
  constructor(private readonly windowMs: number) {}

  /** True while some peer is settling (the controller then reads the backend's endpoints). */
  get active(): boolean {
    return this.peers.size > 0;
  }

  /**
   * Records a switch of `peer` to `path` that set `expected`, replacing the endpoints `stale`
   * (undefined entries are ignored), at `now` (ms).
   */
  switched(peer: NodeId, path: PeerPath, expected: Endpoint, stale: ReadonlyArray<Endpoint | undefined>, now: number): void {
    const set = new Set(stale.filter((e): e is Endpoint => e !== undefined).map(formatEndpoint));
    set.delete(formatEndpoint(expected));
    if (set.size === 0) this.peers.delete(peer);
    else this.peers.set(peer, { path, expected: { ...expected }, stale: set, until: now + this.windowMs });
  }

  /** Stops checking `peer` (it left, or the data plane stopped). */
  forget(peer: NodeId): void {
    this.peers.delete(peer);
  }

  /** Stops checking every peer. */
  clear(): void {
    this.peers.clear();
  }

  /**
   * Compares the backend's endpoints at `now` with each settling peer's: returns the peers that
   * report one of their replaced endpoints (and keeps checking them a full window longer); drops
   * peers whose window has passed. A peer the backend reports no endpoint for is not a drift.
   */
  check(counters: readonly TunnelCounters[], now: number): EndpointDrift[] {
    const drifts: EndpointDrift[] = [];
    const byId = new Map(counters.map((c) => [c.id, c]));
    for (const [peer, s] of this.peers) {
      const ep = byId.get(peer)?.endpoint;
      const seen = ep && formatEndpoint(ep);
      if (seen !== undefined && s.stale.has(seen)) {
        drifts.push({ peer, path: s.path, expected: { ...s.expected }, seen });
        s.until = now + this.windowMs;
      } else if (now >= s.until) this.peers.delete(peer);
    }
    return drifts;
  }
}
