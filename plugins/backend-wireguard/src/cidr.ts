/**
 * IP address and CIDR parsing for validation (RFC 4632 for IPv4 prefixes, RFC 4291 section 2.2
 * and 2.3 for IPv6 text forms and prefixes). Pure functions, no I/O.
 */

/** A parsed IP prefix. `address` holds the address as an unsigned integer. */
export interface ParsedCidr {
  family: 4 | 6;
  address: bigint;
  prefixLength: number;
}

const IPV4_OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const HEXTET = /^[0-9a-fA-F]{1,4}$/;

/**
 * Parses a dotted-quad IPv4 address (no leading zeros, exactly four octets).
 * @returns the address as an integer, or `undefined` if malformed.
 */
export function parseIPv4(text: string): bigint | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    if (!IPV4_OCTET.test(part)) return undefined;
    value = (value << 8n) | BigInt(Number(part));
  }
  return value;
}

/**
 * Parses an IPv6 address in any RFC 4291 text form (with `::` compression and an optional
 * embedded dotted-quad tail). Zone ids (`%eth0`) and brackets are rejected.
 * @returns the address as a 128-bit integer, or `undefined` if malformed.
 */
export function parseIPv6(text: string): bigint | undefined {
  if (text.length === 0 || text.length > 45 || text.includes('%')) return undefined;
  const doubleColon = text.indexOf('::');
  if (doubleColon !== -1 && text.indexOf('::', doubleColon + 1) !== -1) return undefined;

  const parseGroups = (part: string): number[] | undefined => {
    if (part === '') return [];
    const groups: number[] = [];
    const pieces = part.split(':');
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i]!;
      if (i === pieces.length - 1 && piece.includes('.')) {
        const v4 = parseIPv4(piece);
        if (v4 === undefined) return undefined;
        groups.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
      } else {
        if (!HEXTET.test(piece)) return undefined;
        groups.push(parseInt(piece, 16));
      }
    }
    return groups;
  };

  let groups: number[];
  if (doubleColon === -1) {
    const all = parseGroups(text);
    if (!all || all.length !== 8) return undefined;
    groups = all;
  } else {
    const head = parseGroups(text.slice(0, doubleColon));
    const tail = parseGroups(text.slice(doubleColon + 2));
    if (!head || !tail) return undefined;
    // An embedded IPv4 address may only end the address, never precede `::`.
    if (text.slice(0, doubleColon).includes('.')) return undefined;
    const missing = 8 - head.length - tail.length;
    if (missing < 1) return undefined;
    groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  }
  let value = 0n;
  for (const g of groups) value = (value << 16n) | BigInt(g);
  return value;
}

/**
 * Parses an IPv4 or IPv6 literal.
 * @returns family and integer value, or `undefined` if `text` is neither.
 */
export function parseIp(text: string): { family: 4 | 6; address: bigint } | undefined {
  if (typeof text !== 'string') return undefined;
  const v4 = parseIPv4(text);
  if (v4 !== undefined) return { family: 4, address: v4 };
  const v6 = parseIPv6(text);
  if (v6 !== undefined) return { family: 6, address: v6 };
  return undefined;
}

/**
 * Parses `address/prefixLength`. The prefix length is mandatory: 0..32 for IPv4, 0..128 for IPv6.
 * @returns the parsed prefix, or `undefined` when malformed.
 */
export function parseCidr(text: string): ParsedCidr | undefined {
  if (typeof text !== 'string') return undefined;
  const slash = text.indexOf('/');
  if (slash === -1 || slash !== text.lastIndexOf('/')) return undefined;
  const ip = parseIp(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (!ip || !/^(0|[1-9]\d{0,2})$/.test(lenText)) return undefined;
  const prefixLength = Number(lenText);
  if (prefixLength > (ip.family === 4 ? 32 : 128)) return undefined;
  return { family: ip.family, address: ip.address, prefixLength };
}

/** True when every bit of the address after the prefix is zero (`10.0.0.0/8` yes, `10.0.0.1/8` no). */
export function hostBitsZero(cidr: ParsedCidr): boolean {
  const bits = BigInt(cidr.family === 4 ? 32 : 128);
  const hostBits = bits - BigInt(cidr.prefixLength);
  const mask = (1n << hostBits) - 1n;
  return (cidr.address & mask) === 0n;
}

/** True when `cidr` is a host prefix (`/32` for IPv4, `/128` for IPv6). */
export function isHostPrefix(cidr: ParsedCidr): boolean {
  return cidr.prefixLength === (cidr.family === 4 ? 32 : 128);
}

/** True when prefix `outer` contains prefix `inner` (same family, shorter or equal length). */
export function cidrContains(outer: ParsedCidr, inner: ParsedCidr): boolean {
  if (outer.family !== inner.family || outer.prefixLength > inner.prefixLength) return false;
  const bits = BigInt(outer.family === 4 ? 32 : 128);
  const shift = bits - BigInt(outer.prefixLength);
  return outer.address >> shift === inner.address >> shift;
}

/** A canonical key for a prefix, equal for equal prefixes whatever their text form. */
export function cidrKey(cidr: ParsedCidr): string {
  return `${cidr.family}/${cidr.address.toString(16)}/${cidr.prefixLength}`;
}
