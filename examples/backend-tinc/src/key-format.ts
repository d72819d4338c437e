/**
 * The one place that defines this plugin's key format. tinc 1.0 authenticates nodes with RSA
 * keys in PEM files (tinc(5): `PrivateKeyFile`, the public key inside `hosts/<name>`), read by
 * OpenSSL's `PEM_read_RSAPrivateKey` / `PEM_read_RSAPublicKey`, i.e. PKCS#1:
 *
 * - on disk: `rsa_key.priv` (`-----BEGIN RSA PRIVATE KEY-----`, mode 0600, in a 0700 directory)
 *   and `rsa_key.pub` (`-----BEGIN RSA PUBLIC KEY-----`, 0600 too);
 * - in the netmap (`node.keys.tinc`, {@link PEER_KEY_PATTERN}): the base64 (RFC 4648 section 4) of
 *   the DER `RSAPublicKey` of a 2048-bit key with exponent 65537, one line, 360 characters;
 * - as a tinc node name ({@link tincName}): `rn_` and the first 24 hex digits of the SHA-256 of
 *   that DER. Both ends derive the name from the key, so no name travels in the netmap, and a
 *   changed key is a different node for tinc.
 */
import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';

/** RSA modulus size in bits; tinc 1.0's own default (`tincd -K`). */
export const RSA_BITS = 2048;
/** Private key file in the key directory (PKCS#1 PEM, 0600). */
export const PRIVATE_KEY_FILE = 'rsa_key.priv';
/** Public key file in the key directory (PKCS#1 PEM, 0600 like everything in the key directory). */
export const PUBLIC_KEY_FILE = 'rsa_key.pub';
/**
 * Base64 DER of a 2048-bit PKCS#1 `RSAPublicKey` with e = 65537: the fixed DER header
 * (`30 82 01 0a 02 82 01 01 00`), 344 characters of modulus, and `AQAB` (the exponent's last
 * bytes). Keep equal to `backend.peerKeySchema.pattern` in rustynet-plugin.json.
 */
export const PEER_KEY_PATTERN = /^MIIBCgKCAQEA[A-Za-z0-9+/]{344}AQAB$/;

/** A new key pair: the private key as PKCS#1 PEM, the public key as PEM and in netmap form. */
export function newKeyPair(): { privatePem: string; publicPem: string; publicKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: RSA_BITS, publicExponent: 65537 });
  const privatePem = privateKey.export({ type: 'pkcs1', format: 'pem' }) as string;
  const publicPem = publicKey.export({ type: 'pkcs1', format: 'pem' }) as string;
  return { privatePem, publicPem, publicKey: pemToPeerKey(publicPem) };
}

/**
 * The netmap form of a PKCS#1 public key PEM.
 * @throws Error (from node:crypto) when `pem` is not an RSA public key.
 */
export function pemToPeerKey(pem: string): string {
  const der = createPublicKey({ key: pem, format: 'pem' }).export({ type: 'pkcs1', format: 'der' });
  return der.toString('base64');
}

/** The PKCS#1 PEM block tinc reads from a `hosts/<name>` file, for a key in netmap form. */
export function peerKeyToPem(key: string): string {
  const body = key.match(/.{1,64}/g)?.join('\n') ?? '';
  return `-----BEGIN RSA PUBLIC KEY-----\n${body}\n-----END RSA PUBLIC KEY-----\n`;
}

/** True when `key` matches {@link PEER_KEY_PATTERN} and node:crypto parses it as an RSA key. */
export function isPeerKey(key: unknown): key is string {
  if (typeof key !== 'string' || !PEER_KEY_PATTERN.test(key)) return false;
  try {
    const k = createPublicKey({ key: Buffer.from(key, 'base64'), format: 'der', type: 'pkcs1' });
    return k.asymmetricKeyType === 'rsa' && k.asymmetricKeyDetails?.modulusLength === RSA_BITS;
  } catch {
    return false;
  }
}

/** The tinc node name (`[A-Za-z0-9_]`, tinc(5) `Name`) of the node holding `key`. */
export function tincName(key: string): string {
  return `rn_${createHash('sha256').update(Buffer.from(key, 'base64')).digest('hex').slice(0, 24)}`;
}
