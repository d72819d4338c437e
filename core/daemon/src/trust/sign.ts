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
 *
 * The envelope's `netmap` is the signed netmap read back from those bytes: equal to `netmap` as
 * JSON, with every object's members in canonical order, so the envelope's `JSON.stringify` text
 * holds the netmap in its canonical form and a receiver's canonicalisation is one native
 * `JSON.stringify` per node (see `canonicalJsonBytes`) instead of a sort and rebuild.
 * @throws RustynetError `KEY_INVALID` when the key is not an Ed25519 private key.
 */
export function signNetmap(netmap: Netmap, privateKeyPem: string): SignedNetmap {
  const key = privateKeyFromPem(privateKeyPem);
  const bytes = netmapSigningBytes(netmap);
  const value = cryptoSign(null, bytes, key).toString('base64');
  const ordered = JSON.parse(bytes.toString('utf8')) as Netmap;
  return { netmap: ordered, signature: { alg: 'Ed25519', keyId: keyIdOf(publicKeyFromPrivatePem(privateKeyPem)), value } };
}
