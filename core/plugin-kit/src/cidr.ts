/**
 * IP addresses and CIDR prefixes (on ipaddr.js and node:net): parse, canonical text, contains,
 * overlap, IPv4-mapped detection. Pure functions, no I/O.
 *
 * Accepted text: IPv4 dotted quad with exactly four decimal octets and no leading zeros
 * (RFC 4632 prefixes); IPv6 in any RFC 4291 section 2.2 form (`::` compression, embedded dotted
 * quad tail). Rejected: zone ids (`%eth0`), brackets, whitespace, prefix lengths with leading
 * zeros or signs. Output text is canonical: dotted quad, or RFC 5952 for IPv6 (lower case,
 * longest run of zero groups compressed).
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import ipaddr from 'ipaddr.js';

/** 4 for IPv4, 6 for IPv6. */
export type IpFamily = 4 | 6;

/** A parsed IP address. Shared and cached: treat as immutable. */
export interface IpAddress {
  /** Address family: 4 or 6. */
  readonly family: IpFamily;
  /** The address as an unsigned integer (32 or 128 bits). */
  readonly value: bigint;
  /** Canonical text (dotted quad or RFC 5952). */
  readonly text: string;
}

/** A parsed CIDR prefix. Shared and cached: treat as immutable. */
export interface ParsedCidr {
  /** Address family: 4 or 6. */
  readonly family: IpFamily;
  /** Address width: 32 (IPv4) or 128 (IPv6). */
  readonly bits: 32 | 128;
  /** The address as written, host bits included, as an unsigned integer. */
  readonly address: bigint;
  /** The address with the host bits cleared. */
  readonly network: bigint;
  /** Prefix length in bits, 0..32 or 0..128. */
  readonly prefixLength: number;
  /** True when the text had host bits set (`10.0.0.1/24`). */
  readonly hostBitsSet: boolean;
  /**
   * Canonical text of the address as written and the length (`fd00::1/128`): equal for equal
   * prefixes whatever their text form, so usable as a map key.
   */
  readonly key: string;
}

/** Options of {@link parseCidr} and {@link cidrProblem}. */
export interface ParseCidrOptions {
  /** Accept a bare address as a host prefix (`/32`, `/128`). Default false. */
  allowBare?: boolean;
}

/** Address width in bits of `family`. */
export function familyBits(family: IpFamily): 32 | 128 {
  return family === 4 ? 32 : 128;
}

function bytesToBigInt(bytes: readonly number[]): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

function bigIntToBytes(value: bigint, length: number): number[] {
  const out = new Array<number>(length);
  let v = value;
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** Canonical text of the address `value` of `family` (dotted quad, or RFC 5952). */
export function formatIp(family: IpFamily, value: bigint): string {
  return ipaddr.fromByteArray(bigIntToBytes(value, family === 4 ? 4 : 16)).toString();
}

/**
 * Rewrites an embedded dotted-quad tail (`::1.2.3.4`, `64:ff9b::1.2.3.4`) as two hex groups:
 * ipaddr.js reads every such tail as IPv4-mapped (`::ffff:`), whatever the groups before it.
 */
function withHexTail(text: string): string {
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (!tail.includes('.')) return text;
  const [a = 0, b = 0, c = 0, d = 0] = ipaddr.IPv4.parse(tail).octets;
  return `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
}

function parseIpUncached(text: string): IpAddress | undefined {
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  if (isIPv4(text)) addr = ipaddr.IPv4.parse(text);
  else if (isIPv6(text) && !text.includes('%')) addr = ipaddr.IPv6.parse(withHexTail(text));
  else return undefined;
  const family: IpFamily = addr.kind() === 'ipv4' ? 4 : 6;
  return { family, value: bytesToBigInt(addr.toByteArray()), text: addr.toString() };
}

/** Most entries kept by each parse cache before it is emptied (bounds memory on churny input). */
const CACHE_LIMIT = 65_536;

function cached<T>(cache: Map<string, T | null>, key: string, make: () => T | undefined): T | undefined {
  const hit = cache.get(key);
  if (hit !== undefined) return hit ?? undefined;
  const made = make();
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(key, made ?? null);
  return made;
}

const ipCache = new Map<string, IpAddress | null>();

/**
 * Parses an IPv4 or IPv6 address literal. Cached by text.
 * @returns the address, or `undefined` when `text` is not a string holding one.
 */
export function parseIp(text: unknown): IpAddress | undefined {
  if (typeof text !== 'string' || text.length > 45) return undefined;
  return cached(ipCache, text, () => parseIpUncached(text));
}

/** True when `text` is an IPv4 or IPv6 literal as {@link parseIp} accepts it. */
export function isIp(text: unknown): boolean {
  return parseIp(text) !== undefined;
}

function allOnes(bits: number): bigint {
  return (1n << BigInt(bits)) - 1n;
}

/** The mask of a `prefixLength` prefix in a `bits`-wide address. */
function prefixMask(bits: number, prefixLength: number): bigint {
  return allOnes(bits) ^ allOnes(bits - prefixLength);
}

/**
 * Builds a prefix from its parts (for computed prefixes: summaries, masks).
 * @throws RangeError when `prefixLength` or `address` do not fit `family`.
 */
export function makeCidr(family: IpFamily, address: bigint, prefixLength: number): ParsedCidr {
  const bits = familyBits(family);
  if (!Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > bits)
    throw new RangeError(`prefix length ${prefixLength} does not fit IPv${family}`);
  if (address < 0n || address > allOnes(bits)) throw new RangeError(`address does not fit IPv${family}`);
  const network = address & prefixMask(bits, prefixLength);
  return {
    family,
    bits,
    address,
    network,
    prefixLength,
    hostBitsSet: network !== address,
    key: `${formatIp(family, address)}/${prefixLength}`,
  };
}

const PREFIX_LENGTH = /^(0|[1-9]\d{0,2})$/;

/** Why `text` is not a CIDR, or the parsed prefix. */
function analyse(text: unknown, allowBare: boolean): ParsedCidr | string {
  if (typeof text !== 'string') return 'must be a CIDR string';
  const slash = text.indexOf('/');
  if (slash < 0) {
    const ip = allowBare ? parseIp(text) : undefined;
    if (ip) return makeCidr(ip.family, ip.value, familyBits(ip.family));
    return `"${text}" is not in CIDR notation (address/prefix)`;
  }
  const lenText = text.slice(slash + 1);
  if (!PREFIX_LENGTH.test(lenText)) return `"${text}" has a malformed prefix length`;
  const ip = parseIp(text.slice(0, slash));
  if (!ip) return `"${text}" does not hold an IPv4 or IPv6 address`;
  const bits = familyBits(ip.family);
  const prefixLength = Number(lenText);
  if (prefixLength > bits) return `"${text}" has a prefix longer than ${bits} bits`;
  return makeCidr(ip.family, ip.value, prefixLength);
}

const cidrCache = new Map<string, ParsedCidr | null>();
const bareCache = new Map<string, ParsedCidr | null>();

/**
 * Parses `address/prefixLength` (prefix length mandatory unless `allowBare`). Host bits may be
 * set (see {@link ParsedCidr.hostBitsSet}). Cached by text, so a prefix seen on every batch is
 * parsed once.
 * @returns the prefix, or `undefined` when `text` is not a valid CIDR (use {@link cidrProblem}
 *   for the reason).
 */
export function parseCidr(text: unknown, options: ParseCidrOptions = {}): ParsedCidr | undefined {
  if (typeof text !== 'string' || text.length > 49) return undefined;
  const make = (): ParsedCidr | undefined => {
    const r = analyse(text, options.allowBare === true);
    return typeof r === 'string' ? undefined : r;
  };
  return cached(options.allowBare === true ? bareCache : cidrCache, text, make);
}

/**
 * Explains why `text` is not an acceptable CIDR, as a short sentence for an `INVALID_INPUT`
 * message (`"10.0.0.1/33" has a prefix longer than 32 bits`).
 * @param options.requireZeroHostBits also reject host bits set (`10.0.0.1/8`).
 * @returns the reason, or `undefined` when `text` is acceptable.
 */
export function cidrProblem(text: unknown, options: ParseCidrOptions & { requireZeroHostBits?: boolean } = {}): string | undefined {
  const r =
    typeof text === 'string' && text.length > 49
      ? `"${text.slice(0, 49)}..." is too long for a CIDR`
      : analyse(text, options.allowBare === true);
  if (typeof r === 'string') return r;
  if (options.requireZeroHostBits === true && r.hostBitsSet) return `"${String(text)}" has host bits set`;
  return undefined;
}

/** True when every bit after the prefix is zero (`10.0.0.0/8` yes, `10.0.0.1/8` no). */
export function hostBitsZero(cidr: ParsedCidr): boolean {
  return !cidr.hostBitsSet;
}

/** True for a host prefix (`/32` for IPv4, `/128` for IPv6). */
export function isHostPrefix(cidr: ParsedCidr): boolean {
  return cidr.prefixLength === cidr.bits;
}

/**
 * True when `outer` contains `inner`: an address of the same family inside it, or a prefix of
 * the same family no shorter than it whose network lies inside it. Families never mix (an
 * IPv4-mapped IPv6 address is not inside an IPv4 prefix; see {@link unmapIPv4}).
 */
export function cidrContains(outer: ParsedCidr, inner: ParsedCidr | Pick<IpAddress, 'family' | 'value'>): boolean {
  if (outer.family !== inner.family) return false;
  if ('prefixLength' in inner) {
    if (inner.prefixLength < outer.prefixLength) return false;
    return (inner.network & prefixMask(outer.bits, outer.prefixLength)) === outer.network;
  }
  return (inner.value & prefixMask(outer.bits, outer.prefixLength)) === outer.network;
}

/** True when the two prefixes share at least one address (one contains the other). */
export function cidrsOverlap(a: ParsedCidr, b: ParsedCidr): boolean {
  return cidrContains(a, b) || cidrContains(b, a);
}

/**
 * Canonical text of a prefix's network: `10.0.0.0/8`, `fd00::/8`. With `bareHost`, host prefixes
 * print as bare addresses (`10.0.0.1`, as nft and `ip route` print them).
 */
export function formatCidr(cidr: ParsedCidr, options: { bareHost?: boolean } = {}): string {
  let text = formatted.get(cidr);
  if (text === undefined) {
    text = `${formatIp(cidr.family, cidr.network)}/${cidr.prefixLength}`;
    formatted.set(cidr, text);
  }
  return options.bareHost === true && isHostPrefix(cidr) ? text.slice(0, text.lastIndexOf('/')) : text;
}

/** {@link formatCidr} results by prefix object (compilers format the same prefixes many times). */
const formatted = new WeakMap<ParsedCidr, string>();

/**
 * Canonical text of `text` as a prefix (host bits cleared), e.g. `FD00:0::1/8` -> `fd00::/8`.
 * @returns `undefined` when `text` is not a CIDR.
 */
export function canonicalCidr(text: string, options: ParseCidrOptions = {}): string | undefined {
  const p = parseCidr(text, options);
  return p && formatCidr(p);
}

/** The address part of a CIDR text, as written (`100.64.0.1/32` -> `100.64.0.1`); no validation. */
export function cidrAddress(text: string): string {
  const slash = text.lastIndexOf('/');
  return slash < 0 ? text : text.slice(0, slash);
}

/**
 * Sorts prefixes (family, then network, then length) and drops every prefix contained in another,
 * so no two of the result overlap. Deterministic.
 */
export function normalizeCidrs(cidrs: readonly ParsedCidr[]): ParsedCidr[] {
  const sorted = [...cidrs].sort(
    (a, b) => a.family - b.family || (a.network < b.network ? -1 : a.network > b.network ? 1 : a.prefixLength - b.prefixLength),
  );
  const out: ParsedCidr[] = [];
  for (const p of sorted) {
    const last = out.at(-1);
    if (last && cidrContains(last, p)) continue;
    out.push(p);
  }
  return out;
}

/** True when `ip` is an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, RFC 4291 section 2.5.5.2). */
export function isIPv4Mapped(ip: IpAddress): boolean {
  return ip.family === 6 && ip.value >> 32n === 0xffffn;
}

/** The IPv4 address inside an IPv4-mapped IPv6 address; any other address unchanged. */
export function unmapIPv4(ip: IpAddress): IpAddress {
  if (!isIPv4Mapped(ip)) return ip;
  const value = ip.value & 0xffffffffn;
  return { family: 4, value, text: formatIp(4, value) };
}

/**
 * A set of prefixes answering "is this address in any of them?" (node:net `BlockList`, which
 * matches IPv4-mapped IPv6 addresses against IPv4 prefixes too).
 */
export class CidrSet {
  private readonly list = new BlockList();
  private count = 0;

  /** @param cidrs prefixes to add (see {@link add}). */
  constructor(cidrs: Iterable<ParsedCidr> = []) {
    for (const c of cidrs) this.add(c);
  }

  /** Adds a prefix. */
  add(cidr: ParsedCidr): void {
    this.list.addSubnet(formatIp(cidr.family, cidr.network), cidr.prefixLength, cidr.family === 4 ? 'ipv4' : 'ipv6');
    this.count++;
  }

  /** Number of prefixes added. */
  get size(): number {
    return this.count;
  }

  /** True when `ip` (an address or its text) lies in any prefix of the set; false for non-addresses. */
  has(ip: IpAddress | string): boolean {
    const a = typeof ip === 'string' ? parseIp(ip) : ip;
    if (!a) return false;
    return this.list.check(a.text, a.family === 4 ? 'ipv4' : 'ipv6');
  }
}
