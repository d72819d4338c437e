import type { Cidr } from './cidr.js';
import type { NodeId } from './node-id.js';

/**
 * A route in the node's kernel routing table that sends `destination` into the tunnel towards
 * `peer`. The backend chooses the device; the core only says which peer carries the prefix.
 */
export interface Route {
  /** Destination prefix (CIDR). */
  destination: Cidr;
  /** Id of the peer that carries the route. */
  peer: NodeId;
}

/** A batched route change computed by the reconciler: remove first, then add. */
export interface RouteChange {
  /** Routes to install (`replace` semantics: idempotent). */
  add: Route[];
  /** Routes to remove (applied before `add`). */
  remove: Route[];
}
