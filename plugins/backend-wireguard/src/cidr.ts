/**
 * IP address and CIDR parsing for validation (RFC 4632 for IPv4 prefixes, RFC 4291 section 2.2
 * and 2.3 for IPv6 text forms and prefixes). Pure functions, no I/O.
 *
 * Two views of a prefix: {@link Prefix} (plain numbers and a canonical key, cached by text; used
 * on every hot path: peer batches, routes) and {@link ParsedCidr} (the address as a BigInt, for
 * callers that want an integer). Both come from the same parser, so they accept the same texts.
 */

/** A parsed IP prefix. `address` holds the address as an unsigned integer. */
export interface ParsedCidr {
  family: 4 | 6;
  address: bigint;
  prefixLength: number;
}

/**
 * A parsed IP prefix without BigInt: `words` are the address as unsigned 32-bit words, most
 * significant first (one for IPv4, four for IPv6); `key` is equal for equal prefixes whatever
 * their text form. Shared and cached: treat as immutable.
 */
export interface Prefix {
  readonly family: 4 | 6;
  readonly words: readonly number[];
  readonly prefixLength: number;
  readonly key: string;
}

const IPV4_OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const HEXTET = /^[0-9a-fA-F]{1,4}$/;

/** IPv4 dotted quad (no leading zeros, exactly four octets) as an unsigned 32-bit number. */
function ipv4Number(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!IPV4_OCTET.test(part)) return undefined;
    value = value * 256 + Number(part);
  }
  return value;
}

/** IPv6 text (RFC 4291 section 2.2, no zone id or brackets) as eight 16-bit groups. */
function ipv6Groups(text: string): number[] | undefined {
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
        const v4 = ipv4Number(piece);
        if (v4 === undefined) return undefined;
        groups.push(Math.floor(v4 / 65536), v4 % 65536);
      } else {
        if (!HEXTET.test(piece)) return undefined;
        groups.push(parseInt(piece, 16));
      }
    }
    return groups;
  };

  if (doubleColon === -1) {
    const all = parseGroups(text);
    return all && all.length === 8 ? all : undefined;
  }
  const head = parseGroups(text.slice(0, doubleColon));
  const tail = parseGroups(text.slice(doubleColon + 2));
  if (!head || !tail) return undefined;
  // An embedded IPv4 address may only end the address, never precede `::`.
  if (text.slice(0, doubleColon).includes('.')) return undefined;
  const missing = 8 - head.length - tail.length;
  if (missing < 1) return undefined;
  return [...head, ...new Array<number>(missing).fill(0), ...tail];
}

/** An IPv4 or IPv6 literal as family and 32-bit words. */
function ipWords(text: string): { family: 4 | 6; words: number[] } | undefined {
  if (typeof text !== 'string') return undefined;
  const v4 = ipv4Number(text);
  if (v4 !== undefined) return { family: 4, words: [v4] };
  const g = ipv6Groups(text);
  if (g === undefined) return undefined;
  return { family: 6, words: [0, 1, 2, 3].map((i) => g[2 * i]! * 65536 + g[2 * i + 1]!) };
}

function wordsToBigInt(words: readonly number[]): bigint {
  let value = 0n;
  for (const w of words) value = (value << 32n) | BigInt(w);
  return value;
}

/**
 * Parses a dotted-quad IPv4 address (no leading zeros, exactly four octets).
 * @returns the address as an integer, or `undefined` if malformed.
 */
export function parseIPv4(text: string): bigint | undefined {
  const v = ipv4Number(text);
  return v === undefined ? undefined : BigInt(v);
}

/**
 * Parses an IPv6 address in any RFC 4291 text form (with `::` compression and an optional
 * embedded dotted-quad tail). Zone ids (`%eth0`) and brackets are rejected.
 * @returns the address as a 128-bit integer, or `undefined` if malformed.
 */
export function parseIPv6(text: string): bigint | undefined {
  const g = ipv6Groups(text);
  if (g === undefined) return undefined;
  let value = 0n;
  for (const x of g) value = (value << 16n) | BigInt(x);
  return value;
}

/** True when `text` is an IPv4 or IPv6 literal (as {@link parseIp} accepts), without BigInt. */
export function isIpLiteral(text: string): boolean {
  return ipWords(text) !== undefined;
}

/**
 * Parses an IPv4 or IPv6 literal.
 * @returns family and integer value, or `undefined` if `text` is neither.
 */
export function parseIp(text: string): { family: 4 | 6; address: bigint } | undefined {
  const ip = ipWords(text);
  return ip ? { family: ip.family, address: wordsToBigInt(ip.words) } : undefined;
}

function parsePrefixUncached(text: string): Prefix | undefined {
  const slash = text.indexOf('/');
  if (slash === -1 || slash !== text.lastIndexOf('/')) return undefined;
  const ip = ipWords(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (!ip || !/^(0|[1-9]\d{0,2})$/.test(lenText)) return undefined;
  const prefixLength = Number(lenText);
  if (prefixLength > (ip.family === 4 ? 32 : 128)) return undefined;
  return { family: ip.family, words: ip.words, prefixLength, key: `${ip.family}/${ip.words.map((w) => w.toString(16)).join('.')}/${prefixLength}` };
}

/** Most prefixes kept by the parse cache before it is emptied (bounds memory). */
const PREFIX_CACHE_LIMIT = 65_536;
const prefixCache = new Map<string, Prefix | null>();

/**
 * Parses `address/prefixLength` like {@link parseCidr}, into a {@link Prefix}. Cached by text:
 * a peer set re-validated on every batch parses each prefix once.
 * @returns the prefix (shared, immutable), or `undefined` when malformed.
 */
export function parsePrefix(text: string): Prefix | undefined {
  if (typeof text !== 'string') return undefined;
  const hit = prefixCache.get(text);
  if (hit !== undefined) return hit ?? undefined;
  const p = parsePrefixUncached(text);
  if (prefixCache.size >= PREFIX_CACHE_LIMIT) prefixCache.clear();
  prefixCache.set(text, p ?? null);
  return p;
}

/**
 * Parses `address/prefixLength`. The prefix length is mandatory: 0..32 for IPv4, 0..128 for IPv6.
 * @returns the parsed prefix, or `undefined` when malformed.
 */
export function parseCidr(text: string): ParsedCidr | undefined {
  const p = parsePrefix(text);
  return p ? { family: p.family, address: wordsToBigInt(p.words), prefixLength: p.prefixLength } : undefined;
}

/** The bits of word `i` (0-based) that lie inside a prefix of `prefixLength`, as a 32-bit mask. */
function wordMask(prefixLength: number, i: number): number {
  const keep = prefixLength - i * 32;
  if (keep >= 32) return 0xffffffff;
  if (keep <= 0) return 0;
  return (0xffffffff << (32 - keep)) >>> 0;
}

/** {@link hostBitsZero} for a {@link Prefix}. */
export function prefixHostBitsZero(p: Prefix): boolean {
  for (let i = 0; i < p.words.length; i++) if ((p.words[i]! & ~wordMask(p.prefixLength, i)) >>> 0 !== 0) return false;
  return true;
}

/** {@link cidrContains} for {@link Prefix}es. */
export function prefixContains(outer: Prefix, inner: Prefix): boolean {
  if (outer.family !== inner.family || outer.prefixLength > inner.prefixLength) return false;
  for (let i = 0; i < outer.words.length; i++) {
    const m = wordMask(outer.prefixLength, i);
    if (((outer.words[i]! & m) >>> 0) !== ((inner.words[i]! & m) >>> 0)) return false;
  }
  return true;
}

/** True when every bit of the address after the prefix is zero (`10.0.0.0/8` yes, `10.0.0.1/8` no). */
export function hostBitsZero(cidr: ParsedCidr): boolean {
  const bits = BigInt(cidr.family === 4 ? 32 : 128);
  const hostBits = bits - BigInt(cidr.prefixLength);
  const mask = (1n << hostBits) - 1n;
  return (cidr.address & mask) === 0n;
}

/** True when `cidr` is a host prefix (`/32` for IPv4, `/128` for IPv6). */
export function isHostPrefix(cidr: ParsedCidr | Prefix): boolean {
  return cidr.prefixLength === (cidr.family === 4 ? 32 : 128);
}

/** True when prefix `outer` contains prefix `inner` (same family, shorter or equal length). */
export function cidrContains(outer: ParsedCidr, inner: ParsedCidr): boolean {
  if (outer.family !== inner.family || outer.prefixLength > inner.prefixLength) return false;
  const bits = BigInt(outer.family === 4 ? 32 : 128);
  const shift = bits - BigInt(outer.prefixLength);
  return outer.address >> shift === inner.address >> shift;
}

/**
 * A canonical key for a prefix, equal for equal prefixes whatever their text form; the same
 * string as {@link Prefix.key}.
 */
export function cidrKey(cidr: ParsedCidr | Prefix): string {
  if ('key' in cidr) return cidr.key;
  const words = cidr.family === 4 ? [Number(cidr.address)] : [96n, 64n, 32n, 0n].map((s) => Number((cidr.address >> s) & 0xffffffffn));
  return `${cidr.family}/${words.map((w) => w.toString(16)).join('.')}/${cidr.prefixLength}`;
}
