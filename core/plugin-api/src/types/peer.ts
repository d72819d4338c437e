import type { Cidr } from './cidr.js';
import type { Endpoint } from './endpoint.js';
import type { NodeId } from './node-id.js';

/**
 * Everything a backend needs to know to talk to one peer.
 */
export interface PeerConfig {
  /** The peer's node id; unique within a batch and within the backend. */
  id: NodeId;
  /**
   * The peer's key material for this backend's protocol: an opaque string that only the
   * backend's `peerKeySchema` (in its manifest) validates. The core never interprets it.
   */
  publicKey: string;
  /** Where to send to the peer; absent when the peer is not reachable directly (it calls us). */
  endpoint?: Endpoint;
  /** Overlay prefixes the peer may send from and that are sent to it. At least one. */
  allowedIps: Cidr[];
  /**
   * Keepalive interval in seconds, 0 or absent for none. Honoured by backends claiming the
   * `persistentKeepalive` capability (absent claim = true); others ignore it.
   */
  persistentKeepalive?: number;
}

/**
 * One batched change of a backend's peer set, computed by the core's reconciler.
 * `upsert` adds new peers or replaces a peer's whole config; `remove` lists peer ids to drop.
 * A peer id never appears in both lists, nor twice in one.
 */
export interface PeerBatch {
  /** Peers to add, or to replace whole when the id exists. */
  upsert: PeerConfig[];
  /** Ids of peers to remove. */
  remove: NodeId[];
}
