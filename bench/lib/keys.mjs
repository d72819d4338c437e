// Key material for synthetic netmaps (node:crypto only).
//
// Keys are made from random private bytes with createPrivateKey/createPublicKey rather than
// generateKeyPairSync + JWK export: on Node 20.20 a loop of the latter deadlocked once in this
// bench (main thread in ~KeyGenJob() under GC, waiting on a mutex held by ExportJWK; seen with
// gdb), so the bench hung and could not even handle SIGINT.
import { createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';

// PKCS#8 prefixes for raw 32-byte private keys (RFC 8410): X25519 (1.3.101.110), Ed25519 (1.3.101.112).
const X25519_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const ED25519_PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');

function rawPublic(prefix, priv) {
  const key = createPrivateKey({ key: Buffer.concat([prefix, priv]), format: 'der', type: 'pkcs8' });
  return createPublicKey(key).export({ format: 'der', type: 'spki' }).subarray(-32);
}

/** A Curve25519 key pair as WireGuard writes it: { privateKey, publicKey } standard base64 of 32 bytes. */
export function x25519Pair() {
  const priv = randomBytes(32);
  // Clamp as `wg genkey` does (RFC 7748 section 5).
  priv[0] &= 248;
  priv[31] = (priv[31] & 127) | 64;
  return { privateKey: priv.toString('base64'), publicKey: rawPublic(X25519_PKCS8, priv).toString('base64') };
}

/** A raw Ed25519 public key in base64 (netmap `identityKey`). */
export function ed25519PublicB64() {
  return rawPublic(ED25519_PKCS8, randomBytes(32)).toString('base64');
}
