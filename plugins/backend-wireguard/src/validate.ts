/**
 * Input validation. Every public method validates its whole input here before it touches the
 * system, so bad input never changes state (plugin-api rule for `INVALID_INPUT`, `UNKNOWN_PEER`,
 * `DUPLICATE_PEER`).
 */
import {
  NODE_ID_PATTERN,
  RustynetError,
  invalidInput,
  type BackendStartConfig,
  type Endpoint,
  type NodeId,
  type PeerBatch,
  type PeerConfig,
  type Route,
  type RouteChange,
} from '@rustynet/plugin-api';
import { CAPABILITIES, WG_KEY_PATTERN } from './capabilities.js';
import { hostBitsZero, isHostPrefix, isIp, parseCidr, type ParsedCidr } from '@rustynet/plugin-kit';

const NODE_ID_RE = new RegExp(NODE_ID_PATTERN);
/** Linux interface names: at most IFNAMSIZ - 1 = 15 bytes; we allow the portable subset. */
const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;

/** Smallest and largest MTU accepted, in bytes (1280 is the IPv6 minimum, RFC 8200 section 5). */
export const MIN_MTU = 1280;
export const MAX_MTU = 9000;
/** MTU used when the start config has none: 1500 minus WireGuard's worst-case overhead (80 bytes). */
export const DEFAULT_MTU = 1420;
/** Largest persistent-keepalive interval `wg` accepts, in seconds. */
export const MAX_KEEPALIVE = 65535;

/** A validated start configuration. */
export interface ValidStartConfig {
  nodeId: NodeId;
  interfaceName: string;
  addresses: string[];
  listenPort: number;
  mtu: number;
  keyDirectory: string;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Checks a {@link BackendStartConfig}.
 * @throws RustynetError `INVALID_INPUT` naming the field (`interfaceName`, `addresses[1]`, `listenPort`, `mtu`, ...).
 */
export function validateStartConfig(config: BackendStartConfig): ValidStartConfig {
  if (!isObject(config)) throw invalidInput('config', 'must be an object');
  const c = config as unknown as Record<string, unknown>;
  if (typeof c.nodeId !== 'string' || !NODE_ID_RE.test(c.nodeId)) {
    throw invalidInput('nodeId', 'must be a node id (DNS label: a-z, 0-9, -; 1..63 characters)');
  }
  const ifname = c.interfaceName;
  if (typeof ifname !== 'string' || Buffer.byteLength(ifname) > 15 || !IFNAME_RE.test(ifname) || ifname === '.' || ifname === '..') {
    throw invalidInput('interfaceName', 'must be 1..15 bytes of A-Z, a-z, 0-9, "_", "." or "-"');
  }
  if (!Array.isArray(c.addresses) || c.addresses.length === 0) {
    throw invalidInput('addresses', 'must be a non-empty list of host prefixes (/32, /128)');
  }
  const seen = new Set<string>();
  const addresses = c.addresses.map((a: unknown, i: number) => {
    const p = typeof a === 'string' ? parseCidr(a) : undefined;
    if (!p) throw invalidInput(`addresses[${i}]`, `not a CIDR: ${String(a)}`);
    if (!isHostPrefix(p)) throw invalidInput(`addresses[${i}]`, `must be a host prefix (/32 or /128): ${String(a)}`);
    const key = p.key;
    if (seen.has(key)) throw invalidInput(`addresses[${i}]`, `duplicate address ${String(a)}`);
    seen.add(key);
    return a as string;
  });
  if (typeof c.listenPort !== 'number' || !Number.isInteger(c.listenPort) || c.listenPort < 0 || c.listenPort > 65535) {
    throw invalidInput('listenPort', 'must be an integer 0..65535 (0: any free port)');
  }
  let mtu = DEFAULT_MTU;
  if (c.mtu !== undefined) {
    if (typeof c.mtu !== 'number' || !Number.isInteger(c.mtu) || c.mtu < MIN_MTU || c.mtu > MAX_MTU) {
      throw invalidInput('mtu', `must be an integer ${MIN_MTU}..${MAX_MTU}`);
    }
    mtu = c.mtu;
  }
  if (typeof c.keyDirectory !== 'string' || c.keyDirectory.length === 0) {
    throw invalidInput('keyDirectory', 'must be a directory path');
  }
  return { nodeId: c.nodeId, interfaceName: ifname, addresses, listenPort: c.listenPort, mtu, keyDirectory: c.keyDirectory };
}

/**
 * Checks an {@link Endpoint}: `host` an IPv4/IPv6 literal (no brackets, zone or name), `port` 1..65535.
 * @returns a copy holding only `host` and `port`.
 * @throws RustynetError `INVALID_INPUT` with `field` (e.g. `upsert[0].endpoint.host`).
 */
export function validateEndpoint(endpoint: unknown, field: string): Endpoint {
  if (!isObject(endpoint)) throw invalidInput(field, 'must be an object { host, port }');
  const { host, port } = endpoint;
  if (typeof host !== 'string' || !isIp(host)) {
    throw invalidInput(`${field}.host`, `must be an IPv4 or IPv6 literal: ${String(host)}`);
  }
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw invalidInput(`${field}.port`, `must be an integer 1..65535: ${String(port)}`);
  }
  return { host, port };
}

/**
 * Checks a prefix used as allowed IP or route destination: valid CIDR with zero host bits.
 * @throws RustynetError `INVALID_INPUT` with `field`.
 */
export function validatePrefix(value: unknown, field: string): ParsedCidr {
  const p = typeof value === 'string' ? parseCidr(value) : undefined;
  if (!p) throw invalidInput(field, `not a CIDR (address/prefix-length): ${String(value)}`);
  if (!hostBitsZero(p)) throw invalidInput(field, `host bits set in ${String(value)}`);
  return p;
}

/** One validated upsert: the new config and the config it replaces, if any. */
export interface PlannedUpsert {
  config: PeerConfig;
  previous?: PeerConfig;
  /** `config.allowedIps` parsed, in the same order. */
  prefixes?: ParsedCidr[];
}

/**
 * Indexes of a consistent peer set (what the backend applied), kept with it so a batch is
 * checked against them instead of re-reading every present peer: public key -> peer, allowed-IP
 * prefix key -> peer, and each peer's parsed allowed IPs.
 */
export interface PeerIndex {
  byKey: Map<string, NodeId>;
  byPrefix: Map<string, NodeId>;
  prefixesOf: Map<NodeId, ParsedCidr[]>;
}

/** Builds the {@link PeerIndex} of a peer set (assumed consistent, e.g. the applied peers). */
export function buildPeerIndex(peers: ReadonlyMap<NodeId, PeerConfig>): PeerIndex {
  const index: PeerIndex = { byKey: new Map(), byPrefix: new Map(), prefixesOf: new Map() };
  for (const p of peers.values()) {
    const prefixes = p.allowedIps.map((a) => parseCidr(a)).filter((x): x is ParsedCidr => x !== undefined);
    index.byKey.set(p.publicKey, p.id);
    for (const x of prefixes) index.byPrefix.set(x.key, p.id);
    index.prefixesOf.set(p.id, prefixes);
  }
  return index;
}

/** Moves `index` to the peer set after `plan` was applied (removals and replaced configs out, upserts in). */
export function updatePeerIndex(index: PeerIndex, plan: PeerPlan): void {
  const drop = (p: PeerConfig): void => {
    if (index.byKey.get(p.publicKey) === p.id) index.byKey.delete(p.publicKey);
    for (const x of index.prefixesOf.get(p.id) ?? []) if (index.byPrefix.get(x.key) === p.id) index.byPrefix.delete(x.key);
    index.prefixesOf.delete(p.id);
  };
  for (const r of plan.removals) drop(r);
  for (const u of plan.upserts) if (u.previous) drop(u.previous);
  for (const u of plan.upserts) {
    const prefixes = u.prefixes ?? u.config.allowedIps.map((a) => parseCidr(a)).filter((x): x is ParsedCidr => x !== undefined);
    index.byKey.set(u.config.publicKey, u.config.id);
    for (const x of prefixes) index.byPrefix.set(x.key, u.config.id);
    index.prefixesOf.set(u.config.id, prefixes);
  }
}

/** A validated peer batch, ready to turn into one `wg set` command. */
export interface PeerPlan {
  /** Configs of the peers removed (as they were). */
  removals: PeerConfig[];
  upserts: PlannedUpsert[];
}

/**
 * Validates a whole {@link PeerBatch} against the current peer set before anything changes.
 *
 * Checks, in order: shape; every peer id (node id pattern); duplicates across the batch
 * (`DUPLICATE_PEER`); removals of unknown ids (`UNKNOWN_PEER`); each upsert's key (the manifest's
 * `peerKeySchema`), endpoint, allowed IPs (valid CIDR, host bits zero) and keepalive; then the
 * resulting peer set: no two peers with one public key, none with this node's own key, no allowed
 * IP prefix claimed by two peers (WireGuard would silently move it), at most `maxPeers` peers.
 *
 * Only the batch's peers are checked against the rest: the present peers are consistent
 * already, so a conflict needs an upsert. Cost is proportional to the batch, not the peer set,
 * when `index` is given.
 *
 * @param current the backend's peers by id (a consistent set).
 * @param ownPublicKey this node's public key, when known.
 * @param index the {@link PeerIndex} of `current` (built from `current` when absent).
 * @returns the plan, with deep copies of the configs.
 * @throws RustynetError `INVALID_INPUT` (field such as `upsert[2].allowedIps[0]`), `DUPLICATE_PEER`,
 *   `UNKNOWN_PEER`.
 */
export function validatePeerBatch(
  batch: PeerBatch,
  current: ReadonlyMap<NodeId, PeerConfig>,
  ownPublicKey?: string,
  index?: PeerIndex,
): PeerPlan {
  if (!isObject(batch)) throw invalidInput('batch', 'must be an object { upsert, remove }');
  const upsert: unknown = (batch as unknown as Record<string, unknown>).upsert ?? [];
  const remove: unknown = (batch as unknown as Record<string, unknown>).remove ?? [];
  if (!Array.isArray(upsert)) throw invalidInput('upsert', 'must be a list of peers');
  if (!Array.isArray(remove)) throw invalidInput('remove', 'must be a list of peer ids');

  const ids = new Map<string, string>();
  const claimId = (id: unknown, field: string): NodeId => {
    if (typeof id !== 'string' || !NODE_ID_RE.test(id)) throw invalidInput(field, `not a node id: ${String(id)}`);
    const before = ids.get(id);
    if (before !== undefined) {
      throw new RustynetError('DUPLICATE_PEER', `${field}: peer ${id} appears twice in the batch (also ${before})`, {
        field,
        details: { peer: id, first: before },
      });
    }
    ids.set(id, field);
    return id;
  };

  upsert.forEach((p: unknown, i: number) => claimId(isObject(p) ? p.id : undefined, `upsert[${i}].id`));
  const removals = remove.map((id: unknown, i: number) => {
    const nid = claimId(id, `remove[${i}]`);
    const have = current.get(nid);
    if (!have) {
      throw new RustynetError('UNKNOWN_PEER', `remove[${i}]: no peer ${nid}`, { field: `remove[${i}]`, details: { peer: nid } });
    }
    return clonePeer(have);
  });

  const upserts: Array<PlannedUpsert & { prefixes: ParsedCidr[] }> = upsert.map((raw: unknown, i: number) => {
    const f = `upsert[${i}]`;
    const p = raw as Record<string, unknown>;
    if (typeof p.publicKey !== 'string' || !WG_KEY_PATTERN.test(p.publicKey)) {
      throw invalidInput(`${f}.publicKey`, 'must be a WireGuard public key (base64 of 32 bytes, 44 characters ending in "=")');
    }
    const config: PeerConfig = { id: p.id as string, publicKey: p.publicKey, allowedIps: [] };
    if (p.endpoint !== undefined) config.endpoint = validateEndpoint(p.endpoint, `${f}.endpoint`);
    if (!Array.isArray(p.allowedIps) || p.allowedIps.length === 0) {
      throw invalidInput(`${f}.allowedIps`, 'must be a non-empty list of CIDRs');
    }
    const own = new Set<string>();
    const prefixes: ParsedCidr[] = [];
    p.allowedIps.forEach((a: unknown, j: number) => {
      const parsed = validatePrefix(a, `${f}.allowedIps[${j}]`);
      if (own.has(parsed.key)) throw invalidInput(`${f}.allowedIps[${j}]`, `listed twice: ${String(a)}`);
      own.add(parsed.key);
      prefixes.push(parsed);
      config.allowedIps.push(a as string);
    });
    if (p.persistentKeepalive !== undefined) {
      const k = p.persistentKeepalive;
      if (typeof k !== 'number' || !Number.isInteger(k) || k < 0 || k > MAX_KEEPALIVE) {
        throw invalidInput(`${f}.persistentKeepalive`, `must be an integer 0..${MAX_KEEPALIVE} (seconds)`);
      }
      config.persistentKeepalive = k;
    }
    const previous = current.get(config.id);
    return previous ? { config, previous: clonePeer(previous), prefixes } : { config, prefixes };
  });

  // The resulting peer set must be consistent. The present peers are (the backend keeps them
  // so), so only the upserts can conflict: with each other, or with a present peer that this
  // batch neither removes nor replaces. Upserts are checked in order, so a conflict is reported
  // at the later upsert's field.
  const removed = new Set(removals.map((r) => r.id));
  const upserted = new Set(upserts.map((u) => u.config.id));
  const added = upserts.filter((u) => !current.has(u.config.id)).length;
  const nextSize = current.size - removals.length + added;
  if (nextSize > CAPABILITIES.maxPeers) {
    throw invalidInput('upsert', `the batch would leave ${nextSize} peers; at most ${CAPABILITIES.maxPeers} are supported`);
  }
  const idx = index ?? buildPeerIndex(current);
  /** The present peer owning an index entry, unless this batch removes or replaces it. */
  const standing = (owner: NodeId | undefined, self: NodeId): NodeId | undefined =>
    owner !== undefined && owner !== self && !removed.has(owner) && !upserted.has(owner) ? owner : undefined;
  const batchKeys = new Map<string, NodeId>();
  const batchPrefixes = new Map<string, NodeId>();
  upserts.forEach((u, i) => {
    const { config } = u;
    const field = `upsert[${i}]`;
    if (ownPublicKey !== undefined && config.publicKey === ownPublicKey) {
      throw invalidInput(`${field}.publicKey`, "is this node's own public key");
    }
    const other = batchKeys.get(config.publicKey) ?? standing(idx.byKey.get(config.publicKey), config.id);
    if (other !== undefined) throw invalidInput(`${field}.publicKey`, `peer ${other} has the same public key`);
    batchKeys.set(config.publicKey, config.id);
    u.prefixes.forEach((x, j) => {
      const owner = batchPrefixes.get(x.key) ?? standing(idx.byPrefix.get(x.key), config.id);
      if (owner !== undefined)
        throw invalidInput(`${field}.allowedIps[${j}]`, `${config.allowedIps[j]} is already an allowed IP of peer ${owner}`);
      batchPrefixes.set(x.key, config.id);
    });
  });
  return { removals, upserts };
}

/** A validated route. */
export interface ValidRoute {
  destination: string;
  parsed: ParsedCidr;
  peer: NodeId;
}

/**
 * Validates a {@link RouteChange}. Destinations must be CIDRs with zero host bits. Added routes
 * must go via a known peer (`UNKNOWN_PEER`); removed routes need not, because the daemon removes
 * peers before their routes.
 * @throws RustynetError `INVALID_INPUT` (field `add[1].destination`), `UNKNOWN_PEER` (field `add[0].peer`).
 */
export function validateRouteChange(
  change: RouteChange,
  peers: ReadonlyMap<NodeId, PeerConfig>,
): { add: ValidRoute[]; remove: ValidRoute[] } {
  if (!isObject(change)) throw invalidInput('change', 'must be an object { add, remove }');
  const add: unknown = (change as unknown as Record<string, unknown>).add ?? [];
  const remove: unknown = (change as unknown as Record<string, unknown>).remove ?? [];
  if (!Array.isArray(add)) throw invalidInput('add', 'must be a list of routes');
  if (!Array.isArray(remove)) throw invalidInput('remove', 'must be a list of routes');
  const check = (list: unknown[], name: 'add' | 'remove'): ValidRoute[] =>
    list.map((r: unknown, i: number) => {
      const f = `${name}[${i}]`;
      if (!isObject(r)) throw invalidInput(f, 'must be an object { destination, peer }');
      const route = r as unknown as Route;
      const parsed = validatePrefix(route.destination, `${f}.destination`);
      if (typeof route.peer !== 'string' || !NODE_ID_RE.test(route.peer)) throw invalidInput(`${f}.peer`, `not a node id: ${route.peer}`);
      return { destination: route.destination, parsed, peer: route.peer };
    });
  const validAdd = check(add, 'add');
  const validRemove = check(remove, 'remove');
  const dests = new Map<string, number>();
  validAdd.forEach((r, i) => {
    const key = r.parsed.key;
    const j = dests.get(key);
    if (j !== undefined) throw invalidInput(`add[${i}].destination`, `${r.destination} is also add[${j}].destination`);
    dests.set(key, i);
  });
  validAdd.forEach((r, i) => {
    if (!peers.has(r.peer)) {
      throw new RustynetError('UNKNOWN_PEER', `add[${i}].peer: no peer ${r.peer}`, { field: `add[${i}].peer`, details: { peer: r.peer } });
    }
  });
  return { add: validAdd, remove: validRemove };
}

/** A deep copy of a peer config. */
export function clonePeer(p: PeerConfig): PeerConfig {
  const c: PeerConfig = { id: p.id, publicKey: p.publicKey, allowedIps: [...p.allowedIps] };
  if (p.endpoint) c.endpoint = { host: p.endpoint.host, port: p.endpoint.port };
  if (p.persistentKeepalive !== undefined) c.persistentKeepalive = p.persistentKeepalive;
  return c;
}
