/**
 * The evaluator behind `explain`: decides a packet against a {@link ResolvedPolicy} with the
 * same semantics the compiled ruleset has in the kernel (see compile.ts):
 * first match wins over the ordered rules; a rule matches when the source address is in one
 * of its `src` selectors (or `*`), the destination in one of its `dst` selectors, the protocol
 * is the rule's (`any` matches all; `icmp` is ICMP and ICMPv6) and, when the rule has ports,
 * the destination port lies in one of them; no match means drop. Established/related return
 * traffic is accepted before the ACL and is not modelled here: a flow query is about a new flow.
 */
import { invalidInput, type FlowQuery, type PolicyDecision } from '@rustynet/plugin-api';
import { cidrContains, formatIp, parseIp, type IpAddress, type IpFamily } from '@rustynet/plugin-kit';
import type { AddressMatch, PortRange, ResolvedPolicy, ResolvedRule, ResolvedSelector } from './resolve.js';

/** A packet opening a new flow. */
export interface Packet {
  family: IpFamily;
  src: bigint;
  dst: bigint;
  proto: 'tcp' | 'udp' | 'icmp';
  /** Destination port (tcp/udp only). */
  port?: number;
}

/** Outcome of matching one rule. */
export interface RuleMatch {
  matched: boolean;
  /** The first `src` selector containing the source, if any. */
  srcBy?: ResolvedSelector;
  dstBy?: ResolvedSelector;
  /** The first part that did not match. */
  failed?: 'src' | 'dst' | 'proto' | 'port';
}

/** The first selector of `side` that contains `addr`; `undefined` when none does. */
export function matchSide(side: AddressMatch, family: IpFamily, addr: bigint): ResolvedSelector | undefined {
  return side.selectors.find((s) => s.any || s.prefixes.some((p) => cidrContains(p, { family, value: addr })));
}

function portIn(ports: PortRange[], port: number | undefined): boolean {
  return port !== undefined && ports.some((r) => port >= r.lo && port <= r.hi);
}

/** Matches one rule against a packet. */
export function matchRule(rule: ResolvedRule, pkt: Packet): RuleMatch {
  const srcBy = matchSide(rule.src, pkt.family, pkt.src);
  if (!srcBy) return { matched: false, failed: 'src' };
  const dstBy = matchSide(rule.dst, pkt.family, pkt.dst);
  if (!dstBy) return { matched: false, srcBy, failed: 'dst' };
  if (rule.proto !== 'any' && rule.proto !== pkt.proto) return { matched: false, srcBy, dstBy, failed: 'proto' };
  if (rule.ports && !portIn(rule.ports, pkt.port)) return { matched: false, srcBy, dstBy, failed: 'port' };
  return { matched: true, srcBy, dstBy };
}

/** Result of {@link evaluatePacket}. */
export interface Evaluation {
  action: 'accept' | 'drop';
  /** The deciding rule, or `null` for the default deny. */
  rule: ResolvedRule | null;
  match?: RuleMatch;
  /** On default deny: the first rule whose src and dst matched but proto or port did not. */
  nearest?: { rule: ResolvedRule; match: RuleMatch };
}

/** Decides `pkt`: first matching rule, else default deny. */
export function evaluatePacket(policy: ResolvedPolicy, pkt: Packet): Evaluation {
  let nearest: Evaluation['nearest'];
  for (const rule of policy.rules) {
    const m = matchRule(rule, pkt);
    if (m.matched) return { action: rule.action, rule, match: m };
    if (!nearest && (m.failed === 'proto' || m.failed === 'port')) nearest = { rule, match: m };
  }
  return { action: 'drop', rule: null, ...(nearest && { nearest }) };
}

/** `443`, `8000-8080`, comma separated. */
export function formatPorts(ports: PortRange[]): string {
  return ports.map((r) => (r.lo === r.hi ? String(r.lo) : `${r.lo}-${r.hi}`)).join(',');
}

function flowText(pkt: Packet): string {
  const l4 = pkt.port !== undefined ? `${pkt.proto}/${pkt.port}` : pkt.proto;
  return `${formatIp(pkt.family, pkt.src)} -> ${formatIp(pkt.family, pkt.dst)} ${l4}`;
}

function reasonOf(policy: ResolvedPolicy, pkt: Packet, ev: Evaluation): string {
  if (ev.rule && ev.match?.srcBy && ev.match.dstBy) {
    const r = ev.rule;
    const proto =
      r.proto === 'any'
        ? 'proto any'
        : r.ports
          ? `${pkt.proto}/${pkt.port} in ports ${formatPorts(r.ports)}`
          : r.proto === 'icmp'
            ? 'proto icmp'
            : `${r.proto} (all ports)`;
    return (
      `rule ${r.id} (#${r.index}) matches ${flowText(pkt)}: ` +
      `src in ${ev.match.srcBy.text}, dst in ${ev.match.dstBy.text}, ${proto} -> ${r.action}`
    );
  }
  if (policy.rules.length === 0) {
    return `no rules: default deny of ${flowText(pkt)} (only return traffic of established flows passes)`;
  }
  let text = `no rule matches ${flowText(pkt)} (${policy.rules.length} checked): default deny`;
  if (ev.nearest) {
    const r = ev.nearest.rule;
    const why =
      ev.nearest.match.failed === 'proto' ? `proto is ${r.proto}` : `port ${pkt.port ?? '(none)'} not in ${formatPorts(r.ports ?? [])}`;
    text += `; nearest: rule ${r.id} (#${r.index}) matches src and dst but ${why}`;
  }
  return text;
}

/** A flow end point resolved to its addresses, by family. */
interface Endpoint {
  byFamily: Map<IpFamily, Pick<IpAddress, 'family' | 'value'>>;
}

function resolveEndpoint(policy: ResolvedPolicy, text: unknown, field: string): Endpoint {
  if (typeof text !== 'string' || text === '') throw invalidInput(field, 'must be a node id or an IP address');
  const ip = parseIp(text);
  if (ip) return { byFamily: new Map([[ip.family, ip]]) };
  const id = text.startsWith('node:') ? text.slice(5) : text;
  const node = policy.nodes.get(id);
  if (!node) throw invalidInput(field, `unknown node ${JSON.stringify(text)} (and not an IP address)`);
  const byFamily = new Map<IpFamily, Pick<IpAddress, 'family' | 'value'>>();
  for (const a of node.addresses) if (!byFamily.has(a.family)) byFamily.set(a.family, { family: a.family, value: a.address });
  return { byFamily };
}

/**
 * Validates a {@link FlowQuery} and turns it into one packet per address family both ends have
 * (IPv4 first). A node id stands for the node's first address of each family.
 * @throws RustynetError `INVALID_INPUT` with `field` `flow.src`, `flow.dst`, `flow.proto` or `flow.port`.
 */
export function flowPackets(policy: ResolvedPolicy, flow: FlowQuery): Packet[] {
  if (typeof flow !== 'object' || flow === null) throw invalidInput('flow', 'must be an object');
  const src = resolveEndpoint(policy, flow.src, 'flow.src');
  const dst = resolveEndpoint(policy, flow.dst, 'flow.dst');
  if (flow.proto !== 'tcp' && flow.proto !== 'udp' && flow.proto !== 'icmp') {
    throw invalidInput('flow.proto', 'must be tcp, udp or icmp');
  }
  if (flow.proto === 'icmp') {
    if (flow.port !== undefined) throw invalidInput('flow.port', 'icmp has no ports');
  } else if (typeof flow.port !== 'number' || !Number.isInteger(flow.port) || flow.port < 1 || flow.port > 65535) {
    throw invalidInput('flow.port', `${flow.proto} needs a destination port in 1..65535`);
  }
  const packets: Packet[] = [];
  for (const family of [4, 6] as const) {
    const s = src.byFamily.get(family);
    const d = dst.byFamily.get(family);
    if (!s || !d) continue;
    packets.push({
      family,
      src: s.value,
      dst: d.value,
      proto: flow.proto,
      ...(flow.proto !== 'icmp' && { port: flow.port }),
    });
  }
  if (packets.length === 0) throw invalidInput('flow.dst', 'src and dst have no address family in common');
  return packets;
}

/**
 * Explains a flow: which rule decides it and why. For node ids with both IPv4 and IPv6
 * addresses the IPv4 flow decides; the reason also names the IPv6 decision when it differs.
 * @throws RustynetError `INVALID_INPUT` (see {@link flowPackets}).
 */
export function explainFlow(policy: ResolvedPolicy, flow: FlowQuery): PolicyDecision {
  const [first, ...rest] = flowPackets(policy, flow) as [Packet, ...Packet[]];
  const ev = evaluatePacket(policy, first);
  let reason = reasonOf(policy, first, ev);
  for (const pkt of rest) {
    const other = evaluatePacket(policy, pkt);
    if (other.rule !== ev.rule || other.action !== ev.action) {
      reason += `. Over IPv6 the decision differs: ${reasonOf(policy, pkt, other)}`;
    }
  }
  return { action: ev.action, ruleId: ev.rule?.id ?? null, ruleIndex: ev.rule?.index ?? null, reason };
}
