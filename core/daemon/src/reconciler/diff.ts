import type { DnsZoneData, NodeId, PeerBatch, PeerConfig, PolicyInput, Route, RouteChange } from '@rustynet/plugin-api';
import { canonicalJson } from '../util/json.js';

/** What has actually been applied (the reconciler's record). */
export interface ActualState {
  peers: Map<NodeId, PeerConfig>;
  routes: Map<string, Route>;
  policy?: PolicyInput;
  dns?: DnsZoneData;
}

/** An empty {@link ActualState}: nothing applied. */
export function emptyActualState(): ActualState {
  return { peers: new Map(), routes: new Map() };
}

/** Order-insensitive identity of a peer config (allowed IPs compared as a set). */
export function peerFingerprint(p: PeerConfig): string {
  return canonicalJson({
    id: p.id,
    publicKey: p.publicKey,
    endpoint: p.endpoint ?? null,
    allowedIps: [...p.allowedIps].sort(),
    persistentKeepalive: p.persistentKeepalive ?? 0,
  });
}

/** True when two peer configs are equivalent. */
export function peerConfigEqual(a: PeerConfig, b: PeerConfig): boolean {
  return peerFingerprint(a) === peerFingerprint(b);
}

/**
 * Peer diff in O(n): upsert peers that are new or changed, remove peers no longer desired.
 * `forceUpsert` upserts every desired peer (resync after a failed rollback).
 */
export function diffPeers(actual: ReadonlyMap<NodeId, PeerConfig>, desired: ReadonlyMap<NodeId, PeerConfig>, forceUpsert = false): PeerBatch {
  const upsert: PeerConfig[] = [];
  const remove: NodeId[] = [];
  for (const [id, want] of desired) {
    const have = actual.get(id);
    if (forceUpsert || !have || !peerConfigEqual(have, want)) upsert.push(want);
  }
  for (const id of actual.keys()) if (!desired.has(id)) remove.push(id);
  return { upsert, remove };
}

/** Route diff in O(n): routes keyed by `<peer> <destination>`. */
export function diffRoutes(actual: ReadonlyMap<string, Route>, desired: ReadonlyMap<string, Route>): RouteChange {
  const add: Route[] = [];
  const remove: Route[] = [];
  for (const [k, r] of desired) if (!actual.has(k)) add.push(r);
  for (const [k, r] of actual) if (!desired.has(k)) remove.push(r);
  return { add, remove };
}

/** True when two JSON values are equal under RFC 8785 canonicalisation (`undefined` only equals itself). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === undefined || b === undefined) return a === b;
  return canonicalJson(a) === canonicalJson(b);
}
