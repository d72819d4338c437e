import { isIPv4, isIPv6 } from 'node:net';

/**
 * A parsed IP prefix. `bits` is 32 (IPv4) or 128 (IPv6). `words` holds the address as unsigned
 * 32-bit words, most significant first (one word for IPv4, four for IPv6): plain numbers, no
 * BigInt, so parsing and comparing stay cheap on the per-netmap hot path. Treat as immutable:
 * {@link parseCidr} returns cached objects.
 */
export interface ParsedCidr {
  readonly family: 4 | 6;
  readonly words: readonly number[];
  readonly prefixLength: number;
  readonly bits: 32 | 128;
  /** {@link cidrKey} of this prefix (computed once, with the parse). */
  readonly key: string;
}

function ipv4Word(ip: string): number {
  const p = ip.split('.');
  return ((Number(p[0]) << 24) | (Number(p[1]) << 16) | (Number(p[2]) << 8) | Number(p[3])) >>> 0;
}

/** 16-bit groups of an IPv6 address already accepted by `isIPv6` (RFC 4291 section 2.2 forms). */
function ipv6Groups(ip: string): number[] {
  let text = ip;
  const tailGroups: number[] = [];
  // Embedded IPv4 tail (`::ffff:1.2.3.4`).
  const lastColon = text.lastIndexOf(':');
  if (text.indexOf('.', lastColon) !== -1) {
    const w = ipv4Word(text.slice(lastColon + 1));
    tailGroups.push(w >>> 16, w & 0xffff);
    text = text.slice(0, lastColon + 1);
    if (text.endsWith(':') && !text.endsWith('::')) text = text.slice(0, -1);
  }
  const dc = text.indexOf('::');
  const toGroups = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  let groups: number[];
  if (dc === -1) {
    groups = toGroups(text);
  } else {
    const head = toGroups(text.slice(0, dc));
    const tail = toGroups(text.slice(dc + 2));
    const fill = 8 - head.length - tail.length - tailGroups.length;
    groups = [...head, ...new Array<number>(Math.max(0, fill)).fill(0), ...tail];
  }
  return [...groups, ...tailGroups];
}

function withKey(p: Omit<ParsedCidr, 'key'>): ParsedCidr {
  return { ...p, key: `${p.family}:${p.words.map((w) => w.toString(16)).join('.')}/${p.prefixLength}` };
}

function parseUncached(cidr: string): ParsedCidr | undefined {
  const slash = cidr.lastIndexOf('/');
  if (slash < 0) return undefined;
  const addr = cidr.slice(0, slash);
  const lenText = cidr.slice(slash + 1);
  if (!/^\d{1,3}$/.test(lenText)) return undefined;
  const prefixLength = Number(lenText);
  if (isIPv4(addr)) {
    if (prefixLength > 32) return undefined;
    return withKey({ family: 4, words: [ipv4Word(addr)], prefixLength, bits: 32 });
  }
  if (isIPv6(addr) && !addr.includes('%')) {
    if (prefixLength > 128) return undefined;
    const g = ipv6Groups(addr);
    if (g.length !== 8) return undefined;
    const words = [0, 1, 2, 3].map((i) => ((g[2 * i]! << 16) | g[2 * i + 1]!) >>> 0);
    return withKey({ family: 6, words, prefixLength, bits: 128 });
  }
  return undefined;
}

/** Most prefixes kept by the parse cache before it is emptied (bounds memory on churny netmaps). */
const CACHE_LIMIT = 65_536;
const cache = new Map<string, ParsedCidr | null>();

/**
 * Parses `addr/len` (IPv4 dotted quad or RFC 4291 IPv6 text). Results are cached by text, so
 * the prefixes of a netmap are parsed once even though semantics checks and desired state both
 * look at them, and a new netmap version re-parses only the prefixes it adds.
 * @returns the parsed prefix (shared, immutable), or `undefined` when the text is not a valid CIDR.
 */
export function parseCidr(cidr: string): ParsedCidr | undefined {
  const hit = cache.get(cidr);
  if (hit !== undefined) return hit ?? undefined;
  const p = parseUncached(cidr);
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(cidr, p ?? null);
  return p;
}

/** True when every bit after the prefix length is zero (`10.0.0.0/8` yes, `10.0.0.1/8` no). */
export function hostBitsZero(p: ParsedCidr): boolean {
  for (let i = 0; i < p.words.length; i++) {
    const start = i * 32; // first bit of this word
    const keep = p.prefixLength - start; // bits of this word inside the prefix
    if (keep >= 32) continue;
    const w = p.words[i]!;
    if (keep <= 0) {
      if (w !== 0) return false;
    } else if ((w & (0xffffffff >>> keep)) !== 0) return false;
  }
  return true;
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
  return p.key;
}
