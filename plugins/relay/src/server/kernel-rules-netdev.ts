/**
 * nftables rule text for the relay's netdev fast path (docs/relay.md "Kernel fast path"): the
 * same pairs, limits and counters as the inet rules ({@link renderAddPair}), but matched at the
 * relay interface's ingress hook and sent out with `fwd`, so a forwarded datagram skips routing,
 * the IP forward path and the inet hooks. Pure functions, no I/O; every value is validated first
 * (hostile input throws INVALID_INPUT naming the field and renders nothing).
 *
 * Shape (a table of its own, `netdev rustynet_relay`, stateless):
 * ```
 * table netdev rustynet_relay
 *   map pre { ipv4_addr . inet_service . ipv4_addr . inet_service : verdict }   src . sport . relay . allocation port
 *   chain ingress (filter, ingress device <relay interface>, priority -500) ... vmap @pre -> goto f<id><side>
 *   chain f<id><side>: per-node packet and byte limits (drop over), named counter,
 *                      saddr/sport := relay : the peer's allocation port, daddr/dport := the peer,
 *                      fwd ip to <next hop toward the peer> device <relay interface>
 * ```
 * nft rewrites the IP header checksum and the UDP checksum (pseudo-header included) with the addresses.
 */
import { invalidInput } from '@rustynet/plugin-api';
import { RELAY_NFT_TABLE, checkKernelPair, ipv4, renderPairChainHead, renderTableHead, type KernelPair } from './kernel-rules.js';

/** Where each side of a netdev pair is sent: the relay interface and the next hop toward each node. */
export interface NetdevRoute {
  /** The relay interface (holds the relay address; datagrams arrive and leave there). */
  device: string;
  /** Next hop toward side a's address (the address itself when on-link, else its gateway). */
  a: string;
  /** Next hop toward side b's address. */
  b: string;
}

const DEVICE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/;

/** Validates an interface name (IFNAMSIZ, no quotes or spaces). @throws RustynetError INVALID_INPUT naming `field`. */
export function checkDevice(v: unknown, field: string): string {
  if (typeof v !== 'string' || !DEVICE.test(v))
    throw invalidInput(field, 'must be an interface name matching ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$');
  return v;
}

/** The script that (re)creates the netdev table empty on `device` (a dead relay's table goes first). */
export function renderNetdevBaseTable(device: string): string {
  const d = checkDevice(device, 'device');
  return [
    ...renderTableHead('netdev'),
    `  chain ingress { type filter hook ingress device "${d}" priority -500; policy accept; ip saddr . udp sport . ip daddr . udp dport vmap @pre; }`,
    `}`,
    '',
  ].join('\n');
}

/**
 * Adds one pair (both directions) to the netdev table; the nodes' limit objects must exist there
 * (`renderNodeLimits(l, 'netdev')`). Remove with `renderDeletePair(pair, 'netdev')`.
 * @throws RustynetError INVALID_INPUT naming the field; nothing rendered.
 */
export function renderNetdevAddPair(pair: KernelPair, route: NetdevRoute): string {
  const p = checkKernelPair(pair);
  if (typeof route !== 'object' || route === null) throw invalidInput('route', 'must be an object');
  const dev = checkDevice(route.device, 'route.device');
  const hop = { a: ipv4(route.a, 'route.a'), b: ipv4(route.b, 'route.b') };
  const t = `netdev ${RELAY_NFT_TABLE}`;
  const lines: string[] = [];
  for (const [from, to, side, toSide] of [
    [p.a, p.b, 'a', 'b'],
    [p.b, p.a, 'b', 'a'],
  ] as const) {
    const f = `f${p.id}${side}`;
    const c = `c${p.id}${side}`;
    lines.push(
      ...renderPairChainHead('netdev', p.id, side, from.limit),
      `add rule ${t} ${f} counter name "${c}" ip saddr set ${p.relay} ip daddr set ${to.address} ` +
        `udp sport set ${to.allocationPort} udp dport set ${to.port} fwd ip to ${hop[toSide]} device "${dev}"`,
      `add element ${t} pre { ${from.address} . ${from.port} . ${p.relay} . ${from.allocationPort} : goto ${f} }`,
    );
  }
  return lines.join('\n') + '\n';
}
