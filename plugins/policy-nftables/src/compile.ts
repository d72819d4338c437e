/**
 * The compiler: renders a {@link ResolvedPolicy} as one nftables script for `nft -f -`.
 *
 * The script is a single transaction (nft(8), "-f": the whole file is committed atomically or
 * not at all). It adds the table (a no-op when it exists), deletes it, and adds it again with
 * its full contents, so the old ruleset is replaced in one commit and no packet ever sees an
 * empty or partial table. Nothing outside the plugin's own table is named.
 *
 * Layout (family `inet`, so one table serves IPv4 and IPv6):
 * ```
 * table inet <table> {
 *   counter r_<i> { comment "<rule id>" }          # one per ACL rule
 *   counter default_drop { comment "default deny" }
 *   chain input   { type filter hook input   priority filter - 10; policy accept;
 *                   iifname { <mesh interfaces> } jump acl }
 *   chain forward { ... same for forwarded traffic ... }
 *   chain acl {
 *     ct state established,related accept
 *     icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept
 *     ct state invalid drop
 *     <ACL rules in order: matches, counter name "r_<i>", accept|drop, comment "<rule id>">
 *     counter name "default_drop" drop
 *   }
 * }
 * ```
 * Base chains keep `policy accept`: traffic that did not come in on a mesh interface never
 * enters `acl` and is not affected.
 */
import { formatCidr, type IpFamily, type ParsedCidr } from '@rustynet/plugin-kit';
import type { GatewayRules } from './gateway.js';
import type { PolicyOptions } from './options.js';
import type { AddressMatch, PortRange, ResolvedPolicy, ResolvedRule } from './resolve.js';

/** Options the compiler reads. */
export type CompileOptions = Pick<
  PolicyOptions,
  'table' | 'priority' | 'filterForward' | 'allowNeighborDiscovery' | 'dropInvalid' | 'dropSpoofed'
>;

/** Name of the chain holding the ACL. */
export const ACL_CHAIN = 'acl';
/** Name of the named counter of the final default drop. */
export const DEFAULT_COUNTER = 'default_drop';

/** Name of the named counter of the rule at `index`. */
export function ruleCounterName(index: number): string {
  return `r_${index}`;
}

function set(items: string[]): string {
  return items.length === 1 ? items[0] : `{ ${items.join(', ')} }`;
}

function quote(s: string): string {
  // Interface names and rule ids are validated to a safe alphabet; this is belt and braces.
  if (/["\\\n]/.test(s)) throw new Error(`refusing to quote ${JSON.stringify(s)}`);
  return `"${s}"`;
}

function priorityText(p: number): string {
  return p === 0 ? 'filter' : p < 0 ? `filter - ${-p}` : `filter + ${p}`;
}

function portsText(ports: PortRange[]): string {
  return set(ports.map((r) => (r.lo === r.hi ? String(r.lo) : `${r.lo}-${r.hi}`)));
}

/** The protocol part of a rule line for `family` (`null`: a family-agnostic line). */
/** nft text of a prefix: host prefixes as bare addresses. */
function text(p: ParsedCidr): string {
  return formatCidr(p, { bareHost: true });
}

function protoMatch(rule: ResolvedRule, family: IpFamily | null): string | null {
  switch (rule.proto) {
    case 'any':
      return null;
    case 'icmp':
      // icmp means ICMP for IPv4 and ICMPv6 for IPv6.
      return family === 4 ? 'meta l4proto icmp' : family === 6 ? 'meta l4proto ipv6-icmp' : 'meta l4proto { icmp, ipv6-icmp }';
    case 'tcp':
    case 'udp':
      return rule.ports ? `${rule.proto} dport ${portsText(rule.ports)}` : `meta l4proto ${rule.proto}`;
  }
}

function sidePrefixes(side: AddressMatch, family: IpFamily): ParsedCidr[] | null {
  if (side.any) return null;
  return family === 4 ? side.v4 : side.v6;
}

/**
 * The nft rule lines of one ACL rule, first-match order preserved: one family-agnostic line
 * when both sides are `*`, otherwise one line per address family that both sides can match
 * (none when they share no family: such a rule can never match, exactly as the evaluator says).
 */
export function ruleLines(rule: ResolvedRule): string[] {
  const tail = `counter name ${quote(ruleCounterName(rule.index))} ${rule.action} comment ${quote(rule.id)}`;
  const line = (parts: Array<string | null>): string => parts.filter((p): p is string => p !== null).join(' ');
  if (rule.src.any && rule.dst.any) return [line([protoMatch(rule, null), tail])];
  const lines: string[] = [];
  for (const family of [4, 6] as const) {
    const s = sidePrefixes(rule.src, family);
    const d = sidePrefixes(rule.dst, family);
    if ((s && s.length === 0) || (d && d.length === 0)) continue;
    const kw = family === 4 ? 'ip' : 'ip6';
    lines.push(line([s && `${kw} saddr ${set(s.map(text))}`, d && `${kw} daddr ${set(d.map(text))}`, protoMatch(rule, family), tail]));
  }
  return lines;
}

/**
 * Base-chain lines after the jump to the ACL (reached only by packets that did not arrive on a
 * mesh interface, since the ACL always ends in a verdict): drop those whose source is another
 * node's mesh address (spoofed around the policy).
 */
function antiSpoofLines(policy: ResolvedPolicy): string[] {
  const peers = [...policy.nodes.values()].filter((n) => n.id !== policy.self);
  const lines: string[] = [];
  for (const family of [4, 6] as const) {
    const addrs = [...new Set(peers.flatMap((n) => n.addresses.filter((a) => a.family === family).map(text)))];
    if (addrs.length > 0) lines.push(`${family === 4 ? 'ip' : 'ip6'} saddr ${set(addrs)} drop comment "mesh source off the mesh"`);
  }
  return lines;
}

/** nft text of the set of mesh interfaces of `policy`. */
export function interfaceSet(policy: ResolvedPolicy): string {
  return set(policy.interfaces.map(quote));
}

/**
 * Renders the whole transaction (see the module comment), with the exit-node rules of
 * `gateway` (see gateway.ts) when given.
 * @returns the script text for `nft -f -`.
 */
export function compileRuleset(policy: ResolvedPolicy, options: CompileOptions, gateway?: GatewayRules): string {
  const t = options.table;
  const ifs = set(policy.interfaces.map(quote));
  const out: string[] = [];
  out.push(`# @rustynet/policy-nftables: ${policy.rules.length} ACL rule(s) for node ${policy.self}. Generated; do not edit.`);
  out.push(`table inet ${t}`, `delete table inet ${t}`, `table inet ${t} {`);
  for (const rule of policy.rules) out.push(`\tcounter ${ruleCounterName(rule.index)} { comment ${quote(rule.id)} }`);
  out.push(`\tcounter ${DEFAULT_COUNTER} { comment "default deny" }`);
  for (const d of gateway?.declarations ?? []) out.push(`\t${d}`);
  const spoof = options.dropSpoofed ? antiSpoofLines(policy) : [];
  const hooks: Array<'input' | 'forward'> = options.filterForward ? ['input', 'forward'] : ['input'];
  for (const hook of hooks) {
    out.push(
      `\tchain ${hook} {`,
      `\t\ttype filter hook ${hook} priority ${priorityText(options.priority)}; policy accept;`,
      ...(hook === 'forward' ? (gateway?.forward ?? []).map((l) => `\t\t${l}`) : []),
      `\t\tiifname ${ifs} jump ${ACL_CHAIN}`,
      ...spoof.map((l) => `\t\t${l}`),
      `\t}`,
    );
  }
  out.push(`\tchain ${ACL_CHAIN} {`, `\t\tct state established,related accept`);
  if (options.allowNeighborDiscovery) out.push(`\t\ticmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept`);
  if (options.dropInvalid) out.push(`\t\tct state invalid drop`);
  for (const rule of policy.rules) {
    const lines = ruleLines(rule);
    if (lines.length === 0) out.push(`\t\t# rule ${rule.id} (#${rule.index}): src and dst share no address family; never matches`);
    for (const l of lines) out.push(`\t\t${l}`);
  }
  out.push(`\t\tcounter name ${quote(DEFAULT_COUNTER)} drop comment "default deny"`, `\t}`);
  for (const l of gateway?.chains ?? []) out.push(`\t${l}`);
  out.push(`}`, '');
  return out.join('\n');
}

/**
 * A transaction that removes the table if it exists and does nothing otherwise (adding an
 * existing table is a no-op, so the delete always has something to delete).
 */
export function deleteTableScript(table: string): string {
  return `table inet ${table}\ndelete table inet ${table}\n`;
}
