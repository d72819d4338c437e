import { createHash } from 'node:crypto';
import canonicalizeModule from 'canonicalize';

const canonicalizeFn = ((canonicalizeModule as unknown as { default?: unknown }).default ?? canonicalizeModule) as (
  input: unknown,
) => string | undefined;

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
