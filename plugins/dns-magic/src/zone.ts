import { isIPv4, isIPv6 } from 'node:net';
import { NODE_ID_PATTERN, RustynetError, invalidInput, type DnsZoneData, type NodeId } from '@rustynet/plugin-api';

/** Most addresses one node may carry (keeps every answer well below 64 KiB). */
export const MAX_ADDRESSES_PER_NODE = 256;

const NODE_ID_RE = new RegExp(NODE_ID_PATTERN);
/** A DNS label in LDH form (RFC 1035 section 2.3.1, RFC 1123 section 2.1), any case. */
const LABEL_RE = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** The records one owner name `<label>.<zone>` resolves to. */
export interface NodeRecords {
  /** Id of the node the name resolves to. */
  id: NodeId;
  /** IPv4 addresses, for A records. */
  v4: string[];
  /** IPv6 addresses, for AAAA records. */
  v6: string[];
}

/** Zone data compiled for lookups. Immutable: an update swaps the whole object. */
export interface CompiledZone {
  /** Apex, lower case, no trailing dot. */
  readonly zone: string;
  /** Apex labels, lower case. */
  readonly labels: readonly string[];
  /** Lower-case first label -> records. */
  readonly names: ReadonlyMap<string, NodeRecords>;
  /** Node names that were shared by several nodes or shadowed by an id (for logs). */
  readonly conflicts: ReadonlyArray<{ name: string; winner: NodeId; losers: NodeId[] }>;
  readonly nodeCount: number;
}

/**
 * Normalises a zone apex: lower case, one trailing dot removed.
 * @throws RustynetError `INVALID_INPUT` (field `zone`) unless every label is an LDH label and
 *   the name fits in 253 characters.
 */
export function normalizeZoneName(zone: unknown, field = 'zone'): string {
  if (typeof zone !== 'string') throw invalidInput(field, 'must be a string');
  const z = (zone.endsWith('.') ? zone.slice(0, -1) : zone).toLowerCase();
  if (z.length === 0) throw invalidInput(field, 'must not be empty (the root zone is not served)');
  if (z.length > 253) throw invalidInput(field, 'longer than 253 characters');
  for (const label of z.split('.')) {
    if (!LABEL_RE.test(label)) throw invalidInput(field, `"${label}" is not a DNS label (letters, digits, inner hyphens; 1-63)`);
  }
  return z;
}

/**
 * Validates the whole zone data, then compiles it. Nothing is changed on error.
 *
 * Name rule (documented in docs/dns.md, "Duplicate names"):
 * 1. every node answers as `<id>.<zone>` (ids are unique);
 * 2. `<name>.<zone>` answers for the node with that name (case-insensitive); when several nodes
 *    share a name, the node with the lexicographically smallest id (code-point order) wins;
 * 3. a name equal to another node's id never shadows that id: ids win over names.
 *
 * @throws RustynetError `INVALID_INPUT` naming the field, e.g. `zone`, `nodes[2].id`,
 *   `nodes[2].addresses[1]`; duplicate ids are reported at the second occurrence.
 */
export function compileZone(data: unknown): CompiledZone {
  if (typeof data !== 'object' || data === null || Array.isArray(data))
    throw invalidInput('zone', 'zone data must be an object {zone, nodes}');
  const d = data as Partial<DnsZoneData>;
  const zone = normalizeZoneName(d.zone, 'zone');
  if (!Array.isArray(d.nodes)) throw invalidInput('nodes', 'must be an array');
  const byId = new Map<string, NodeRecords & { name: string }>();
  d.nodes.forEach((n: unknown, i) => {
    const f = `nodes[${i}]`;
    if (typeof n !== 'object' || n === null || Array.isArray(n)) throw invalidInput(f, 'must be an object {id, name, addresses}');
    const node = n as Record<string, unknown>;
    if (typeof node.id !== 'string' || !NODE_ID_RE.test(node.id)) {
      throw invalidInput(`${f}.id`, 'must be a node id (lower-case DNS label)');
    }
    if (byId.has(node.id)) throw invalidInput(`${f}.id`, `duplicate node id "${node.id}"`);
    if (typeof node.name !== 'string' || !LABEL_RE.test(node.name)) {
      throw invalidInput(`${f}.name`, 'must be a DNS label (letters, digits, inner hyphens; 1-63)');
    }
    if (!Array.isArray(node.addresses)) throw invalidInput(`${f}.addresses`, 'must be an array of IP addresses');
    if (node.addresses.length > MAX_ADDRESSES_PER_NODE) {
      throw invalidInput(`${f}.addresses`, `at most ${MAX_ADDRESSES_PER_NODE} addresses per node`);
    }
    const v4: string[] = [];
    const v6: string[] = [];
    node.addresses.forEach((a: unknown, j) => {
      if (typeof a === 'string' && isIPv4(a)) {
        if (!v4.includes(a)) v4.push(a);
      } else if (typeof a === 'string' && isIPv6(a) && !a.includes('%')) {
        if (!v6.includes(a)) v6.push(a);
      } else {
        throw invalidInput(`${f}.addresses[${j}]`, 'must be a bare IPv4 or IPv6 address (no prefix length, no zone index)');
      }
    });
    byId.set(node.id, { id: node.id, name: node.name.toLowerCase(), v4, v6 });
  });

  const names = new Map<string, NodeRecords>();
  for (const r of byId.values()) names.set(r.id, { id: r.id, v4: r.v4, v6: r.v6 });
  const byName = new Map<string, NodeId[]>();
  for (const r of byId.values()) {
    if (r.name === r.id) continue;
    const list = byName.get(r.name);
    if (list) list.push(r.id);
    else byName.set(r.name, [r.id]);
  }
  const conflicts: Array<{ name: string; winner: NodeId; losers: NodeId[] }> = [];
  for (const [name, ids] of byName) {
    ids.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const idOwner = byId.get(name);
    if (idOwner) {
      conflicts.push({ name, winner: idOwner.id, losers: ids });
      continue;
    }
    const winner = byId.get(ids[0]);
    if (!winner) throw new RustynetError('INTERNAL', `zone: name ${name} has no node ${ids[0]}`);
    names.set(name, { id: winner.id, v4: winner.v4, v6: winner.v6 });
    if (ids.length > 1) conflicts.push({ name, winner: winner.id, losers: ids.slice(1) });
  }
  return { zone, labels: zone.split('.'), names, conflicts, nodeCount: byId.size };
}

/** A zone with no nodes: the apex answers SOA/NS, every other name NXDOMAIN. */
export function emptyZone(zone: string): CompiledZone {
  return compileZone({ zone, nodes: [] });
}
