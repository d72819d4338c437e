import { createHash } from 'node:crypto';
import canonicalizeModule from 'canonicalize';
import { interopDefault } from './interop.js';

const canonicalizeFn = interopDefault(canonicalizeModule) as (input: unknown) => string | undefined;

/**
 * RFC 8785 (JSON Canonicalization Scheme) serialisation, via the `canonicalize` package.
 * @throws TypeError when `value` has no JSON representation.
 */
export function canonicalJson(value: unknown): string {
  const out = canonicalizeFn(value);
  if (out === undefined) throw new TypeError('value has no JSON representation');
  return out;
}

/** Lower-case hex SHA-256 of a string (UTF-8) or bytes. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** SHA-256 hex digest of the RFC 8785 canonical JSON of `value`. */
export function jsonDigest(value: unknown): string {
  return sha256Hex(canonicalJson(value));
}

const OPEN_OBJECT = Buffer.from('{');
const CLOSE_OBJECT = Buffer.from('}');
const OPEN_ARRAY = Buffer.from('[');
const CLOSE_ARRAY = Buffer.from(']');
const COMMA = Buffer.from(',');

/** Containers at depth below this are laid out here; deeper values go to `canonicalJson` whole. */
const CHUNK_DEPTH = 2;

function canonicalParts(value: unknown, depth: number, out: Buffer[]): void {
  if (depth >= CHUNK_DEPTH || value === null || typeof value !== 'object' || typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    out.push(Buffer.from(canonicalJson(value), 'utf8'));
    return;
  }
  if (Array.isArray(value)) {
    out.push(OPEN_ARRAY);
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out.push(COMMA);
      const v: unknown = value[i];
      canonicalParts(v === undefined || typeof v === 'symbol' ? null : v, depth + 1, out);
    }
    out.push(CLOSE_ARRAY);
    return;
  }
  const obj = value as Record<string, unknown>;
  out.push(OPEN_OBJECT);
  let first = true;
  // Default sort: UTF-16 code units, as RFC 8785 section 3.2.3 requires (and `canonicalize` does).
  for (const key of Object.keys(obj).sort()) {
    const v = obj[key];
    if (v === undefined || typeof v === 'symbol') continue;
    if (!first) out.push(COMMA);
    first = false;
    out.push(Buffer.from(`${JSON.stringify(key)}:`, 'utf8'));
    canonicalParts(v, depth + 1, out);
  }
  out.push(CLOSE_OBJECT);
}

/**
 * The RFC 8785 canonical JSON of `value` as UTF-8 bytes: byte for byte `canonicalJson(value)`.
 * The outer two levels of containers (a netmap and its node list) are laid out here and every
 * element below is serialised by `canonicalize` on its own and encoded at once, so the library's
 * intermediate strings stay small and short-lived: serialising a large netmap in one call keeps
 * a rope of the whole document alive until the end, which a small young generation has to copy.
 * @throws TypeError when `value` has no JSON representation; Error for NaN or Infinity.
 */
export function canonicalJsonBytes(value: unknown): Buffer {
  const out: Buffer[] = [];
  canonicalParts(value, 0, out);
  return Buffer.concat(out);
}
