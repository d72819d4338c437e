/**
 * Overlay address allocation: host index `n` (1, 2, ...) maps to `100.64.0.0 + n` in
 * 100.64.0.0/10 and to `<ula-prefix>::<n>` in the control plane's ULA /48. Indexes come from a
 * persisted monotonic counter, so an address is never handed to a second node, and a node
 * keeps its addresses for life (re-enrolment of the same identity reuses the row).
 */
import ipaddr from 'ipaddr.js';
import { RustynetError } from '@rustynet/plugin-api';

/** The overlay IPv4 range. */
export const OVERLAY_IPV4_CIDR = '100.64.0.0/10';
/** Largest host index that fits 100.64.0.0/10 (leaving out the broadcast-like last address). */
export const MAX_HOST_INDEX = 2 ** 22 - 2;

/** The two host addresses (no prefix length) of host index `n`. */
export interface HostAddresses {
  ipv4: string;
  ipv6: string;
}

/**
 * Addresses for host index `n` under the ULA prefix `ulaPrefix` (e.g. `fd12:3456:789a::`).
 * @throws RustynetError `INVALID_INPUT` when `n` is out of range or the prefix is not an fd00::/8 address.
 */
export function hostAddresses(ulaPrefix: string, n: number): HostAddresses {
  if (!Number.isInteger(n) || n < 1 || n > MAX_HOST_INDEX) {
    throw new RustynetError('INVALID_INPUT', `overlay address space exhausted (host index ${n})`, { field: 'next_host' });
  }
  const base = ipaddr.IPv4.parse('100.64.0.0').toByteArray();
  const v4 = (((base[0] ?? 0) << 24) | ((base[1] ?? 0) << 16)) >>> 0;
  const a = v4 + n;
  const ipv4 = [a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255].join('.');
  let prefix: ipaddr.IPv6;
  try {
    prefix = ipaddr.IPv6.parse(ulaPrefix);
  } catch (cause) {
    throw new RustynetError('INVALID_INPUT', `bad ULA prefix ${ulaPrefix}`, { field: 'ula_prefix', cause });
  }
  if (!prefix.match(ipaddr.IPv6.parse('fd00::'), 8))
    throw new RustynetError('INVALID_INPUT', `ULA prefix ${ulaPrefix} is not in fd00::/8`, { field: 'ula_prefix' });
  const parts = prefix.parts.slice(0, 3);
  const ipv6 = new ipaddr.IPv6([...parts, 0, 0, 0, Math.floor(n / 65536), n % 65536]).toString();
  return { ipv4, ipv6 };
}

/** The netmap `addresses` of a node: its IPv4 `/32` first, then its IPv6 `/128`. */
export function netmapAddresses(h: HostAddresses): string[] {
  return [`${h.ipv4}/32`, `${h.ipv6}/128`];
}
