/**
 * Input validation for the backend contract. The rule (core/plugin-api `errors.ts`): bad input
 * fails with `INVALID_INPUT` naming the field (`upsert[2].allowedIps[0]`) and changes NOTHING,
 * so validate a whole batch before touching the data plane.
 */
import {
  NODE_ID_PATTERN,
  RustynetError,
  invalidInput,
  type BackendStartConfig,
  type Endpoint,
  type PeerBatch,
  type Route,
  type RouteChange,
} from '@rustynet/plugin-api';
import { cidrProblem, isIp, parseCidr, type ParsedCidr } from '@rustynet/plugin-kit';
import { isPeerKey } from './key-format.js';

const NODE_ID = new RegExp(NODE_ID_PATTERN);

/**
 * Parses `a.b.c.d/len` or `x::y/len` with plugin-kit's CIDR module. With `hostBitsZero`, host
 * bits must be zero (allowed IPs, route destinations); node addresses are host prefixes instead.
 * @returns the prefix (`family`, `prefixLength`, `network`, ...).
 * @throws RustynetError `INVALID_INPUT` naming `field`, with plugin-kit's reason.
 */
export function checkCidr(value: unknown, field: string, hostBitsZero = true): ParsedCidr {
  const problem = cidrProblem(value, { requireZeroHostBits: hostBitsZero });
  const parsed = parseCidr(value);
  if (problem !== undefined || !parsed) throw invalidInput(field, problem ?? 'must be a CIDR string');
  return parsed;
}

/** @throws RustynetError `INVALID_INPUT` for a host that is not an IP literal or a port outside 1..65535. */
export function validateEndpoint(e: unknown, field: string): Endpoint {
  const ep = e as Endpoint;
  if (typeof ep !== 'object' || ep === null) throw invalidInput(field, 'must be { host, port }');
  if (typeof ep.host !== 'string' || !isIp(ep.host)) throw invalidInput(`${field}.host`, `not an IP literal: ${ep.host}`);
  if (!Number.isInteger(ep.port) || ep.port < 1 || ep.port > 65535)
    throw invalidInput(`${field}.port`, `port outside 1..65535: ${String(ep.port)}`);
  return { host: ep.host, port: ep.port };
}

/**
 * Validates a start config.
 * @throws RustynetError `INVALID_INPUT` naming the field; `UNSUPPORTED` for IPv6 without the capability.
 */
export function validateStartConfig(cfg: BackendStartConfig, ipv6: boolean): void {
  if (typeof cfg !== 'object' || cfg === null) throw invalidInput('config', 'must be an object');
  if (typeof cfg.nodeId !== 'string' || !NODE_ID.test(cfg.nodeId)) throw invalidInput('nodeId', 'not a node id');
  if (
    typeof cfg.interfaceName !== 'string' ||
    !/^[A-Za-z0-9_.-]{1,15}$/.test(cfg.interfaceName) ||
    Buffer.byteLength(cfg.interfaceName) > 15
  ) {
    throw invalidInput('interfaceName', 'must be 1..15 bytes of [A-Za-z0-9_.-] (IFNAMSIZ - 1)');
  }
  if (!Number.isInteger(cfg.listenPort) || cfg.listenPort < 0 || cfg.listenPort > 65535)
    throw invalidInput('listenPort', 'must be 0..65535');
  if (cfg.mtu !== undefined && (!Number.isInteger(cfg.mtu) || cfg.mtu < 1280 || cfg.mtu > 9000))
    throw invalidInput('mtu', 'must be 1280..9000');
  if (!Array.isArray(cfg.addresses) || cfg.addresses.length === 0) throw invalidInput('addresses', 'at least one address');
  cfg.addresses.forEach((a, i) => {
    const p = checkCidr(a, `addresses[${i}]`, false);
    if (p.family === 6 && !ipv6)
      throw new RustynetError('UNSUPPORTED', `addresses[${i}]: IPv6 needs the ipv6 capability`, { field: `addresses[${i}]` });
  });
  if (typeof cfg.keyDirectory !== 'string' || !cfg.keyDirectory.startsWith('/'))
    throw invalidInput('keyDirectory', 'must be an absolute path');
}

/**
 * Validates a whole peer batch against the current peer ids.
 * @throws RustynetError `INVALID_INPUT`, `DUPLICATE_PEER`, `UNKNOWN_PEER`, `UNSUPPORTED`.
 */
export function validatePeerBatch(batch: PeerBatch, known: ReadonlySet<string>, opts: { ipv6: boolean; maxPeers: number }): void {
  if (typeof batch !== 'object' || batch === null || !Array.isArray(batch.upsert) || !Array.isArray(batch.remove)) {
    throw invalidInput('batch', 'must be { upsert: PeerConfig[], remove: NodeId[] }');
  }
  const seen = new Set<string>();
  batch.upsert.forEach((p, i) => {
    const f = `upsert[${i}]`;
    if (typeof p !== 'object' || p === null) throw invalidInput(f, 'must be a peer config');
    if (typeof p.id !== 'string' || !NODE_ID.test(p.id)) throw invalidInput(`${f}.id`, 'not a node id');
    if (seen.has(p.id)) throw new RustynetError('DUPLICATE_PEER', `${f}.id: peer ${p.id} appears twice in the batch`, { field: `${f}.id` });
    seen.add(p.id);
    if (typeof p.publicKey !== 'string' || !isPeerKey(p.publicKey))
      throw invalidInput(`${f}.publicKey`, 'not a 2048-bit RSA public key (base64 DER, see key-format.ts)');
    if (p.endpoint !== undefined) validateEndpoint(p.endpoint, `${f}.endpoint`);
    if (!Array.isArray(p.allowedIps) || p.allowedIps.length === 0) throw invalidInput(`${f}.allowedIps`, 'at least one prefix');
    p.allowedIps.forEach((c, j) => {
      const parsed = checkCidr(c, `${f}.allowedIps[${j}]`);
      if (parsed.family === 6 && !opts.ipv6)
        throw new RustynetError('UNSUPPORTED', `${f}.allowedIps[${j}]: IPv6 needs the ipv6 capability`, { field: `${f}.allowedIps[${j}]` });
    });
    if (
      p.persistentKeepalive !== undefined &&
      (!Number.isInteger(p.persistentKeepalive) || p.persistentKeepalive < 0 || p.persistentKeepalive > 65535)
    ) {
      throw invalidInput(`${f}.persistentKeepalive`, 'must be 0..65535 seconds');
    }
  });
  batch.remove.forEach((id, i) => {
    if (seen.has(id)) throw new RustynetError('DUPLICATE_PEER', `remove[${i}]: peer ${id} is also upserted`, { field: `remove[${i}]` });
    if (!known.has(id)) throw new RustynetError('UNKNOWN_PEER', `remove[${i}]: unknown peer ${id}`, { field: `remove[${i}]` });
  });
  const after = new Set([...known, ...seen]);
  for (const id of batch.remove) after.delete(id);
  if (after.size > opts.maxPeers)
    throw new RustynetError('UNSUPPORTED', `batch: ${after.size} peers exceed maxPeers ${opts.maxPeers}`, { field: 'upsert' });
}

/**
 * Validates a route change. Added routes must go via a known peer.
 * @throws RustynetError `INVALID_INPUT`, `UNKNOWN_PEER`, `UNSUPPORTED` (exit node / LAN route without the capability).
 */
export function validateRouteChange(
  change: RouteChange,
  known: ReadonlySet<string>,
  caps: { exitNode: boolean; lanRoutes: boolean; ipv6: boolean },
): void {
  if (typeof change !== 'object' || change === null || !Array.isArray(change.add) || !Array.isArray(change.remove)) {
    throw invalidInput('change', 'must be { add: Route[], remove: Route[] }');
  }
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
