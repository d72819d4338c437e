/**
 * IP address and CIDR parsing used to validate peer and route input before anything changes.
 * Pure functions, no I/O. Syntax per RFC 4632 (IPv4 CIDR) and RFC 4291 section 2.2/2.3 (IPv6 text
 * form and prefixes).
 */
import { isIPv4, isIPv6 } from 'node:net';

/** A parsed CIDR prefix. */
export interface ParsedCidr {
  family: 4 | 6;
  /** The address as an unsigned integer (32 or 128 bits). */
  value: bigint;
  /** Prefix length in bits. */
  prefix: number;
  /** The address part exactly as given. */
  address: string;
}

/** Parses an IPv4 dotted quad into an unsigned 32-bit integer. Caller checks `isIPv4` first. */
export function ipv4ToBigInt(address: string): bigint {
  return address.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

/** Parses an IPv6 literal (with `::` and an optional trailing dotted quad) into a 128-bit integer. */
export function ipv6ToBigInt(address: string): bigint {
  let text = address;
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const v4 = ipv4ToBigInt(tail);
    text = `${text.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const headParts = head === '' ? [] : head.split(':');
  const restParts = rest === undefined || rest === '' ? [] : rest.split(':');
  const fill = rest === undefined ? 0 : 8 - headParts.length - restParts.length;
  const parts = [...headParts, ...Array<string>(fill).fill('0'), ...restParts];
  return parts.reduce((acc, part) => (acc << 16n) | BigInt(parseInt(part, 16)), 0n);
}

/**
 * Parses `address/prefix`.
 * @returns the parsed prefix, or an error message (never throws).
 */
export function parseCidr(cidr: unknown, opts: { requireZeroHostBits: boolean }): ParsedCidr | string {
  if (typeof cidr !== 'string') return 'must be a CIDR string';
  const slash = cidr.indexOf('/');
  if (slash < 0) return `"${cidr}" is not in CIDR notation (address/prefix)`;
  const address = cidr.slice(0, slash);
  const prefixText = cidr.slice(slash + 1);
  if (!/^(0|[1-9]\d{0,2})$/.test(prefixText)) return `"${cidr}" has a malformed prefix length`;
  const prefix = Number(prefixText);
  let family: 4 | 6;
  let value: bigint;
  if (isIPv4(address)) {
    family = 4;
    value = ipv4ToBigInt(address);
  } else if (isIPv6(address) && !address.includes('%')) {
    family = 6;
    value = ipv6ToBigInt(address);
  } else {
    return `"${cidr}" does not hold an IPv4 or IPv6 address`;
  }
  const bits = family === 4 ? 32 : 128;
  if (prefix > bits) return `"${cidr}" has a prefix longer than ${bits} bits`;
  if (opts.requireZeroHostBits) {
    const hostMask = (1n << BigInt(bits - prefix)) - 1n;
    if ((value & hostMask) !== 0n) return `"${cidr}" has host bits set`;
  }
  return { family, value, prefix, address };
}

/** True when `inner` (an address) lies inside `outer`. Both of the same family. */
export function cidrContains(outer: ParsedCidr, family: 4 | 6, value: bigint): boolean {
  if (outer.family !== family) return false;
  const bits = family === 4 ? 32 : 128;
  const shift = BigInt(bits - outer.prefix);
  return value >> shift === outer.value >> shift;
}

/** Numeric value of an IPv4 or IPv6 literal, or undefined if it is neither. */
export function ipValue(address: string): { family: 4 | 6; value: bigint } | undefined {
  if (isIPv4(address)) return { family: 4, value: ipv4ToBigInt(address) };
  if (isIPv6(address) && !address.includes('%')) return { family: 6, value: ipv6ToBigInt(address) };
  return undefined;
}
