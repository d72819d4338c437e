/**
 * The semantic checks of a netmap obtained by applying a delta to a verified base, at the cost
 * of the nodes the delta brings: the base passed {@link checkNetmapSemantics}, so only pairs
 * with a new node can break a rule. Same verdicts and errors as the whole check.
 */
import { RustynetError, type Netmap, type NetmapNode } from '@rustynet/plugin-api';
import { parseCidr } from '../util/ip.js';
import { checkNetmapSemantics } from './semantic.js';

/**
 * {@link checkNetmapSemantics} for `netmap` = a verified base with `upserted` nodes (a delta's
 * `upsertNode` objects) put in and some base nodes removed. Node ids are unique by
 * construction (`applyNetmapDelta`). Checks the new nodes and the top-level members on a map
 * holding only the new nodes (their addresses, routes, ids and addresses among themselves,
 * relays, ACL, times), then that no other node owns a new node's address. On any finding the
 * whole map is checked, so the error is the whole check's (field and node index).
 * @throws RustynetError `NETMAP_INVALID` naming the field, as {@link checkNetmapSemantics}.
 */
export function checkDeltaSemantics(netmap: Netmap, upserted: readonly NetmapNode[]): void {
  const candidates = new Set<NetmapNode>(upserted);
  const fresh = netmap.nodes.filter((n) => candidates.has(n));
  try {
    checkNetmapSemantics({ ...netmap, nodes: fresh });
  } catch (err) {
    checkNetmapSemantics(netmap);
    throw err; // not reached: the whole map has the same finding
  }
  if (fresh.length === 0) return;
  const keys = new Set<string>();
  for (const n of fresh)
    for (const a of n.addresses) {
      const p = parseCidr(a);
      if (p) keys.add(p.key);
    }
  for (const n of netmap.nodes) {
    if (candidates.has(n)) continue;
    for (const k of addressKeys(n)) {
      if (k !== undefined && !keys.has(k)) continue;
      checkNetmapSemantics(netmap); // names the node and address
      throw new RustynetError('NETMAP_INVALID', `netmap: an address of node ${n.id} is claimed twice`, { field: 'nodes' }); // not reached
    }
  }
}

/** Address keys (`parseCidr(..).key`, undefined for an unparseable one) of frozen node objects. */
const keysOf = new WeakMap<NetmapNode, Array<string | undefined>>();

/** The address keys of `node`, kept per node object when it is frozen (it cannot change then). */
function addressKeys(node: NetmapNode): Array<string | undefined> {
  let keys = keysOf.get(node);
  if (keys) return keys;
  keys = node.addresses.map((a) => parseCidr(a)?.key);
  if (Object.isFrozen(node) && Object.isFrozen(node.addresses)) keysOf.set(node, keys);
  return keys;
}
