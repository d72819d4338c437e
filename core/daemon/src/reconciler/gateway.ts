/**
 * The exit-node part of the policy input (`PolicyInput.gateway`): what this node must do as an
 * exit node (forward and NAT its peers) and, when it uses one, the kill switch that keeps its
 * traffic off the underlay. Pure: computed from the netmap and the daemon's settings.
 * See docs/exit-nodes.md.
 */
import type { GatewayInput, Netmap, NodeId } from '@rustynet/plugin-api';

/** The daemon's exit-node settings handed to the reconciler. */
export interface GatewaySettings {
  /** `DaemonConfig.exitNode`: the exit this node uses. Absent: none, no kill switch. */
  exitNode?: NodeId;
  /** `DaemonConfig.exitLanAccess`: keep the local subnets reachable directly (default false). */
  lanAccess?: boolean;
  /** Extra underlay hosts the kill switch lets through (the control plane, `killSwitchAllow`). */
  allow?: readonly string[];
}

/** The host of an http(s) URL when it is an IP literal, else undefined. */
export function urlHostLiteral(url: string): string | undefined {
  try {
    const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
    return /^[0-9.]+$/.test(host) || host.includes(':') ? host : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The gateway input for `self`, or undefined when it has no exit-node duty:
 * - `serve` when this node advertises `0.0.0.0/0` in its netmap `routes`: the IPv4 overlay
 *   addresses of every other node may use it (IPv4 only: IPv6 forwarding is not turned on);
 * - `killSwitch` whenever `settings.exitNode` names another node — armed even when that node is
 *   missing from the netmap or advertises no default route, so the choice fails closed. It lets
 *   through the hosts of every peer endpoint and relay (the tunnel's own packets) and
 *   `settings.allow`.
 */
export function gatewayInputFrom(netmap: Netmap, self: NodeId, settings: GatewaySettings): GatewayInput | undefined {
  const gw: GatewayInput = {};
  const me = netmap.nodes.find((n) => n.id === self);
  if ((me?.routes ?? []).some((r) => r === '0.0.0.0/0')) {
    const sources = netmap.nodes
      .filter((n) => n.id !== self)
      .flatMap((n) => n.addresses.filter((a) => !a.includes(':')))
      .sort();
    gw.serve = { sources: [...new Set(sources)] };
  }
  if (settings.exitNode !== undefined && settings.exitNode !== self) {
    const hosts = new Set<string>(settings.allow ?? []);
    for (const n of netmap.nodes) if (n.id !== self) for (const e of n.endpoints) hosts.add(e.host);
    for (const r of netmap.relays ?? []) hosts.add(r.endpoint.host);
    gw.killSwitch = { allow: [...hosts].sort(), lanAccess: settings.lanAccess ?? false };
  }
  return gw.serve || gw.killSwitch ? gw : undefined;
}

/** The daemon-config fields {@link gatewaySettingsFrom} reads. */
export interface GatewayConfigFields {
  exitNode?: string;
  exitLanAccess?: boolean;
  killSwitchAllow?: string[];
  netmap: { url?: string; control?: { url: string; urls?: string[] } } | object;
}

/** {@link GatewaySettings} from the daemon config: the control-plane hosts that are IP literals join `allow`. */
export function gatewaySettingsFrom(cfg: GatewayConfigFields): GatewaySettings {
  const src = cfg.netmap as { url?: string; control?: { url: string; urls?: string[] } };
  const urls = [src.url, src.control?.url, ...(src.control?.urls ?? [])].filter((u): u is string => typeof u === 'string');
  const allow = [...(cfg.killSwitchAllow ?? []), ...urls.map(urlHostLiteral).filter((h): h is string => h !== undefined)];
  return {
    ...(cfg.exitNode !== undefined && { exitNode: cfg.exitNode }),
    lanAccess: cfg.exitLanAccess ?? false,
    allow: [...new Set(allow)],
  };
}
