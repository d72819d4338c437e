/**
 * Covering routes for a backend that routes by allowed IPs (`routesByAllowedIps`): the peers'
 * overlay host addresses are summarised into the fewest prefixes that cover exactly those
 * addresses and nothing else, and one route per prefix replaces the per-peer host routes.
 */
import { formatCidr, makeCidr, parseCidr } from '@rustynet/plugin-kit';
import type { NodeId, Route } from '@rustynet/plugin-api';

/** One peer's overlay host address, as the desired state collects them. */
export interface OverlayAddress {
  peer: NodeId;
  /** The address as the netmap wrote it (`100.64.0.7/32`, `fd00::7/128`). */
  prefix: string;
}

interface Entry {
  value: bigint;
  peer: NodeId;
  text: string;
}

/**
 * Summarises overlay host addresses into covering routes. Each route covers only addresses in
 * `addresses` (an exact summary: consecutive addresses merge into aligned blocks, never a
 * wider prefix), so no route ever captures an address that no peer owns: not this node's own
 * address, not a LAN, never a default route. A block of one address keeps the netmap's text,
 * so the routes of a sparse overlay equal the per-peer host routes they replace.
 *
 * Each route's `peer` is the owner of the lowest address in its block (a deterministic choice; a
 * backend claiming `routesByAllowedIps` delivers by allowed IPs and only uses it as a hint).
 * Two peers claiming the same address yield one route (owner: the first in netmap order).
 * Entries that are not host prefixes (`/32`, `/128`) are returned in `rest` untouched.
 */
export function coveringRoutes(addresses: readonly OverlayAddress[]): { routes: Route[]; rest: OverlayAddress[] } {
  const rest: OverlayAddress[] = [];
  const byFamily: Record<4 | 6, Map<bigint, Entry>> = { 4: new Map(), 6: new Map() };
  for (const a of addresses) {
    const p = parseCidr(a.prefix);
    if (!p || p.prefixLength !== p.bits) {
      rest.push(a);
      continue;
    }
    const seen = byFamily[p.family];
    if (!seen.has(p.address)) seen.set(p.address, { value: p.address, peer: a.peer, text: a.prefix });
  }
  const routes: Route[] = [];
  for (const family of [4, 6] as const) {
    const entries = [...byFamily[family].values()].sort((x, y) => (x.value < y.value ? -1 : x.value > y.value ? 1 : 0));
    let i = 0;
    while (i < entries.length) {
      let j = i;
      while (j + 1 < entries.length && entries[j + 1].value === entries[j].value + 1n) j++;
      rangeBlocks(family, entries, i, j, routes);
      i = j + 1;
    }
  }
  return { routes, rest };
}

/** Appends the aligned blocks that exactly cover the consecutive addresses `entries[i..j]`. */
function rangeBlocks(family: 4 | 6, entries: readonly Entry[], i: number, j: number, out: Route[]): void {
  const bits = family === 4 ? 32 : 128;
  let k = i;
  while (k <= j) {
    const lo = entries[k].value;
    const remaining = BigInt(j - k + 1);
    let size = 1n;
    let len = bits;
    // Grow the block while it stays aligned and within the run.
    while (len > 0 && lo % (size * 2n) === 0n && size * 2n <= remaining) {
      size *= 2n;
      len--;
    }
    const first = entries[k];
    const destination = size === 1n ? first.text : formatCidr(makeCidr(family, lo, len));
    out.push({ destination, peer: first.peer });
    k += Number(size);
  }
}
