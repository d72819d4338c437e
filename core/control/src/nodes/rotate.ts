/**
 * Node key rotation on the control plane: checks a rotation request of an authenticated node
 * (signed with its old identity key) and stores the new identity and backend keys in one
 * transaction that issues a new netmap version. Peers get the new backend key with their next
 * map; the old identity key stops working at once (its next request gets `UNKNOWN_PEER`).
 */
import { RustynetError } from '@rustynet/plugin-api';
import { verifyEd25519 } from '../auth/request-signature.js';
import { authFailed } from '../errors.js';
import type { ControlStore } from '../store/control-store.js';
import type { ControlNode } from '../store/types.js';
import { rotateSigningBytes, type RotateKeysBody } from './rotate-request.js';

/** Outcome of a rotation. */
export interface RotateResult {
  node: ControlNode;
  version: number;
}

/**
 * Verifies the proof of possession of the new identity key and stores the new keys.
 * @param node the node as authenticated by its old identity key (request signature, nonce,
 *   timestamp: see `ControlService.authenticate`).
 * @throws RustynetError `INVALID_INPUT` (`newIdentityKey` equal to the old one or held by another
 *   node, `keys.<protocol>` held by another node), `AUTH_FAILED` (`rotation-proof-invalid`),
 *   `UNKNOWN_PEER` (rotated or removed meanwhile), `STORAGE_FAILED`. Nothing changed on error.
 */
export async function rotateNodeKeys(
  store: ControlStore,
  node: ControlNode,
  body: RotateKeysBody,
  now = Date.now(),
): Promise<RotateResult> {
  if (body.newIdentityKey === node.identityKey) {
    throw new RustynetError('INVALID_INPUT', 'newIdentityKey equals the current identity key: generate a new one', {
      field: 'newIdentityKey',
    });
  }
  const signed = rotateSigningBytes({ oldIdentityKey: node.identityKey, newIdentityKey: body.newIdentityKey, keys: body.keys });
  if (!verifyEd25519(body.newIdentityKey, signed, body.proof)) {
    throw authFailed('rotation-proof-invalid', 'proof does not verify with newIdentityKey (the node must sign with the new identity key)');
  }
  return store.rotateKeys(node.identityKey, body.newIdentityKey, body.keys, now);
}
