import { RustynetError, type Netmap } from '@rustynet/plugin-api';
import { hostBitsZero, isHostPrefix, parseCidr, type ParsedCidr } from '../util/ip.js';

/**
 * True for an IPv6 prefix inside `::ffff:0:0/96` (RFC 4291 section 2.5.5.2): the same host as an
 * IPv4 address, so one node could own an address twice or shadow another node's IPv4 address.
 */
function isIPv4MappedPrefix(p: ParsedCidr): boolean {
  return p.family === 6 && p.words[0] === 0 && p.words[1] === 0 && p.words[2] === 0xffff;
}

function invalid(field: string, message: string): RustynetError {
  return new RustynetError('NETMAP_INVALID', `netmap ${field}: ${message}`, { field });
}

/**
 * Checks a schema-valid netmap for what JSON Schema cannot express: unique node ids and relay ids,
 * parseable CIDRs, node addresses are host prefixes (`/32`, `/128`) owned by one node only and
 * not IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`), routes
 * have zero host bits, `expiresAt` after `issuedAt`.
 * @throws RustynetError `NETMAP_INVALID` naming the field, e.g. `nodes[2].addresses[0]`.
 */
export function checkNetmapSemantics(netmap: Netmap): void {
  const ids = new Set<string>();
  const owners = new Map<string, string>();
  // Plain loops with field names built only on error: this runs over every node of every netmap.
  const nodes = netmap.nodes;
  for (let i = 0; i < nodes.length; i++) {
    const node = nodes[i];
    if (ids.has(node.id)) throw invalid(`nodes[${i}].id`, `duplicate node id ${node.id}`);
    ids.add(node.id);
    const addresses = node.addresses;
    for (let j = 0; j < addresses.length; j++) {
      const a = addresses[j];
      const p = parseCidr(a);
      if (!p) throw invalid(`nodes[${i}].addresses[${j}]`, `${a} is not a valid CIDR`);
      if (!isHostPrefix(p)) throw invalid(`nodes[${i}].addresses[${j}]`, `${a} must be a host prefix (/32 or /128)`);
      if (isIPv4MappedPrefix(p))
        throw invalid(`nodes[${i}].addresses[${j}]`, `${a} is an IPv4-mapped IPv6 address (::ffff:0:0/96); give the IPv4 address itself`);
      const owner = owners.get(p.key);
      if (owner !== undefined) throw invalid(`nodes[${i}].addresses[${j}]`, `${a} is already the address of node ${owner}`);
      owners.set(p.key, node.id);
    }
    const routes = node.routes ?? [];
    for (let j = 0; j < routes.length; j++) {
      const r = routes[j];
      const p = parseCidr(r);
      if (!p) throw invalid(`nodes[${i}].routes[${j}]`, `${r} is not a valid CIDR`);
      if (!hostBitsZero(p)) throw invalid(`nodes[${i}].routes[${j}]`, `${r} has host bits set`);
    }
  }
  const relayIds = new Set<string>();
  (netmap.relays ?? []).forEach((r, i) => {
    if (relayIds.has(r.id)) throw invalid(`relays[${i}].id`, `duplicate relay id ${r.id}`);
    relayIds.add(r.id);
  });
  (netmap.acl?.rules ?? []).forEach((rule, i) => {
    for (const side of ['src', 'dst'] as const) {
      rule[side].forEach((sel, j) => {
        if (!sel.includes('/') || sel.startsWith('tag:') || sel.startsWith('node:')) return;
        const p = parseCidr(sel);
        if (!p) throw invalid(`acl.rules[${i}].${side}[${j}]`, `${sel} is not a valid CIDR`);
        if (!hostBitsZero(p)) throw invalid(`acl.rules[${i}].${side}[${j}]`, `${sel} has host bits set`);
      });
    }
  });
  if (Date.parse(netmap.expiresAt) <= Date.parse(netmap.issuedAt)) throw invalid('expiresAt', 'must be after issuedAt');
}
