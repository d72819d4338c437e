/**
 * Validation of start configs, peer batches and route changes. Everything here is pure: a batch
 * is checked as a whole against the current peer set before the backend changes anything.
 */
import {
  invalidInput,
  NODE_ID_PATTERN,
  RustynetError,
  type BackendStartConfig,
  type Endpoint,
  type PeerBatch,
  type PeerConfig,
  type RouteChange,
} from '@rustynet/plugin-api';
import { isIP } from 'node:net';
import { cidrAddress, cidrContains, cidrProblem, parseCidr, parseIp, type ParsedCidr } from '@rustynet/plugin-kit';
import { CAPABILITIES, isFingerprint, isProxyEndpoint, MAX_PREFIX_LENGTH, portOffset } from './rules.js';

const NODE_ID_RE = new RegExp(NODE_ID_PATTERN);
const IFNAME_RE = /^[A-Za-z0-9_-]+$/;

/** The validated, derived form of a start config. */
export interface ValidStart {
  nodeId: string;
  basePort: number;
  mtu: number;
  prefix: string;
  localV4: string;
  localV4Value: bigint;
  localV6?: string;
}

/**
 * Checks a start config.
 * @throws RustynetError `INVALID_INPUT` naming the field.
 */
export function validateStart(config: BackendStartConfig, portSpan: number, defaultBase: number): ValidStart {
  if (typeof config !== 'object' || config === null) throw invalidInput('config', 'must be an object');
  if (typeof config.nodeId !== 'string' || !NODE_ID_RE.test(config.nodeId)) {
    throw invalidInput('nodeId', 'must be a node id (DNS label)');
  }
  if (!Array.isArray(config.addresses) || config.addresses.length === 0) {
    throw invalidInput('addresses', 'must list at least one overlay address');
  }
  let localV4: string | undefined;
  let localV4Value = 0n;
  let localV6: string | undefined;
  config.addresses.forEach((a, i) => {
    const p = checkedCidr(a, `addresses[${i}]`, false);
    if (p.prefixLength !== p.bits) throw invalidInput(`addresses[${i}]`, 'must be a host prefix (/32 or /128)');
    if (p.family === 4 && localV4 === undefined) {
      localV4 = cidrAddress(a);
      localV4Value = p.address;
    }
    if (p.family === 6 && localV6 === undefined) localV6 = cidrAddress(a);
  });
  if (localV4 === undefined) throw invalidInput('addresses', 'must include an IPv4 /32 (used by --ifconfig and the port rule)');
  if (!Number.isInteger(config.listenPort) || config.listenPort < 0 || config.listenPort > 65535) {
    throw invalidInput('listenPort', 'must be an integer 0..65535');
  }
  const basePort = config.listenPort === 0 ? defaultBase : config.listenPort;
  if (basePort + portSpan - 1 > 65535) {
    throw invalidInput('listenPort', `base port ${basePort} + portSpan ${portSpan} exceeds 65535`);
  }
  const minMtu = localV6 ? 1280 : 576;
  if (config.mtu !== undefined && (!Number.isInteger(config.mtu) || config.mtu < minMtu || config.mtu > 9000)) {
    throw invalidInput('mtu', `must be an integer ${minMtu}..9000`);
  }
  if (typeof config.interfaceName !== 'string' || !IFNAME_RE.test(config.interfaceName)) {
    throw invalidInput('interfaceName', 'must be letters, digits, "_" or "-"');
  }
  if (config.interfaceName.length > MAX_PREFIX_LENGTH) {
    throw invalidInput('interfaceName', `at most ${MAX_PREFIX_LENGTH} bytes: devices are named <interfaceName>p<index>`);
  }
  if (typeof config.keyDirectory !== 'string' || config.keyDirectory.length === 0) {
    throw invalidInput('keyDirectory', 'must be a directory path');
  }
  return {
    nodeId: config.nodeId,
    basePort,
    mtu: config.mtu ?? 1420,
    prefix: config.interfaceName,
    localV4,
    localV4Value,
    ...(localV6 !== undefined ? { localV6 } : {}),
  };
}

/** A validated peer. */
export interface ValidPeer {
  config: PeerConfig;
  /** The peer's overlay IPv4 address (first IPv4 /32 of allowedIps). */
  overlayV4: string;
  overlayV4Value: bigint;
  /** The peer's overlay IPv6 address (first IPv6 /128 of allowedIps), if any. */
  overlayV6?: string;
  offset: number;
}

/** What the backend knows about a current peer, for batch validation. */
export interface KnownPeer {
  id: string;
  offset: number;
  /** The peer's certificate fingerprint (optional for callers that only check offsets). */
  publicKey?: string;
  /** The peer's allowed IPs, normalised `address/length`. */
  allowedIps?: readonly string[];
}

/** `address/length` with the address in canonical form, for comparing prefixes. */
export function normalPrefix(cidr: string): string {
  return `${cidrAddress(cidr)}/${cidr.slice(cidr.indexOf('/') + 1)}`;
}

/**
 * Checks an endpoint, including that the derived remote port fits (a loopback proxy endpoint's
 * port is used as given: {@link isProxyEndpoint}).
 * @returns an error message or undefined.
 */
export function checkEndpoint(e: unknown, selfOffset: number): string | undefined {
  if (typeof e !== 'object' || e === null) return 'must be an object {host, port}';
  const { host, port } = e as Partial<Endpoint>;
  if (typeof host !== 'string' || isIP(host) === 0 || host.includes('%')) return 'host must be an IPv4 or IPv6 literal';
  if (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535) return 'port must be an integer 1..65535';
  if (!isProxyEndpoint(host) && (port as number) + selfOffset > 65535) {
    return `port ${port} + this node's port offset ${selfOffset} exceeds 65535`;
  }
  return undefined;
}

function checkPeer(p: unknown, field: string, v: ValidStart, portSpan: number): ValidPeer {
  if (typeof p !== 'object' || p === null) throw invalidInput(field, 'must be a peer object');
  const peer = p as PeerConfig;
  if (typeof peer.id !== 'string' || !NODE_ID_RE.test(peer.id)) throw invalidInput(`${field}.id`, 'must be a node id');
  if (peer.id === v.nodeId) throw invalidInput(`${field}.id`, 'a node cannot be its own peer');
  if (!isFingerprint(peer.publicKey)) {
    throw invalidInput(`${field}.publicKey`, 'must be a SHA-256 certificate fingerprint AB:CD:... (32 upper-case hex bytes)');
  }
  const selfOffset = portOffset(v.localV4Value, portSpan);
  if (peer.endpoint !== undefined) {
    const msg = checkEndpoint(peer.endpoint, selfOffset);
    if (msg) throw invalidInput(`${field}.endpoint`, msg);
  }
  if (!Array.isArray(peer.allowedIps) || peer.allowedIps.length === 0) {
    throw invalidInput(`${field}.allowedIps`, 'must list at least one prefix');
  }
  let overlayV4: { text: string; value: bigint } | undefined;
  let overlayV6: string | undefined;
  peer.allowedIps.forEach((a, j) => {
    const c = checkedCidr(a, `${field}.allowedIps[${j}]`, true);
    if (c.family === 4 && c.prefixLength === 32 && !overlayV4) overlayV4 = { text: cidrAddress(a), value: c.address };
    if (c.family === 6 && c.prefixLength === 128 && overlayV6 === undefined) overlayV6 = cidrAddress(a);
  });
  const v4 = overlayV4;
  if (!v4) {
    throw invalidInput(`${field}.allowedIps`, "must include the peer's overlay IPv4 address as a /32");
  }
  if (v4.value === v.localV4Value) throw invalidInput(`${field}.allowedIps`, "the peer's overlay IPv4 address is this node's");
  if (peer.persistentKeepalive !== undefined) {
    const k = peer.persistentKeepalive;
    if (!Number.isInteger(k) || k < 0 || k > 65535) throw invalidInput(`${field}.persistentKeepalive`, 'must be an integer 0..65535');
  }
  const config: PeerConfig = {
    id: peer.id,
    publicKey: peer.publicKey,
    allowedIps: [...peer.allowedIps],
    ...(peer.endpoint ? { endpoint: { host: peer.endpoint.host, port: peer.endpoint.port } } : {}),
    ...(peer.persistentKeepalive !== undefined ? { persistentKeepalive: peer.persistentKeepalive } : {}),
  };
  return {
    config,
    overlayV4: v4.text,
    overlayV4Value: v4.value,
    ...(overlayV6 !== undefined ? { overlayV6 } : {}),
    offset: portOffset(v4.value, portSpan),
  };
}

/**
 * Validates a whole batch against the current peers.
 * @returns the validated upserts in batch order.
 * @throws RustynetError `INVALID_INPUT`, `DUPLICATE_PEER`, `UNKNOWN_PEER`, `UNSUPPORTED`.
 */
export function validateBatch(batch: PeerBatch, current: ReadonlyMap<string, KnownPeer>, v: ValidStart, portSpan: number): ValidPeer[] {
  if (typeof batch !== 'object' || batch === null) throw invalidInput('batch', 'must be an object {upsert, remove}');
  const upsert = batch.upsert ?? [];
  const remove = batch.remove ?? [];
  if (!Array.isArray(upsert)) throw invalidInput('upsert', 'must be an array');
  if (!Array.isArray(remove)) throw invalidInput('remove', 'must be an array');
  // Ids and duplicates first, across the whole batch: a repeated id is DUPLICATE_PEER whatever
  // else is wrong with the repeated entry.
  const seen = new Map<string, string>();
  upsert.forEach((p, i) => {
    const field = `upsert[${i}]`;
    if (typeof p !== 'object' || p === null) throw invalidInput(field, 'must be a peer object');
    const id = (p as { id?: unknown }).id;
    if (typeof id !== 'string' || !NODE_ID_RE.test(id)) throw invalidInput(`${field}.id`, 'must be a node id');
    const prev = seen.get(id);
    if (prev)
      throw new RustynetError('DUPLICATE_PEER', `peer ${id} appears twice in the batch (${prev} and ${field})`, { field: `${field}.id` });
    seen.set(id, field);
  });
  remove.forEach((id, k) => {
    const field = `remove[${k}]`;
    if (typeof id !== 'string' || !NODE_ID_RE.test(id)) throw invalidInput(field, 'must be a node id');
    const prev = seen.get(id);
    if (prev) throw new RustynetError('DUPLICATE_PEER', `peer ${id} appears twice in the batch (${prev} and ${field})`, { field });
    seen.set(id, field);
  });
  const peers = upsert.map((p, i) => checkPeer(p, `upsert[${i}]`, v, portSpan));
  remove.forEach((id, k) => {
    if (!current.has(id)) throw new RustynetError('UNKNOWN_PEER', `cannot remove unknown peer ${id}`, { field: `remove[${k}]` });
  });
  // The resulting peer set must fit and keep port offsets unique (see rules.ts).
  const removed = new Set(remove);
  const upserted = new Set(peers.map((p) => p.config.id));
  const finalCount = [...current.keys()].filter((id) => !removed.has(id) && !upserted.has(id)).length + peers.length;
  if (finalCount > CAPABILITIES.maxPeers) {
    throw new RustynetError(
      'UNSUPPORTED',
      `the batch would leave ${finalCount} peers; this backend supports at most ${CAPABILITIES.maxPeers}`,
      {
        field: 'upsert',
        details: { maxPeers: CAPABILITIES.maxPeers },
      },
    );
  }
  // No two peers of the resulting set share a certificate or an allowed IP (the later upsert is named).
  const byKey = new Map<string, string>();
  const byPrefix = new Map<string, string>();
  for (const [id, known] of current) {
    if (removed.has(id) || upserted.has(id)) continue;
    if (known.publicKey !== undefined) byKey.set(known.publicKey, id);
    for (const x of known.allowedIps ?? []) byPrefix.set(x, id);
  }
  peers.forEach((p, i) => {
    const owner = byKey.get(p.config.publicKey);
    if (owner !== undefined) throw invalidInput(`upsert[${i}].publicKey`, `peer ${owner} has the same certificate fingerprint`);
    byKey.set(p.config.publicKey, p.config.id);
    p.config.allowedIps.forEach((x, j) => {
      const other = byPrefix.get(normalPrefix(x));
      if (other !== undefined) throw invalidInput(`upsert[${i}].allowedIps[${j}]`, `${x} is already an allowed IP of peer ${other}`);
    });
    for (const x of p.config.allowedIps) byPrefix.set(normalPrefix(x), p.config.id);
  });
  const byOffset = new Map<number, string>();
  for (const [id, known] of current) {
    if (!removed.has(id) && !upserted.has(id)) byOffset.set(known.offset, id);
  }
  peers.forEach((p, i) => {
    const other = byOffset.get(p.offset);
    if (other !== undefined) {
      throw invalidInput(
        `upsert[${i}].allowedIps`,
        `overlay address ${p.overlayV4} gives port offset ${p.offset}, already used by peer ${other}: ` +
          `overlay IPv4 addresses must differ modulo portSpan (${portSpan})`,
      );
    }
    byOffset.set(p.offset, p.config.id);
  });
  return peers;
}

/** A validated route. */
export interface ValidRoute {
  destination: string;
  peer: string;
  family: 4 | 6;
}

/**
 * Validates a route change. Additions must name known peers; removals of routes through unknown
 * peers are accepted as no-ops (the peer's device, and with it the route, is gone already).
 * @throws RustynetError `INVALID_INPUT`, `UNKNOWN_PEER`.
 */
export function validateRoutes(
  change: RouteChange,
  knownPeers: ReadonlySet<string>,
  peerEndpoints: ReadonlyArray<{ peer: string; host: string }>,
): { add: ValidRoute[]; remove: ValidRoute[] } {
  if (typeof change !== 'object' || change === null) throw invalidInput('change', 'must be an object {add, remove}');
  const addIn = change.add ?? [];
  const removeIn = change.remove ?? [];
  if (!Array.isArray(addIn)) throw invalidInput('add', 'must be an array');
  if (!Array.isArray(removeIn)) throw invalidInput('remove', 'must be an array');
  const check = (r: unknown, field: string, isAdd: boolean): ValidRoute => {
    if (typeof r !== 'object' || r === null) throw invalidInput(field, 'must be a route object');
    const { destination, peer } = r as { destination: unknown; peer: unknown };
    const c = checkedCidr(destination, `${field}.destination`, true);
    if (typeof peer !== 'string' || !NODE_ID_RE.test(peer)) throw invalidInput(`${field}.peer`, 'must be a node id');
    if (isAdd) {
      if (!knownPeers.has(peer)) throw new RustynetError('UNKNOWN_PEER', `route via unknown peer ${peer}`, { field: `${field}.peer` });
      // Default routes (exit node) live in a separate table that the instances' marked packets
      // skip; any other prefix covering an underlay endpoint would loop the tunnel into itself.
      for (const e of c.prefixLength === 0 ? [] : peerEndpoints) {
        const ev = parseIp(e.host);
        if (ev && cidrContains(c, ev)) {
          throw invalidInput(
            `${field}.destination`,
            `${String(destination)} covers the underlay endpoint ${e.host} of peer ${e.peer}: it would route the tunnel into itself`,
          );
        }
      }
    }
    return { destination: `${cidrAddress(String(destination))}/${c.prefixLength}`, peer, family: c.family };
  };
  const add = addIn.map((r, i) => check(r, `add[${i}]`, true));
  const remove = removeIn.map((r, i) => check(r, `remove[${i}]`, false));
  const dests = new Set<string>();
  add.forEach((r, i) => {
    if (dests.has(r.destination)) throw invalidInput(`add[${i}].destination`, `${r.destination} is listed twice`);
    dests.add(r.destination);
  });
  return { add, remove };
}

/**
 * Parses a CIDR for field `field`.
 * @throws RustynetError `INVALID_INPUT` with plugin-kit's reason (malformed, too long a prefix,
 *   host bits set when `requireZeroHostBits`).
 */
function checkedCidr(value: unknown, field: string, requireZeroHostBits: boolean): ParsedCidr {
  const problem = cidrProblem(value, { requireZeroHostBits });
  const c = parseCidr(value);
  if (problem !== undefined || !c) throw invalidInput(field, problem ?? 'must be a CIDR string');
  return c;
}
