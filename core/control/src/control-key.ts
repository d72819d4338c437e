/**
 * The control-plane signing key: an Ed25519 PKCS#8 PEM in `<data>/control-plane.key` (0600),
 * created at first start with the daemon's key helpers; its public half in `control-plane.pub`
 * (what operators give every daemon as `trust.controlPlaneKey`).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  atomicWriteFile,
  generateEd25519KeyPair,
  keyIdOf,
  publicKeyFromPrivatePem,
  readPrivateKeyFile,
  writeKeyFile,
} from '@rustynet/daemon';
import { toRustynetError } from './errors.js';

/** File name of the private key in the data directory. */
export const CONTROL_KEY_FILE = 'control-plane.key';
/** File name of the public key (base64 raw Ed25519) in the data directory. */
export const CONTROL_PUB_FILE = 'control-plane.pub';

/** The loaded key. `privateKeyPem` is a secret: never log it. */
export interface ControlKey {
  privateKeyPem: string;
  publicKey: string;
  keyId: string;
}

/**
 * Loads the key from `keyFile` (default `<dataDir>/control-plane.key`), generating it first when
 * absent and no explicit file was given.
 * @throws RustynetError `KEY_INVALID` (malformed, or mode not 0600), `STORAGE_FAILED`.
 */
export async function loadOrCreateControlKey(dataDir: string, keyFile?: string): Promise<ControlKey> {
  const path = keyFile ?? join(dataDir, CONTROL_KEY_FILE);
  if (keyFile === undefined && !existsSync(path)) {
    const pair = generateEd25519KeyPair();
    try {
      await writeKeyFile(path, pair.privateKeyPem);
      await atomicWriteFile(join(dataDir, CONTROL_PUB_FILE), `${pair.publicKeyB64}\n`);
    } catch (err) {
      throw toRustynetError(err);
    }
  }
  const privateKeyPem = await readPrivateKeyFile(path);
  const publicKey = publicKeyFromPrivatePem(privateKeyPem);
  return { privateKeyPem, publicKey, keyId: keyIdOf(publicKey) };
}
