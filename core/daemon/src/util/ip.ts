import { isIPv4, isIPv6 } from 'node:net';

/** A parsed IP prefix. `bits` is 32 (IPv4) or 128 (IPv6); `value` the address as an integer. */
export interface ParsedCidr {
  family: 4 | 6;
  value: bigint;
  prefixLength: number;
  bits: 32 | 128;
}

function ipv4ToBigInt(ip: string): bigint {
  return ip.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function ipv6ToBigInt(ip: string): bigint {
  let text = ip;
  // Embedded IPv4 tail (`::ffff:1.2.3.4`).
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const n = ipv4ToBigInt(v4[1]!);
    text = `${text.slice(0, -v4[1]!.length)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const fill = tail === undefined ? 0 : 8 - h.length - t.length;
  const groups = [...h, ...Array<string>(fill).fill('0'), ...t];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/**
 * Parses `addr/len` (IPv4 dotted quad or RFC 4291 IPv6 text).
 * @returns the parsed prefix, or `undefined` when the text is not a valid CIDR.
 */
export function parseCidr(cidr: string): ParsedCidr | undefined {
  const slash = cidr.lastIndexOf('/');
  if (slash < 0) return undefined;
  const addr = cidr.slice(0, slash);
  const lenText = cidr.slice(slash + 1);
  if (!/^\d{1,3}$/.test(lenText)) return undefined;
  const prefixLength = Number(lenText);
  if (isIPv4(addr)) {
    if (prefixLength > 32) return undefined;
    return { family: 4, value: ipv4ToBigInt(addr), prefixLength, bits: 32 };
  }
  if (isIPv6(addr) && !addr.includes('%')) {
    if (prefixLength > 128) return undefined;
    return { family: 6, value: ipv6ToBigInt(addr), prefixLength, bits: 128 };
  }
  return undefined;
}

/** True when every bit after the prefix length is zero (`10.0.0.0/8` yes, `10.0.0.1/8` no). */
export function hostBitsZero(p: ParsedCidr): boolean {
  const hostBits = BigInt(p.bits - p.prefixLength);
  const mask = (1n << hostBits) - 1n;
  return (p.value & mask) === 0n;
}

/** True for a host prefix (`/32` or `/128`). */
export function isHostPrefix(p: ParsedCidr): boolean {
  return p.prefixLength === p.bits;
}

/** The address part of a CIDR (`100.64.0.1/32` -> `100.64.0.1`). */
export function cidrAddress(cidr: string): string {
  const slash = cidr.lastIndexOf('/');
  return slash < 0 ? cidr : cidr.slice(0, slash);
}

/** A canonical text key of a prefix, so `fd00::1/128` and `fd00:0::1/128` compare equal. */
export function cidrKey(p: ParsedCidr): string {
  return `${p.family}:${p.value.toString(16)}/${p.prefixLength}`;
}
