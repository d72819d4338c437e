/**
 * The resolver: turns a {@link PolicyInput} into a {@link ResolvedPolicy}, the one model that
 * both the nftables compiler ({@link ./compile.ts}) and the evaluator behind `explain`
 * ({@link ./evaluate.ts}) read. Every check of `validate()` lives here, so anything that
 * compiles was validated and anything explained is exactly what is enforced.
 */
import { Ajv, type ErrorObject } from 'ajv';
import { aclSchema, invalidInput, NODE_ID_PATTERN, type AclProtocol, type PolicyInput } from '@rustynet/plugin-api';
import { makeCidr, normalizeCidrs, parseCidr, type ParsedCidr } from '@rustynet/plugin-kit';
import { INTERFACE_PATTERN } from './options.js';

/** One selector of a rule's `src` or `dst`, resolved. */
export interface ResolvedSelector {
  /** The selector as written in the ACL. */
  text: string;
  /** True for `*`. */
  any: boolean;
  /** Normalised prefixes the selector stands for (IPv4 first, then IPv6). Empty when `any`. */
  prefixes: ParsedCidr[];
}

function split(prefixes: ParsedCidr[]): { v4: ParsedCidr[]; v6: ParsedCidr[] } {
  return { v4: prefixes.filter((p) => p.family === 4), v6: prefixes.filter((p) => p.family === 6) };
}

/** A rule's `src` or `dst`: the union of its selectors. */
export interface AddressMatch {
  /** True when a selector is `*`: the side matches every address. */
  any: boolean;
  selectors: ResolvedSelector[];
  /** Union of the selectors' IPv4 prefixes, normalised (no overlaps, sorted). Empty when `any`. */
  v4: ParsedCidr[];
  /** Union of the selectors' IPv6 prefixes, normalised. Empty when `any`. */
  v6: ParsedCidr[];
}

/** An inclusive port range. */
export interface PortRange {
  lo: number;
  hi: number;
}

/** One ACL rule, resolved. */
export interface ResolvedRule {
  /** Position in `acl.rules` (0-based). */
  index: number;
  /** The rule's id, or `rule-<index>`. */
  id: string;
  action: 'accept' | 'drop';
  proto: AclProtocol;
  /** Merged destination port ranges; `null` means all ports (or a protocol without ports). */
  ports: PortRange[] | null;
  src: AddressMatch;
  dst: AddressMatch;
}

/** A node as the resolver keeps it. */
export interface ResolvedNode {
  id: string;
  /** Host addresses (the address part of each netmap CIDR), in netmap order. */
  addresses: ParsedCidr[];
  tags: string[];
}

/** A validated, resolved policy. */
export interface ResolvedPolicy {
  self: string;
  /** Tunnel interfaces (deduplicated, input order). */
  interfaces: string[];
  rules: ResolvedRule[];
  nodes: Map<string, ResolvedNode>;
}

const nodeIdRe = new RegExp(NODE_ID_PATTERN);
const interfaceRe = new RegExp(INTERFACE_PATTERN);
const TAG_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;

const ajv = new Ajv({ allErrors: false, strict: false });
const validateAcl = ajv.compile(aclSchema);

/** `/rules/3/ports/0` -> `acl.rules[3].ports[0]`. */
function ajvField(err: ErrorObject): string {
  let path = 'acl';
  for (const seg of err.instancePath.split('/').slice(1)) {
    const s = seg.replace(/~1/g, '/').replace(/~0/g, '~');
    path += /^\d+$/.test(s) ? `[${s}]` : `.${s}`;
  }
  const params = err.params as Record<string, unknown>;
  if (err.keyword === 'required' && typeof params['missingProperty'] === 'string') path += `.${params['missingProperty']}`;
  if (err.keyword === 'additionalProperties' && typeof params['additionalProperty'] === 'string') {
    path += `.${params['additionalProperty']}`;
  }
  return path;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Validates and resolves a policy input. Pure; changes nothing.
 *
 * Checks, in order: `self`, `nodes` (ids per the netmap's node-id pattern, unique; addresses
 * are CIDRs), `interfaces` (at least one; names per {@link INTERFACE_PATTERN}), the ACL's JSON
 * Schema (`aclSchema` of `@rustynet/plugin-api`), then per rule: unique ids, ports only with
 * tcp/udp, port ranges `lo <= hi` within 1..65535, every selector resolvable (CIDR without
 * host bits, a known node id, a tag carried by at least one node, or `*`).
 *
 * @throws RustynetError `INVALID_INPUT` with `field` naming the first fault, e.g.
 *   `acl.rules[3].ports[0]` or `acl.rules[1].src[0]`.
 */
export function resolvePolicy(input: PolicyInput): ResolvedPolicy {
  if (!isObject(input)) throw invalidInput('input', 'must be an object');
  const nodes = resolveNodes(input.nodes);
  if (typeof input.self !== 'string' || !nodes.has(input.self)) {
    throw invalidInput('self', `unknown node ${JSON.stringify(input.self)}: self must be one of nodes`);
  }
  const interfaces = resolveInterfaces(input.interfaces);
  if (!isObject(input.acl)) throw invalidInput('acl', 'must be an object with rules');
  if (!validateAcl(input.acl)) {
    const err = validateAcl.errors?.[0];
    if (!err) throw invalidInput('acl', 'invalid');
    throw invalidInput(ajvField(err), err.message ?? 'invalid', { keyword: err.keyword });
  }
  const tagLists = new Map<string, ParsedCidr[]>();
  for (const node of nodes.values()) {
    for (const tag of node.tags) {
      const list = tagLists.get(tag) ?? [];
      list.push(...node.addresses);
      tagLists.set(tag, list);
    }
  }
  // Normalised once per tag, not once per use.
  const tagIndex = new Map<string, ParsedCidr[]>([...tagLists].map(([tag, list]) => [tag, normalizeBoth(list)]));
  const cache = new Map<string, ResolvedSelector>();
  const seenIds = new Map<string, number>();
  const rules = input.acl.rules.map((rule, index): ResolvedRule => {
    const base = `acl.rules[${index}]`;
    const id = rule.id ?? `rule-${index}`;
    const prev = seenIds.get(id);
    if (prev !== undefined) {
      throw invalidInput(rule.id === undefined ? base : `${base}.id`, `duplicate rule id ${id} (also acl.rules[${prev}])`);
    }
    seenIds.set(id, index);
    let ports: PortRange[] | null = null;
    if (rule.ports !== undefined) {
      if (rule.proto !== 'tcp' && rule.proto !== 'udp') {
        throw invalidInput(`${base}.ports`, `ports are only allowed with tcp or udp, not ${rule.proto}`);
      }
      ports = mergePorts(rule.ports.map((p, i) => parsePort(p, `${base}.ports[${i}]`)));
    }
    const resolveSide = (side: 'src' | 'dst'): AddressMatch => resolveSelectors(rule[side], `${base}.${side}`, nodes, tagIndex, cache);
    return { index, id, action: rule.action, proto: rule.proto, ports, src: resolveSide('src'), dst: resolveSide('dst') };
  });
  return { self: input.self, interfaces, rules, nodes };
}

function resolveNodes(raw: unknown): Map<string, ResolvedNode> {
  if (!Array.isArray(raw)) throw invalidInput('nodes', 'must be an array');
  const nodes = new Map<string, ResolvedNode>();
  raw.forEach((node: unknown, i) => {
    const base = `nodes[${i}]`;
    if (!isObject(node)) throw invalidInput(base, 'must be an object');
    const id = node['id'];
    if (typeof id !== 'string' || !nodeIdRe.test(id)) throw invalidInput(`${base}.id`, `must match ${NODE_ID_PATTERN}`);
    if (nodes.has(id)) throw invalidInput(`${base}.id`, `duplicate node id ${id}`);
    const addrs = node['addresses'];
    if (!Array.isArray(addrs)) throw invalidInput(`${base}.addresses`, 'must be an array');
    const addresses = addrs.map((a: unknown, j): ParsedCidr => {
      const c = parseCidr(a, { allowBare: true });
      if (!c) throw invalidInput(`${base}.addresses[${j}]`, `not an IP address or CIDR: ${JSON.stringify(a)}`);
      // A node address names one host: the address part counts, whatever the prefix length.
      return makeCidr(c.family, c.address, c.bits);
    });
    const tagsRaw = node['tags'] ?? [];
    if (!Array.isArray(tagsRaw)) throw invalidInput(`${base}.tags`, 'must be an array');
    const tags = tagsRaw.map((t: unknown, j) => {
      if (typeof t !== 'string' || !TAG_RE.test(t)) throw invalidInput(`${base}.tags[${j}]`, `must match ${TAG_RE.source}`);
      return t;
    });
    nodes.set(id, { id, addresses, tags });
  });
  return nodes;
}

function resolveInterfaces(raw: unknown): string[] {
  if (!Array.isArray(raw) || raw.length === 0) {
    // Fail closed: a policy with no interface would filter nothing.
    throw invalidInput('interfaces', 'at least one tunnel interface is required');
  }
  const out: string[] = [];
  raw.forEach((name: unknown, i) => {
    if (typeof name !== 'string' || !interfaceRe.test(name)) {
      throw invalidInput(`interfaces[${i}]`, `must match ${INTERFACE_PATTERN}`);
    }
    if (!out.includes(name)) out.push(name);
  });
  return out;
}

function parsePort(p: number | string, field: string): PortRange {
  if (typeof p === 'number') return { lo: p, hi: p };
  const [a, b] = p.split('-');
  const lo = Number(a);
  const hi = b === undefined ? lo : Number(b);
  if (lo < 1 || hi > 65535 || lo > 65535 || hi < 1) throw invalidInput(field, `port out of range 1..65535: ${p}`);
  if (lo > hi) throw invalidInput(field, `empty port range ${p} (start after end)`);
  return { lo, hi };
}

/** Sorts and merges overlapping or adjacent ranges. */
export function mergePorts(ranges: PortRange[]): PortRange[] {
  const sorted = [...ranges].sort((x, y) => x.lo - y.lo || x.hi - y.hi);
  const out: PortRange[] = [];
  for (const r of sorted) {
    const last = out.at(-1);
    if (last && r.lo <= last.hi + 1) last.hi = Math.max(last.hi, r.hi);
    else out.push({ ...r });
  }
  return out;
}

/**
 * Resolves one selector. Grammar (see `AclSelector`): `*`; `tag:<tag>`; `node:<id>`; a CIDR or
 * bare IP address (a host); otherwise a node id.
 */
function resolveSelector(text: string, field: string, nodes: Map<string, ResolvedNode>, tags: Map<string, ParsedCidr[]>): ResolvedSelector {
  if (text === '*') return { text, any: true, prefixes: [] };
  if (text.startsWith('tag:')) {
    const tag = text.slice(4);
    const list = tags.get(tag);
    if (!list) throw invalidInput(field, `unknown tag selector ${text}: no node carries tag ${JSON.stringify(tag)}`);
    return { text, any: false, prefixes: list };
  }
  const cidr = parseCidr(text, { allowBare: true });
  if (cidr) {
    if (cidr.hostBitsSet) throw invalidInput(field, `CIDR ${text} has host bits set`);
    return { text, any: false, prefixes: [cidr] };
  }
  const id = text.startsWith('node:') ? text.slice(5) : text;
  const node = nodes.get(id);
  if (!node) {
    const what = text.startsWith('node:') || nodeIdRe.test(text) ? 'unknown node selector' : 'invalid selector';
    throw invalidInput(field, `${what} ${text}`);
  }
  return { text, any: false, prefixes: normalizeBoth(node.addresses) };
}

function normalizeBoth(list: ParsedCidr[]): ParsedCidr[] {
  return [...normalizeCidrs(list.filter((p) => p.family === 4)), ...normalizeCidrs(list.filter((p) => p.family === 6))];
}

function resolveSelectors(
  list: string[],
  field: string,
  nodes: Map<string, ResolvedNode>,
  tags: Map<string, ParsedCidr[]>,
  cache: Map<string, ResolvedSelector>,
): AddressMatch {
  const selectors = list.map((text, i) => {
    let sel = cache.get(text);
    if (!sel) {
      sel = resolveSelector(text, `${field}[${i}]`, nodes, tags);
      cache.set(text, sel);
    }
    return sel;
  });
  if (selectors.some((s) => s.any)) return { any: true, selectors, v4: [], v6: [] };
  // Each selector's prefixes are normalised already; only a union of several needs merging.
  const union = selectors.length === 1 ? split(selectors[0].prefixes) : split(selectors.flatMap((s) => s.prefixes));
  return {
    any: false,
    selectors,
    v4: selectors.length === 1 ? union.v4 : normalizeCidrs(union.v4),
    v6: selectors.length === 1 ? union.v6 : normalizeCidrs(union.v6),
  };
}
