import type { Cidr } from './cidr.js';
import type { NodeId } from './node-id.js';

/**
 * A route in the node's kernel routing table that sends `destination` into the tunnel towards
 * `peer`. The backend chooses the device; the core only says which peer carries the prefix.
 */
export interface Route {
  destination: Cidr;
  peer: NodeId;
}

/** A batched route change computed by the reconciler: remove first, then add. */
export interface RouteChange {
  add: Route[];
  remove: Route[];
}
