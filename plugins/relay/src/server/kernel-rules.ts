/**
 * nftables rule text for the relay's kernel fast path (docs/relay.md "Kernel fast path"): pure
 * functions, no I/O, so hostile input can be tested without a kernel. Every value that reaches the
 * rule text is validated here first (IPv4 addresses by `node:net`, ports as integers, object names
 * against a fixed pattern); anything else throws INVALID_INPUT naming the field and renders nothing.
 *
 * Shape (one table of its own, stateless: `notrack`, no conntrack entry outlives a rule):
 * ```
 * table inet rustynet_relay
 *   map pre  { ipv4_addr . inet_service . ipv4_addr . inet_service : verdict }   src . sport . relay . allocation port
 *   map post { ipv4_addr . inet_service . ipv4_addr . inet_service : verdict }   src . sport . dst . dport
 *   chain prerouting  (filter, prerouting, priority raw)    ... vmap @pre  -> goto f<id><side>
 *   chain postrouting (filter, postrouting, priority srcnat) ... vmap @post -> goto s<id><side>
 *   chain f<id><side>: per-node packet and byte limits (drop over), named counter, notrack,
 *                      daddr/dport := the peer's registered backend address
 *   chain s<id><side>: saddr/sport := relay address : the peer's allocation port
 * ```
 */
import { isIPv4 } from 'node:net';
import { invalidInput } from '@rustynet/plugin-api';

/** The nftables table name the relay owns (family inet, and netdev when that works). Nothing else is ever touched. */
export const RELAY_NFT_TABLE = 'rustynet_relay';

/** Key of the `pre` (and inet `post`) map: source address . source port . destination address . destination port. */
const PAIR_KEY = 'ipv4_addr . inet_service . ipv4_addr . inet_service';

/** One side of a kernel-forwarded pair: a node's backend address and its allocation port. */
export interface KernelPairSide {
  /** The node's registered IPv4 address (as the relay saw it). */
  address: string;
  /** The node's backend UDP port (the source of its raw datagrams). */
  port: number;
  /** The relay port this node sends to for the peer (and receives the peer's datagrams from). */
  allocationPort: number;
  /** Name of this node's limit objects (`<name>p` packets, `<name>b` bytes), see {@link renderNodeLimits}. */
  limit: string;
}

/** A pair of allocations forwarded in the kernel: a <-> b through `relay`. */
export interface KernelPair {
  /** Small integer, unique among live pairs: names the pair's chains and counters. */
  id: number;
  /** The relay's own IPv4 address (the address nodes send to). */
  relay: string;
  a: KernelPairSide;
  b: KernelPairSide;
}

/** Per-node rate limits (the relay's `packetsPerSecond`/`burstPackets`, `bytesPerSecond`/`burstBytes`). */
export interface KernelNodeLimits {
  name: string;
  packetsPerSecond: number;
  burstPackets: number;
  bytesPerSecond: number;
  burstBytes: number;
}

const OBJECT_NAME = /^[a-z][a-z0-9]{0,15}$/;

/** @internal Validated IPv4 (shared with kernel-rules-netdev.ts). @throws RustynetError INVALID_INPUT naming `field`. */
export function ipv4(v: unknown, field: string): string {
  if (typeof v !== 'string' || !isIPv4(v)) throw invalidInput(field, 'must be an IPv4 address in dotted-quad form');
  return v;
}

function port(v: unknown, field: string): number {
  if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > 65535) throw invalidInput(field, 'must be an integer 1..65535');
  return v as number;
}

/** @internal Validated object name. @throws RustynetError INVALID_INPUT naming `field`. */
export function name(v: unknown, field: string): string {
  if (typeof v !== 'string' || !OBJECT_NAME.test(v)) throw invalidInput(field, 'must match ^[a-z][a-z0-9]{0,15}$');
  return v;
}

function positive(v: unknown, field: string): number {
  if (!Number.isSafeInteger(v) || (v as number) < 1 || (v as number) > 2 ** 32 - 1)
    throw invalidInput(field, 'must be an integer 1..4294967295');
  return v as number;
}

function pairId(v: unknown): number {
  if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > 999_999) throw invalidInput('pair.id', 'must be an integer 0..999999');
  return v as number;
}

/** Validates a whole pair; returns it unchanged. @throws RustynetError INVALID_INPUT naming the field. */
export function checkKernelPair(p: KernelPair): KernelPair {
  if (typeof p !== 'object' || p === null) throw invalidInput('pair', 'must be an object');
  pairId(p.id);
  ipv4(p.relay, 'pair.relay');
  for (const side of ['a', 'b'] as const) {
    const s = p[side];
    if (typeof s !== 'object' || s === null) throw invalidInput(`pair.${side}`, 'must be an object');
    ipv4(s.address, `pair.${side}.address`);
    port(s.port, `pair.${side}.port`);
    port(s.allocationPort, `pair.${side}.allocationPort`);
    name(s.limit, `pair.${side}.limit`);
  }
  if (p.a.allocationPort === p.b.allocationPort) throw invalidInput('pair.b.allocationPort', 'must differ from pair.a.allocationPort');
  return p;
}

/**
 * The start of a script that (re)creates a relay table of `family` empty: `add` then `delete`
 * (idempotent, and flushes what a dead relay left), the table with its `pre` map. The caller
 * adds its chains and closes the table with `}`.
 */
export function renderTableHead(family: RelayNftFamily): string[] {
  const t = `${family} ${RELAY_NFT_TABLE}`;
  return [`add table ${t}`, `delete table ${t}`, `table ${t} {`, `  map pre { type ${PAIR_KEY} : verdict; }`];
}

/** The script that (re)creates the inet table empty: run at start, also after a crash (it flushes what a dead relay left). */
export function renderBaseTable(): string {
  return [
    ...renderTableHead('inet'),
    `  map post { type ${PAIR_KEY} : verdict; }`,
    `  chain prerouting { type filter hook prerouting priority raw; policy accept; ip saddr . udp sport . ip daddr . udp dport vmap @pre; }`,
    `  chain postrouting { type filter hook postrouting priority srcnat; policy accept; ip saddr . udp sport . ip daddr . udp dport vmap @post; }`,
    `}`,
    '',
  ].join('\n');
}

/** The script that removes a relay table (relay stop; `netdev` also at start). Idempotent (`add` first). */
export function renderDeleteTable(family: RelayNftFamily = 'inet'): string {
  const t = `${family === 'netdev' ? 'netdev' : 'inet'} ${RELAY_NFT_TABLE}`;
  return `add table ${t}\ndelete table ${t}\n`;
}

/** nftables family of a relay table: `inet` (prerouting/postrouting rules) or `netdev` (ingress + fwd). */
export type RelayNftFamily = 'inet' | 'netdev';

/** Adds a node's packet and byte limit objects (`<name>p`, `<name>b`), shared by all its pairs in that family's table. */
export function renderNodeLimits(l: KernelNodeLimits, family: RelayNftFamily = 'inet'): string {
  const n = name(l.name, 'limits.name');
  const t = `${family === 'netdev' ? 'netdev' : 'inet'} ${RELAY_NFT_TABLE}`;
  const pps = positive(l.packetsPerSecond, 'limits.packetsPerSecond');
  const bp = positive(l.burstPackets, 'limits.burstPackets');
  const bps = positive(l.bytesPerSecond, 'limits.bytesPerSecond');
  const bb = positive(l.burstBytes, 'limits.burstBytes');
  return [
    `add limit ${t} ${n}p { rate over ${pps}/second burst ${bp} packets }`,
    `add limit ${t} ${n}b { rate over ${bps} bytes/second burst ${bb} bytes }`,
    '',
  ].join('\n');
}

/** Removes a node's limit objects (after its last pair is gone). */
export function renderDeleteNodeLimits(limitName: string, family: RelayNftFamily = 'inet'): string {
  const n = name(limitName, 'limits.name');
  const t = `${family === 'netdev' ? 'netdev' : 'inet'} ${RELAY_NFT_TABLE}`;
  return `delete limit ${t} ${n}p\ndelete limit ${t} ${n}b\n`;
}

/**
 * The start of a pair side's forwarding chain `f<id><side>` in `family`'s table: its counter
 * `c<id><side>`, the chain, and the sending node's packet and byte limits (drop over). The caller
 * adds the rule that counts and rewrites. Inputs are validated by the caller ({@link checkKernelPair}).
 */
export function renderPairChainHead(family: RelayNftFamily, id: number, side: 'a' | 'b', limit: string): string[] {
  const t = `${family} ${RELAY_NFT_TABLE}`;
  const f = `f${id}${side}`;
  return [
    `add counter ${t} c${id}${side}`,
    `add chain ${t} ${f}`,
    `add rule ${t} ${f} limit name "${limit}p" drop`,
    `add rule ${t} ${f} limit name "${limit}b" drop`,
  ];
}

/** Adds one pair (both directions). @throws RustynetError INVALID_INPUT naming the field; nothing rendered. */
export function renderAddPair(pair: KernelPair): string {
  const p = checkKernelPair(pair);
  const t = `inet ${RELAY_NFT_TABLE}`;
  const lines: string[] = [];
  for (const [from, to, side] of [
    [p.a, p.b, 'a'],
    [p.b, p.a, 'b'],
  ] as const) {
    const f = `f${p.id}${side}`;
    const s = `s${p.id}${side}`;
    const c = `c${p.id}${side}`;
    lines.push(
      ...renderPairChainHead('inet', p.id, side, from.limit),
      `add rule ${t} ${f} counter name "${c}" notrack ip daddr set ${to.address} udp dport set ${to.port}`,
      `add chain ${t} ${s}`,
      `add rule ${t} ${s} ip saddr set ${p.relay} udp sport set ${to.allocationPort}`,
      `add element ${t} pre { ${from.address} . ${from.port} . ${p.relay} . ${from.allocationPort} : goto ${f} }`,
      `add element ${t} post { ${from.address} . ${from.port} . ${to.address} . ${to.port} : goto ${s} }`,
    );
  }
  return lines.join('\n') + '\n';
}

/**
 * Removes one pair: map elements first (nothing is forwarded from then on), then its chains and
 * counters. `family` is the table the pair was added to (`netdev`: {@link renderNetdevAddPair}).
 */
export function renderDeletePair(pair: KernelPair, family: RelayNftFamily = 'inet'): string {
  const p = checkKernelPair(pair);
  const netdev = family === 'netdev';
  const t = `${netdev ? 'netdev' : 'inet'} ${RELAY_NFT_TABLE}`;
  const lines: string[] = [];
  for (const [from, to] of [
    [p.a, p.b],
    [p.b, p.a],
  ] as const) {
    lines.push(`delete element ${t} pre { ${from.address} . ${from.port} . ${p.relay} . ${from.allocationPort} }`);
    if (!netdev) lines.push(`delete element ${t} post { ${from.address} . ${from.port} . ${to.address} . ${to.port} }`);
  }
  for (const side of ['a', 'b']) {
    lines.push(`delete chain ${t} f${p.id}${side}`);
    if (!netdev) lines.push(`delete chain ${t} s${p.id}${side}`);
    lines.push(`delete counter ${t} c${p.id}${side}`);
  }
  return lines.join('\n') + '\n';
}
