/**
 * Exit-node duties in the policy table (`PolicyInput.gateway`, capability `gateway`): NAT and
 * forwarding for a node serving as an exit, the kill switch for a node using one.
 *
 * Everything lives in the plugin's own `inet` table, so it is replaced with the ACL in the same
 * atomic `nft -f` transaction and deleted with it by `stop`:
 * ```
 *   counter gw_forward_was_off { comment "rustynet turned net.ipv4.ip_forward on" }   # marker
 *   chain forward { ...; iifname <mesh> oifname != <mesh> ip saddr <sources> accept; jump acl }
 *   chain gw_nat  { type nat hook postrouting priority srcnat; policy accept;
 *                   iifname <mesh> oifname != <mesh> ip saddr <sources> masquerade }
 *   chain gw_kill { type filter hook output priority filter; policy accept;
 *                   oifname "lo" accept; oifname <mesh> accept; ip daddr <allow> accept;
 *                   [ip daddr <connected LAN> accept]; counter name gw_kill_drop drop }
 * ```
 * `iifname` in a postrouting chain matches the packet's input interface (nft(8), "META
 * EXPRESSIONS"), so only forwarded mesh traffic is rewritten, never the node's own.
 *
 * The counter `gw_forward_was_off` records in the table itself that this plugin turned IPv4
 * forwarding on: `stop` (or the next `start` after a crash) sees it and turns forwarding back
 * off. When forwarding was already on, the plugin never touches it.
 */
import { RustynetError, type GatewayInput } from '@rustynet/plugin-api';
import { formatCidr, parseCidr, type ParsedCidr } from '@rustynet/plugin-kit';

/** Named counter marking that this plugin turned `net.ipv4.ip_forward` on. */
export const FORWARD_MARKER = 'gw_forward_was_off';
/** Named counter of the kill switch's drop. */
export const KILL_COUNTER = 'gw_kill_drop';
/** The sysctl of IPv4 forwarding (ip-sysctl.rst: `ip_forward`). */
export const IP_FORWARD_SYSCTL = 'net.ipv4.ip_forward';

/** The gateway parts of a compiled ruleset. */
export interface GatewayRules {
  /** Table-level declarations (counters). */
  declarations: string[];
  /** Lines for the forward chain, before the jump to the ACL. */
  forward: string[];
  /** Whole extra chains. */
  chains: string[];
}

function set(items: string[]): string {
  return items.length === 1 ? items[0] : `{ ${items.join(', ')} }`;
}

function byFamily(prefixes: ParsedCidr[]): { v4: string[]; v6: string[] } {
  const text = (p: ParsedCidr): string => formatCidr(p, { bareHost: true });
  return {
    v4: [...new Set(prefixes.filter((p) => p.family === 4).map(text))],
    v6: [...new Set(prefixes.filter((p) => p.family === 6).map(text))],
  };
}

function parseList(items: unknown, field: string, hostsOnly: boolean): ParsedCidr[] {
  if (!Array.isArray(items)) throw new RustynetError('INVALID_INPUT', `${field}: must be an array`, { field });
  return items.map((raw, i) => {
    const f = `${field}[${i}]`;
    if (typeof raw !== 'string') throw new RustynetError('INVALID_INPUT', `${f}: must be a string`, { field: f });
    const text = raw.includes('/') || !hostsOnly ? raw : raw.includes(':') ? `${raw}/128` : `${raw}/32`;
    const parsed = parseCidr(text);
    if (!parsed) throw new RustynetError('INVALID_INPUT', `${f}: ${JSON.stringify(raw)} is not an IP prefix`, { field: f });
    return parsed;
  });
}

/**
 * Checks a gateway input. Changes nothing.
 * @throws RustynetError `INVALID_INPUT` naming the field (`gateway.serve.sources[2]`, ...).
 */
export function validateGateway(gw: GatewayInput | undefined): void {
  if (gw === undefined) return;
  if (gw.serve) parseList(gw.serve.sources, 'gateway.serve.sources', true);
  if (gw.killSwitch) {
    parseList(gw.killSwitch.allow, 'gateway.killSwitch.allow', true);
    if (typeof gw.killSwitch.lanAccess !== 'boolean')
      throw new RustynetError('INVALID_INPUT', 'gateway.killSwitch.lanAccess: must be a boolean', {
        field: 'gateway.killSwitch.lanAccess',
      });
  }
}

/**
 * Renders the gateway rules (see the module comment).
 * @param gw the validated gateway input.
 * @param interfaces nft text of the mesh interface set (quoted names, `{ }` when several).
 * @param lan directly connected prefixes kept reachable when `killSwitch.lanAccess` (ignored otherwise).
 * @param forwardWasOff whether this plugin turned IPv4 forwarding on (writes the marker counter).
 */
export function gatewayRules(gw: GatewayInput | undefined, interfaces: string, lan: string[], forwardWasOff: boolean): GatewayRules {
  const out: GatewayRules = { declarations: [], forward: [], chains: [] };
  if (gw === undefined) return out;
  if (forwardWasOff) out.declarations.push(`counter ${FORWARD_MARKER} { comment "rustynet turned ${IP_FORWARD_SYSCTL} on" }`);
  if (gw.serve) {
    const src = byFamily(parseList(gw.serve.sources, 'gateway.serve.sources', true));
    const nat: string[] = [];
    for (const [kw, addrs] of [
      ['ip', src.v4],
      ['ip6', src.v6],
    ] as const) {
      if (addrs.length === 0) continue;
      const match = `iifname ${interfaces} oifname != ${interfaces} ${kw} saddr ${set(addrs)}`;
      out.forward.push(`${match} accept comment "exit node: mesh to uplink"`);
      nat.push(`${match} masquerade comment "exit node"`);
    }
    out.chains.push(`chain gw_nat {`, `\ttype nat hook postrouting priority srcnat; policy accept;`, ...nat.map((l) => `\t${l}`), `}`);
  }
  if (gw.killSwitch) {
    const allow = byFamily(parseList(gw.killSwitch.allow, 'gateway.killSwitch.allow', true));
    const local = gw.killSwitch.lanAccess ? byFamily(parseList(lan, 'lan', false)) : { v4: [], v6: [] };
    const lines = [`oifname "lo" accept`, `oifname ${interfaces} accept`];
    lines.push(`icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit } accept`);
    if (allow.v4.length > 0) lines.push(`ip daddr ${set(allow.v4)} accept comment "underlay: peers, relays, control"`);
    if (allow.v6.length > 0) lines.push(`ip6 daddr ${set(allow.v6)} accept comment "underlay: peers, relays, control"`);
    if (local.v4.length > 0) lines.push(`ip daddr ${set(local.v4)} accept comment "LAN access"`);
    if (local.v6.length > 0) lines.push(`ip6 daddr ${set(local.v6)} accept comment "LAN access"`);
    lines.push(`counter name "${KILL_COUNTER}" drop comment "kill switch: not through the tunnel"`);
    out.declarations.push(`counter ${KILL_COUNTER} { comment "kill switch drops" }`);
    out.chains.push(`chain gw_kill {`, `\ttype filter hook output priority filter; policy accept;`, ...lines.map((l) => `\t${l}`), `}`);
  }
  return out;
}

/** Whether an `nft -j list table` output holds the {@link FORWARD_MARKER} counter. */
export function hasForwardMarker(json: string): boolean {
  try {
    const parsed = JSON.parse(json) as { nftables?: Array<{ counter?: { name?: string } }> };
    return (parsed.nftables ?? []).some((o) => o.counter?.name === FORWARD_MARKER);
  } catch {
    return false;
  }
}

/**
 * Directly connected prefixes (`scope link` routes of the main table) off the mesh interfaces,
 * from `ip -j route show` output: the local LAN kept reachable with `lanAccess`.
 */
export function connectedPrefixes(json: string, meshInterfaces: readonly string[]): string[] {
  let rows: Array<{ dst?: string; dev?: string }>;
  try {
    rows = JSON.parse(json) as Array<{ dst?: string; dev?: string }>;
  } catch {
    return [];
  }
  if (!Array.isArray(rows)) return [];
  const out: string[] = [];
  for (const r of rows) {
    if (!r.dst || r.dst === 'default' || (r.dev && meshInterfaces.includes(r.dev))) continue;
    if (r.dst.toLowerCase().startsWith('fe80:')) continue;
    const text = r.dst.includes('/') ? r.dst : r.dst.includes(':') ? `${r.dst}/128` : `${r.dst}/32`;
    if (parseCidr(text)) out.push(text); // else not a prefix nft can match: skip
  }
  return out;
}
