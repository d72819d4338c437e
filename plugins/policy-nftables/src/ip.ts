/**
 * IPv4/IPv6 address and prefix arithmetic used by the resolver, the compiler and the evaluator.
 * Addresses are held as `bigint`s so that one code path serves both families.
 *
 * Text forms: IPv4 dotted quad (RFC 791), IPv6 as in RFC 4291 section 2.2 (with `::` and an
 * optional embedded dotted quad); output of IPv6 follows RFC 5952 (lower case, longest run of
 * zero groups compressed). Zone ids (`%eth0`) are rejected.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** 4 for IPv4, 6 for IPv6. */
export type Family = 4 | 6;

/** A parsed address. */
export interface IpAddress {
  family: Family;
  value: bigint;
}

/** A parsed prefix; `addr` has its host bits cleared. */
export interface Prefix {
  family: Family;
  addr: bigint;
  /** Prefix length, 0..32 (IPv4) or 0..128 (IPv6). */
  len: number;
  /** Cached {@link formatPrefix} text (set by {@link withText}). */
  text?: string;
}

/** Address width in bits. */
export function bits(family: Family): number {
  return family === 4 ? 32 : 128;
}

/** Parses an IPv4 or IPv6 address literal; `undefined` when `text` is not one. */
export function parseIp(text: string): IpAddress | undefined {
  if (isIPv4(text)) return { family: 4, value: parseV4(text) };
  if (isIPv6(text) && !text.includes('%')) return { family: 6, value: parseV6(text) };
  return undefined;
}

function parseV4(text: string): bigint {
  let v = 0n;
  for (const part of text.split('.')) v = (v << 8n) | BigInt(Number(part));
  return v;
}

function parseV6(text: string): bigint {
  let head = text;
  let tailV4: bigint | undefined;
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    tailV4 = parseV4(text.slice(lastColon + 1));
    head = text.slice(0, lastColon + 1) + '0:0';
  }
  const [left, right] = head.includes('::') ? head.split('::') as [string, string] : [head, undefined];
  const leftGroups = left === '' ? [] : left.split(':');
  const rightGroups = right === undefined || right === '' ? [] : right.split(':');
  const missing = 8 - leftGroups.length - rightGroups.length;
  const groups = right === undefined ? leftGroups : [...leftGroups, ...Array<string>(missing).fill('0'), ...rightGroups];
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt(parseInt(g, 16));
  if (tailV4 !== undefined) v = (v & ~0xffffffffn) | tailV4;
  return v;
}

/** Result of {@link parseCidr}. */
export interface ParsedCidr extends Prefix {
  /** True when the text had host bits set (e.g. `10.0.0.1/24`). */
  hostBitsSet: boolean;
}

/**
 * Parses `addr/len`. A bare address is accepted when `allowBare` is true and means a host prefix.
 * @returns `undefined` when the text is not a CIDR.
 */
export function parseCidr(text: string, allowBare = false): ParsedCidr | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) {
    if (!allowBare) return undefined;
    const ip = parseIp(text);
    return ip && { family: ip.family, addr: ip.value, len: bits(ip.family), hostBitsSet: false };
  }
  const ip = parseIp(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (!ip || !/^(0|[1-9]\d{0,2})$/.test(lenText)) return undefined;
  const len = Number(lenText);
  if (len > bits(ip.family)) return undefined;
  const mask = prefixMask(ip.family, len);
  return { family: ip.family, addr: ip.value & mask, len, hostBitsSet: (ip.value & ~mask & allOnes(ip.family)) !== 0n };
}

function allOnes(family: Family): bigint {
  return (1n << BigInt(bits(family))) - 1n;
}

const MASKS: Record<Family, bigint[]> = { 4: [], 6: [] };
for (const family of [4, 6] as const) {
  const w = BigInt(bits(family));
  for (let len = 0; len <= bits(family); len++) {
    MASKS[family].push((allOnes(family) >> (w - BigInt(len))) << (w - BigInt(len)));
  }
}

function prefixMask(family: Family, len: number): bigint {
  return MASKS[family][len] as bigint;
}

/** True when `prefix` contains the address `value` of the same family. */
export function prefixContains(prefix: Prefix, family: Family, value: bigint): boolean {
  return prefix.family === family && (value & prefixMask(family, prefix.len)) === prefix.addr;
}

/** True when `outer` contains all of `inner`. */
export function prefixCovers(outer: Prefix, inner: Prefix): boolean {
  return outer.family === inner.family && outer.len <= inner.len && prefixContains(outer, inner.family, inner.addr);
}

/**
 * Sorts prefixes of one family and drops every prefix contained in another, so the result has
 * no overlaps (two CIDRs either nest or are disjoint) and is deterministic.
 */
export function normalizePrefixes(prefixes: readonly Prefix[]): Prefix[] {
  if (prefixes.length <= 1) return [...prefixes];
  const sorted = [...prefixes].sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : a.len - b.len));
  const out: Prefix[] = [];
  for (const p of sorted) {
    const last = out.at(-1);
    if (last && prefixCovers(last, p)) continue;
    out.push(p);
  }
  return out;
}

/** Formats an address: dotted quad, or RFC 5952 canonical IPv6. */
export function formatIp(family: Family, value: bigint): string {
  if (family === 4) {
    return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 0xffn)).join('.');
  }
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((value >> BigInt(i * 16)) & 0xffffn));
  // Longest run (>= 2) of zero groups, first one on ties (RFC 5952 section 4.2.3).
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** Formats a prefix; host prefixes (`/32`, `/128`) are printed as bare addresses. */
export function formatPrefix(p: Prefix): string {
  if (p.text !== undefined) return p.text;
  const a = formatIp(p.family, p.addr);
  return p.len === bits(p.family) ? a : `${a}/${p.len}`;
}

/** Returns `p` with its text form cached (prefixes are formatted many times by the compiler). */
export function withText(p: Prefix): Prefix {
  return { family: p.family, addr: p.addr, len: p.len, text: formatPrefix({ family: p.family, addr: p.addr, len: p.len }) };
}
