import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { stat, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { RustynetError } from '@rustynet/plugin-api';
import { atomicWriteFile, ensurePrivateDir } from './state-store.js';

/** An Ed25519 key pair: PKCS#8 PEM private key, raw 32-byte public key in base64. */
export interface Ed25519KeyPair {
  privateKeyPem: string;
  publicKeyB64: string;
}

/** Raw 32-byte Ed25519 public key (base64) of a public or private key object. */
function rawPublicB64(key: KeyObject): string {
  const jwk = (key.type === 'private' ? createPublicKey(key) : key).export({ format: 'jwk' });
  if (jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw new RustynetError('KEY_INVALID', 'not an Ed25519 key');
  return Buffer.from(jwk.x, 'base64url').toString('base64');
}

/** Generates an Ed25519 key pair with node:crypto. */
export function generateEd25519KeyPair(): Ed25519KeyPair {
  const { privateKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicKeyB64: rawPublicB64(privateKey),
  };
}

/**
 * Parses a PKCS#8 PEM Ed25519 private key.
 * @throws RustynetError `KEY_INVALID` when it is not one.
 */
export function privateKeyFromPem(pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new RustynetError('KEY_INVALID', 'not a PEM private key', { cause: err });
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new RustynetError('KEY_INVALID', `expected an Ed25519 key, got ${key.asymmetricKeyType}`);
  return key;
}

/**
 * The raw 32-byte Ed25519 public key (base64) of a PEM private key.
 * @throws RustynetError `KEY_INVALID`.
 */
export function publicKeyFromPrivatePem(pem: string): string {
  return rawPublicB64(privateKeyFromPem(pem));
}

/**
 * A public key object from a raw 32-byte Ed25519 key in base64.
 * @throws RustynetError `KEY_INVALID` when it does not decode to 32 bytes.
 */
export function publicKeyFromRawB64(b64: string): KeyObject {
  const raw = Buffer.from(b64, 'base64');
  if (raw.length !== 32 || raw.toString('base64') !== b64) {
    throw new RustynetError('KEY_INVALID', 'Ed25519 public key must be 32 raw bytes in base64', { field: 'publicKey' });
  }
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
}

/** Key id: first 16 hex digits of SHA-256 over the raw 32-byte public key. */
export function keyIdOf(publicKeyB64: string): string {
  return createHash('sha256').update(Buffer.from(publicKeyB64, 'base64')).digest('hex').slice(0, 16);
}

/** Writes a key file atomically with mode 0600, creating its directory with mode 0700. */
export async function writeKeyFile(path: string, pem: string): Promise<void> {
  await ensurePrivateDir(dirname(path));
  await atomicWriteFile(path, pem);
}

/**
 * Reads a private key file.
 * @throws RustynetError `KEY_INVALID` when it is missing, or its mode grants any access to group
 *   or others (it must be 0600 or stricter).
 */
export async function readPrivateKeyFile(path: string): Promise<string> {
  let mode: number;
  try {
    mode = (await stat(path)).mode & 0o777;
  } catch (err) {
    throw new RustynetError('KEY_INVALID', `key file ${path} is missing`, { cause: err, field: 'identityKeyFile' });
  }
  if ((mode & 0o077) !== 0) {
    throw new RustynetError('KEY_INVALID', `key file ${path} has mode ${mode.toString(8).padStart(4, '0')}; it must be 0600`, {
      field: 'identityKeyFile',
    });
  }
  return readFile(path, 'utf8');
}

/**
 * Holds this node's identity key (Ed25519) in memory and signs with it. The key never leaves:
 * callers get signatures, and the raw public key.
 */
export class KeyStore {
  private key: KeyObject | undefined;
  private pub: string | undefined;

  /** Loads the identity key from a 0600 PEM file. @throws RustynetError `KEY_INVALID`. */
  async loadIdentity(path: string): Promise<void> {
    const pem = await readPrivateKeyFile(path);
    this.key = privateKeyFromPem(pem);
    this.pub = rawPublicB64(this.key);
  }

  /** True once {@link loadIdentity} succeeded. */
  get loaded(): boolean {
    return this.key !== undefined;
  }

  /** Raw 32-byte public identity key in base64. @throws RustynetError `KEY_INVALID` if none loaded. */
  publicKey(): string {
    if (!this.pub) throw new RustynetError('KEY_INVALID', 'no identity key loaded');
    return this.pub;
  }

  /** Ed25519 signature (64 bytes) over `data`. @throws RustynetError `KEY_INVALID` if none loaded. */
  sign(data: Uint8Array): Uint8Array {
    if (!this.key) throw new RustynetError('KEY_INVALID', 'no identity key loaded');
    return new Uint8Array(cryptoSign(null, data, this.key));
  }
}
