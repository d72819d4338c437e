/** The relay server's allowlist: node ids and their Ed25519 identity keys. */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { invalidInput } from '@rustynet/plugin-api';
import { isNodeId } from '../protocol.js';

/** Parses an allowlist into public keys. @throws RustynetError INVALID_INPUT naming the entry. */
export function parseIdentityKeys(
  keys: Readonly<Record<string, unknown>>,
  field = 'identityKeys',
): Map<string, { b64: string; key: KeyObject }> {
  if (typeof keys !== 'object' || keys === null || Array.isArray(keys))
    throw invalidInput(field, 'must be an object {nodeId: base64 Ed25519 key}');
  const out = new Map<string, { b64: string; key: KeyObject }>();
  for (const [id, b64] of Object.entries(keys)) {
    const at = `${field}.${id}`;
    if (!isNodeId(id)) throw invalidInput(at, 'not a node id (DNS label)');
    if (typeof b64 !== 'string' || !/^[A-Za-z0-9+/]{43}=$/.test(b64))
      throw invalidInput(at, 'must be a raw 32-byte Ed25519 public key in base64');
    const raw = Buffer.from(b64, 'base64');
    if (raw.length !== 32) throw invalidInput(at, 'must be a raw 32-byte Ed25519 public key in base64');
    let key: KeyObject;
    try {
      key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
    } catch (cause) {
      throw invalidInput(at, `not a valid Ed25519 public key: ${(cause as Error).message}`);
    }
    out.set(id, { b64, key });
  }
  return out;
}
