/**
 * A pure ACL evaluator with the policy plugin's semantics (plugins/policy-nftables/src/evaluate.ts,
 * docs/policy.md), used to run an ACL's embedded tests before the control plane accepts it:
 * rules in order, first match wins; a rule matches when the source is in one of its `src`
 * selectors, the destination in one of its `dst` selectors, the protocol is the rule's (`any`
 * matches all) and, when it has ports, the port lies in one of them; no match means drop.
 * Selectors: `*`, `<node-id>` / `node:<node-id>`, `tag:<tag>`, a CIDR. A node named in a flow
 * stands for its first address of each family; when both ends have IPv4 the IPv4 flow decides.
 */
import ipaddr from 'ipaddr.js';
import { RustynetError, type AclPolicy, type AclRule } from '@rustynet/plugin-api';
import type { AclTest } from './document.js';

/** What the evaluator needs of a node. */
export interface AclNode {
  id: string;
  name?: string;
  tags: readonly string[];
  /** Host addresses without prefix length. */
  addresses: readonly string[];
}

type Addr = ipaddr.IPv4 | ipaddr.IPv6;
type Prefix = [Addr, number];

/** Decision on one test. */
export interface AclTestResult {
  test: AclTest;
  /** Decision the ACL gives. */
  action: 'accept' | 'drop';
  /** Id (or `rule-<index>`) of the deciding rule, or null for the default deny. */
  ruleId: string | null;
  pass: boolean;
}

function findNode(nodes: readonly AclNode[], ref: string): AclNode | undefined {
  const id = ref.startsWith('node:') ? ref.slice(5) : ref;
  return nodes.find((n) => n.id === id) ?? nodes.find((n) => n.name === id);
}

function selectorPrefixes(sel: string, nodes: readonly AclNode[]): Prefix[] | 'any' {
  if (sel === '*') return 'any';
  if (sel.startsWith('tag:')) {
    const tag = sel.slice(4);
    return nodes.filter((n) => n.tags.includes(tag)).flatMap((n) => n.addresses.map((a) => hostPrefix(a)));
  }
  if (sel.includes('/')) {
    try {
      return [ipaddr.parseCIDR(sel)];
    } catch {
      return [];
    }
  }
  const node = findNode(nodes, sel);
  return node ? node.addresses.map((a) => hostPrefix(a)) : [];
}

function hostPrefix(a: string): Prefix {
  const addr = ipaddr.parse(a);
  return [addr, addr.kind() === 'ipv4' ? 32 : 128];
}

function contains(prefixes: Prefix[] | 'any', addr: Addr): boolean {
  if (prefixes === 'any') return true;
  return prefixes.some(([net, len]) => {
    if (addr instanceof ipaddr.IPv4 && net instanceof ipaddr.IPv4) return addr.match(net, len);
    if (addr instanceof ipaddr.IPv6 && net instanceof ipaddr.IPv6) return addr.match(net, len);
    return false;
  });
}

function portRanges(ports: Array<number | string>): Array<[number, number]> {
  return ports.map((p) => {
    if (typeof p === 'number') return [p, p];
    const [lo, hi] = p.split('-').map(Number);
    return [lo ?? 0, hi ?? lo ?? 0];
  });
}

function ruleMatches(
  rule: AclRule,
  nodes: readonly AclNode[],
  src: Addr,
  dst: Addr,
  proto: AclTest['proto'],
  port: number | undefined,
): boolean {
  if (!rule.src.some((s) => contains(selectorPrefixes(s, nodes), src))) return false;
  if (!rule.dst.some((s) => contains(selectorPrefixes(s, nodes), dst))) return false;
  if (rule.proto !== 'any' && rule.proto !== proto) return false;
  if (rule.ports && (port === undefined || !portRanges(rule.ports).some(([lo, hi]) => port >= lo && port <= hi))) return false;
  return true;
}

function endpointAddrs(ref: string, nodes: readonly AclNode[], field: string): Map<string, Addr> {
  const out = new Map<string, Addr>();
  if (ipaddr.isValid(ref)) {
    const a = ipaddr.parse(ref);
    out.set(a.kind(), a);
    return out;
  }
  const node = findNode(nodes, ref);
  if (!node) throw new RustynetError('INVALID_INPUT', `${field}: unknown node ${JSON.stringify(ref)} (and not an IP address)`, { field });
  for (const a of node.addresses) {
    const addr = ipaddr.parse(a);
    if (!out.has(addr.kind())) out.set(addr.kind(), addr);
  }
  return out;
}

/**
 * Decides one flow against `acl` over `nodes`.
 * @throws RustynetError `INVALID_INPUT` when an end names an unknown node or the ends share no family.
 */
export function evaluateFlow(
  acl: AclPolicy,
  nodes: readonly AclNode[],
  test: AclTest,
  field = 'test',
): { action: 'accept' | 'drop'; ruleId: string | null } {
  const src = endpointAddrs(test.src, nodes, `${field}.src`);
  const dst = endpointAddrs(test.dst, nodes, `${field}.dst`);
  const family = ['ipv4', 'ipv6'].find((f) => src.has(f) && dst.has(f));
  const s = family === undefined ? undefined : src.get(family);
  const d = family === undefined ? undefined : dst.get(family);
  if (!s || !d)
    throw new RustynetError('INVALID_INPUT', `${field}: src and dst have no address family in common`, { field: `${field}.dst` });
  for (const [index, rule] of acl.rules.entries()) {
    if (ruleMatches(rule, nodes, s, d, test.proto, test.port)) return { action: rule.action, ruleId: rule.id ?? `rule-${index}` };
  }
  return { action: 'drop', ruleId: null };
}

/**
 * Runs every test against `acl`.
 * @throws RustynetError `INVALID_INPUT` when a test names an unknown node.
 */
export function runAclTests(acl: AclPolicy, tests: readonly AclTest[], nodes: readonly AclNode[]): AclTestResult[] {
  return tests.map((test, i) => {
    const { action, ruleId } = evaluateFlow(acl, nodes, test, `tests[${i}]`);
    return { test, action, ruleId, pass: action === test.expect };
  });
}
