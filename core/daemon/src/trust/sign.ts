import { sign as cryptoSign } from 'node:crypto';
import type { Netmap, SignedNetmap } from '@rustynet/plugin-api';
import { keyIdOf, privateKeyFromPem, publicKeyFromPrivatePem } from '../services/key-store.js';
import { canonicalJsonBytes } from '../util/json.js';

/** The bytes a netmap signature covers: the RFC 8785 canonical JSON of the netmap, UTF-8. */
export function netmapSigningBytes(netmap: unknown): Buffer {
  return canonicalJsonBytes(netmap);
}

/**
 * Signs a netmap with the control-plane Ed25519 private key (PKCS#8 PEM): Ed25519 (RFC 8032)
 * over the RFC 8785 canonical JSON of `netmap`. Does not validate the netmap.
 * @throws RustynetError `KEY_INVALID` when the key is not an Ed25519 private key.
 */
export function signNetmap(netmap: Netmap, privateKeyPem: string): SignedNetmap {
  const key = privateKeyFromPem(privateKeyPem);
  const value = cryptoSign(null, netmapSigningBytes(netmap), key).toString('base64');
  return { netmap, signature: { alg: 'Ed25519', keyId: keyIdOf(publicKeyFromPrivatePem(privateKeyPem)), value } };
}
