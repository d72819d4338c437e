/**
 * CIDR helpers of the daemon, on `@rustynet/plugin-kit`'s CIDR module (one parser for the daemon
 * and every plugin). This file keeps the daemon's view of a prefix: the address as 32-bit words
 * (no BigInt for callers) and a canonical key.
 */
import { cidrAddress as kitCidrAddress, parseCidr as kitParseCidr, type ParsedCidr as KitCidr } from '@rustynet/plugin-kit';

/**
 * A parsed IP prefix. `bits` is 32 (IPv4) or 128 (IPv6). `words` holds the address as unsigned
 * 32-bit words, most significant first (one word for IPv4, four for IPv6). Treat as immutable:
 * {@link parseCidr} returns shared objects.
 */
export interface ParsedCidr {
  readonly family: 4 | 6;
  readonly words: readonly number[];
  readonly prefixLength: number;
  readonly bits: 32 | 128;
  /** {@link cidrKey} of this prefix (computed once, with the parse). */
  readonly key: string;
  /** True when a bit after the prefix length is set. */
  readonly hostBitsSet: boolean;
}

/** Daemon views of the kit's (cached, shared) prefixes, so each text is converted once. */
const views = new WeakMap<KitCidr, ParsedCidr>();

function view(p: KitCidr): ParsedCidr {
  let v = views.get(p);
  if (v === undefined) {
    const count = p.family === 4 ? 1 : 4;
    const words: number[] = [];
    for (let i = count - 1; i >= 0; i--) words.push(Number((p.address >> BigInt(32 * i)) & 0xffffffffn));
    v = { family: p.family, words, prefixLength: p.prefixLength, bits: p.bits, key: p.key, hostBitsSet: p.hostBitsSet };
    views.set(p, v);
  }
  return v;
}

/**
 * Parses `addr/len` (IPv4 dotted quad or RFC 4291 IPv6 text). Results are cached by text, so the
 * prefixes of a netmap are parsed once even though semantics checks and desired state both look
 * at them.
 * @returns the parsed prefix (shared, immutable), or `undefined` when the text is not a valid CIDR.
 */
export function parseCidr(cidr: string): ParsedCidr | undefined {
  const p = kitParseCidr(cidr);
  return p && view(p);
}

/** True when every bit after the prefix length is zero (`10.0.0.0/8` yes, `10.0.0.1/8` no). */
export function hostBitsZero(p: ParsedCidr): boolean {
  return !p.hostBitsSet;
}

/** True for a host prefix (`/32` or `/128`). */
export function isHostPrefix(p: ParsedCidr): boolean {
  return p.prefixLength === p.bits;
}

/** The address part of a CIDR (`100.64.0.1/32` -> `100.64.0.1`). */
export function cidrAddress(cidr: string): string {
  return kitCidrAddress(cidr);
}

/** A canonical text key of a prefix, so `fd00::1/128` and `fd00:0::1/128` compare equal. */
export function cidrKey(p: ParsedCidr): string {
  return p.key;
}
