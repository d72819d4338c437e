import type { NodeId, PeerBatch, PeerConfig, PolicyInput, Route, RouteChange } from '@rustynet/plugin-api';
import { canonicalJson } from '../util/json.js';

/** What has actually been applied (the reconciler's record). */
export interface ActualState {
  peers: Map<NodeId, PeerConfig>;
  routes: Map<string, Route>;
  policy?: PolicyInput;
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

function sameStringSet(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  if (i === a.length) return true; // same order: the common case
  const x = a.slice(i).sort();
  const y = b.slice(i).sort();
  return x.every((v, j) => v === y[j]);
}

/**
 * True when two peer configs are equivalent: same id, public key (compared as JSON values, it is
 * opaque), endpoint, keepalive (absent = 0) and allowed IPs as a set. Compares the fields
 * directly: it runs once per peer per netmap.
 */
export function peerConfigEqual(a: PeerConfig, b: PeerConfig): boolean {
  if (a.id !== b.id) return false;
  if (a.publicKey !== b.publicKey && !jsonEqual(a.publicKey, b.publicKey)) return false;
  const ea = a.endpoint;
  const eb = b.endpoint;
  if (ea === undefined || eb === undefined ? ea !== eb : ea.host !== eb.host || ea.port !== eb.port) return false;
  if ((a.persistentKeepalive ?? 0) !== (b.persistentKeepalive ?? 0)) return false;
  return sameStringSet(a.allowedIps, b.allowedIps);
}

/**
 * Peer diff in O(n): upsert peers that are new or changed, remove peers no longer desired.
 * `forceUpsert` upserts every desired peer (resync after a failed rollback).
 */
export function diffPeers(
  actual: ReadonlyMap<NodeId, PeerConfig>,
  desired: ReadonlyMap<NodeId, PeerConfig>,
  forceUpsert = false,
): PeerBatch {
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

/** The JSON form of an array element or object member, as JSON.stringify / RFC 8785 see it. */
function jsonMember(v: unknown): unknown {
  return v === undefined || typeof v === 'function' || typeof v === 'symbol' ? undefined : v;
}

function jsonValueEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) {
    // Non-finite numbers serialise as null.
    if (typeof a === 'number' && typeof b === 'number') return !Number.isFinite(a) && !Number.isFinite(b);
    if (typeof a === 'number' && !Number.isFinite(a)) return b === null;
    if (typeof b === 'number' && !Number.isFinite(b)) return a === null;
    return false;
  }
  if (typeof (a as { toJSON?: unknown }).toJSON === 'function' || typeof (b as { toJSON?: unknown }).toJSON === 'function') {
    return canonicalJson(a) === canonicalJson(b);
  }
  const arrA = Array.isArray(a);
  if (arrA !== Array.isArray(b)) return false;
  if (arrA) {
    const x = a as unknown[];
    const y = b as unknown[];
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!jsonValueEqual(jsonMember(x[i]) ?? null, jsonMember(y[i]) ?? null)) return false;
    return true;
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let count = 0;
  for (const k of Object.keys(x)) {
    const vx = jsonMember(x[k]);
    if (vx === undefined) continue;
    count++;
    const vy = Object.hasOwn(y, k) ? jsonMember(y[k]) : undefined;
    if (vy === undefined || !jsonValueEqual(vx, vy)) return false;
  }
  for (const k of Object.keys(y)) if (jsonMember(y[k]) !== undefined) count--;
  return count === 0;
}

/**
 * True when two JSON values are equal under RFC 8785 canonicalisation (`undefined` only equals
 * itself): member order does not matter, members whose value is `undefined` are absent. Walks
 * both values instead of serialising them.
 */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === undefined || b === undefined) return a === b;
  return jsonValueEqual(a, b);
}
