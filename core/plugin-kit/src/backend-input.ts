/**
 * Input validation for the backend contract, shared by backends that need nothing special: a
 * start config, a peer batch, a route change, an endpoint, and conflicts between peers. The rule
 * (core/plugin-api `errors.ts`, docs/plugin-api.md): bad input fails with `INVALID_INPUT` naming
 * the field (`upsert[2].allowedIps[0]`) and changes nothing, so a backend validates the whole
 * input with these before it touches the data plane. The field names are the ones the conformance
 * kit's `backend.bad-input.*` tests expect.
 *
 * Protocol rules stay with the backend: what a public key looks like is a predicate it passes in
 * ({@link PeerBatchRules.isPeerKey}), and anything stricter (its own MTU range, ports) it checks
 * after these.
 */
import {
  NODE_ID_PATTERN,
  RustynetError,
  invalidInput,
  type BackendStartConfig,
  type Cidr,
  type Endpoint,
  type NodeId,
  type PeerBatch,
  type PeerConfig,
  type Route,
  type RouteChange,
} from '@rustynet/plugin-api';
import { cidrProblem, cidrsOverlap, isIp, parseCidr, type ParsedCidr } from './cidr.js';

const NODE_ID = new RegExp(NODE_ID_PATTERN);
/** Linux interface names: 1..15 bytes (IFNAMSIZ - 1, netdevice(7)) of a portable subset. */
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

/** Smallest and largest MTU {@link validateStartConfig} accepts, in bytes (1280: the IPv6 minimum, RFC 8200 section 5). */
export const BACKEND_MTU_RANGE: {
  /** Smallest MTU, in bytes. */
  readonly min: number;
  /** Largest MTU, in bytes. */
  readonly max: number;
} = Object.freeze({ min: 1280, max: 9000 });

/**
 * Parses `a.b.c.d/len` or `x::y/len`. With `hostBitsZero` (allowed IPs, route destinations) the
 * host bits must be zero; node addresses are host prefixes instead (`100.64.0.2/10`).
 * @returns the parsed prefix (`family`, `prefixLength`, `network`, ...).
 * @throws RustynetError `INVALID_INPUT` naming `field`, with the reason.
 */
export function checkCidr(value: unknown, field: string, hostBitsZero = true): ParsedCidr {
  const problem = cidrProblem(value, { requireZeroHostBits: hostBitsZero });
  const parsed = parseCidr(value);
  if (problem !== undefined || !parsed) throw invalidInput(field, problem ?? 'must be a CIDR string');
  return parsed;
}

/**
 * An endpoint `{ host, port }`: `host` an IP literal (no names: a backend must not resolve DNS
 * inside a call), `port` 1..65535.
 * @returns a copy holding only `host` and `port`.
 * @throws RustynetError `INVALID_INPUT` naming `<field>`, `<field>.host` or `<field>.port`.
 */
export function validateEndpoint(e: unknown, field: string): Endpoint {
  const ep = e as Endpoint;
  if (typeof ep !== 'object' || ep === null) throw invalidInput(field, 'must be { host, port }');
  if (typeof ep.host !== 'string' || !isIp(ep.host))
    throw invalidInput(`${field}.host`, `not an IP literal: ${JSON.stringify(ep.host) ?? typeof ep.host}`);
  if (!Number.isInteger(ep.port) || ep.port < 1 || ep.port > 65535)
    throw invalidInput(`${field}.port`, `port outside 1..65535: ${String(ep.port)}`);
  return { host: ep.host, port: ep.port };
}

/**
 * A start config: `nodeId`, `interfaceName` (1..15 bytes), `listenPort` 0..65535, `mtu`
 * {@link BACKEND_MTU_RANGE} when given, at least one address (host prefix; IPv6 only with the
 * capability), an absolute `keyDirectory`.
 * @throws RustynetError `INVALID_INPUT` naming the field; `UNSUPPORTED` naming `addresses[i]` for
 *   IPv6 without the `ipv6` capability.
 */
export function validateStartConfig(cfg: BackendStartConfig, caps: { ipv6: boolean }): void {
  if (typeof cfg !== 'object' || cfg === null) throw invalidInput('config', 'must be an object');
  if (typeof cfg.nodeId !== 'string' || !NODE_ID.test(cfg.nodeId)) throw invalidInput('nodeId', 'not a node id');
  if (typeof cfg.interfaceName !== 'string' || !IFNAME.test(cfg.interfaceName) || Buffer.byteLength(cfg.interfaceName) > 15)
    throw invalidInput('interfaceName', 'must be 1..15 bytes of [A-Za-z0-9_.-] (IFNAMSIZ - 1)');
  if (!Number.isInteger(cfg.listenPort) || cfg.listenPort < 0 || cfg.listenPort > 65535)
    throw invalidInput('listenPort', 'must be 0..65535');
  const { min, max } = BACKEND_MTU_RANGE;
  if (cfg.mtu !== undefined && (!Number.isInteger(cfg.mtu) || cfg.mtu < min || cfg.mtu > max))
    throw invalidInput('mtu', `must be ${min}..${max}`);
  if (!Array.isArray(cfg.addresses) || cfg.addresses.length === 0) throw invalidInput('addresses', 'at least one address');
  cfg.addresses.forEach((a, i) => {
    const p = checkCidr(a, `addresses[${i}]`, false);
    if (p.family === 6 && !caps.ipv6)
      throw new RustynetError('UNSUPPORTED', `addresses[${i}]: IPv6 needs the ipv6 capability`, { field: `addresses[${i}]` });
  });
  if (typeof cfg.keyDirectory !== 'string' || !cfg.keyDirectory.startsWith('/'))
    throw invalidInput('keyDirectory', 'must be an absolute path');
}

/** What {@link validatePeerBatch} checks a batch against. */
export interface PeerBatchRules {
  /** The backend's `ipv6` capability: IPv6 allowed IPs are `UNSUPPORTED` without it. */
  ipv6: boolean;
  /** The backend's `maxPeers` capability: more peers after the batch is `UNSUPPORTED`. */
  maxPeers: number;
  /** True for a well-formed public key of the backend's protocol (its manifest's `backend.peerKeySchema`). */
  isPeerKey: (key: string) => boolean;
  /** What a malformed key's error says it should be. Default `malformed public key`. */
  keyHint?: string;
}

/**
 * A whole peer batch against the current peer ids: ids, no peer twice, public keys, endpoints,
 * allowed IPs (host bits zero), persistent keepalive 0..65535 s, removals of known peers that are
 * not also upserted, and the peer count after the batch.
 * @throws RustynetError `INVALID_INPUT` naming the field; `DUPLICATE_PEER`; `UNKNOWN_PEER`
 *   (`remove[i]`); `UNSUPPORTED` (IPv6 without the capability, more than `maxPeers`).
 */
export function validatePeerBatch(batch: PeerBatch, known: ReadonlySet<string>, rules: PeerBatchRules): void {
  if (typeof batch !== 'object' || batch === null || !Array.isArray(batch.upsert) || !Array.isArray(batch.remove))
    throw invalidInput('batch', 'must be { upsert: PeerConfig[], remove: NodeId[] }');
  const seen = new Set<string>();
  batch.upsert.forEach((p, i) => {
    const f = `upsert[${i}]`;
    if (typeof p !== 'object' || p === null) throw invalidInput(f, 'must be a peer config');
    if (typeof p.id !== 'string' || !NODE_ID.test(p.id)) throw invalidInput(`${f}.id`, 'not a node id');
    if (seen.has(p.id)) throw new RustynetError('DUPLICATE_PEER', `${f}.id: peer ${p.id} appears twice in the batch`, { field: `${f}.id` });
    seen.add(p.id);
    if (typeof p.publicKey !== 'string' || !rules.isPeerKey(p.publicKey))
      throw invalidInput(`${f}.publicKey`, rules.keyHint ?? 'malformed public key');
    if (p.endpoint !== undefined) validateEndpoint(p.endpoint, `${f}.endpoint`);
    if (!Array.isArray(p.allowedIps) || p.allowedIps.length === 0) throw invalidInput(`${f}.allowedIps`, 'at least one prefix');
    p.allowedIps.forEach((c, j) => {
      const parsed = checkCidr(c, `${f}.allowedIps[${j}]`);
      if (parsed.family === 6 && !rules.ipv6)
        throw new RustynetError('UNSUPPORTED', `${f}.allowedIps[${j}]: IPv6 needs the ipv6 capability`, { field: `${f}.allowedIps[${j}]` });
    });
    const ka = p.persistentKeepalive;
    if (ka !== undefined && (!Number.isInteger(ka) || ka < 0 || ka > 65535))
      throw invalidInput(`${f}.persistentKeepalive`, 'must be 0..65535 seconds');
  });
  batch.remove.forEach((id, i) => {
    if (seen.has(id)) throw new RustynetError('DUPLICATE_PEER', `remove[${i}]: peer ${id} is also upserted`, { field: `remove[${i}]` });
    if (!known.has(id)) throw new RustynetError('UNKNOWN_PEER', `remove[${i}]: unknown peer ${id}`, { field: `remove[${i}]` });
  });
  const after = new Set([...known, ...seen]);
  for (const id of batch.remove) after.delete(id);
  if (after.size > rules.maxPeers)
    throw new RustynetError('UNSUPPORTED', `batch: ${after.size} peers exceed maxPeers ${rules.maxPeers}`, { field: 'upsert' });
}

/**
 * Conflicts a per-peer check cannot see, between the upserted peers and the peer set after the
 * batch (`next`): two ids with one public key, and one allowed IP owned by two peers. The later
 * of two clashing peers is named, as `backend.bad-input.conflicting-peers` expects.
 * @throws RustynetError `INVALID_INPUT` naming `upsert[i].publicKey` or `upsert[i].allowedIps[j]`.
 */
export function checkPeerConflicts(upsert: readonly PeerConfig[], next: ReadonlyMap<NodeId, PeerConfig>): void {
  const overlaps = (a: Cidr, b: Cidr): boolean => {
    const x = parseCidr(a);
    const y = parseCidr(b);
    return x !== undefined && y !== undefined && cidrsOverlap(x, y);
  };
  upsert.forEach((p, i) => {
    const later = new Set(upsert.slice(i).map((u) => u.id));
    const others = [...next.values()].filter((q) => !later.has(q.id));
    for (const q of others)
      if (q.publicKey === p.publicKey) throw invalidInput(`upsert[${i}].publicKey`, `peer ${q.id} has the same public key`);
    p.allowedIps.forEach((c, j) => {
      for (const q of others) {
        const hit = q.allowedIps.find((d) => overlaps(c, d));
        if (hit) throw invalidInput(`upsert[${i}].allowedIps[${j}]`, `overlaps ${hit}, an allowed IP of peer ${q.id}`);
      }
    });
  });
}

/**
 * A route change; added routes must go via a known peer.
 * @throws RustynetError `INVALID_INPUT` naming the field; `UNKNOWN_PEER` (`add[i].peer`);
 *   `UNSUPPORTED` (IPv6 without `ipv6`, a default route without `exitNode`).
 */
export function validateRouteChange(change: RouteChange, known: ReadonlySet<string>, caps: { exitNode: boolean; ipv6: boolean }): void {
  if (typeof change !== 'object' || change === null || !Array.isArray(change.add) || !Array.isArray(change.remove))
    throw invalidInput('change', 'must be { add: Route[], remove: Route[] }');
  const check = (r: Route, f: string, mustKnow: boolean): void => {
    const p = checkCidr(r?.destination, `${f}.destination`);
    if (typeof r.peer !== 'string' || !NODE_ID.test(r.peer)) throw invalidInput(`${f}.peer`, 'not a node id');
    if (mustKnow && !known.has(r.peer))
      throw new RustynetError('UNKNOWN_PEER', `${f}.peer: unknown peer ${r.peer}`, { field: `${f}.peer` });
    if (p.family === 6 && !caps.ipv6) throw new RustynetError('UNSUPPORTED', `${f}: IPv6 needs the ipv6 capability`, { field: f });
    if (p.prefixLength === 0 && !caps.exitNode)
      throw new RustynetError('UNSUPPORTED', `${f}: default routes need the exitNode capability`, { field: f });
  };
  change.remove.forEach((r, i) => check(r, `remove[${i}]`, false));
  change.add.forEach((r, i) => check(r, `add[${i}]`, true));
}
