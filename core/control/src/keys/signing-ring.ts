/**
 * The signing keys this instance holds: its primary key (`control-plane.key` or `--key-file`)
 * and the rotation keys in `<data>/signing-keys/<keyId>.key` (Ed25519 PKCS#8 PEM, 0600, the
 * directory 0700). `--announce` generates the next key there; other instances on the same
 * database get it the way they got the primary key: the operator copies the file into their data
 * directory (docs/operations/key-rotation.md). The directory is re-read when a stored key is
 * not held yet, so a copied file is picked up without a restart.
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  atomicWriteFile,
  generateEd25519KeyPair,
  keyIdOf,
  publicKeyFromPrivatePem,
  readPrivateKeyFile,
  writeKeyFile,
} from '@rustynet/daemon';
import type { ControlKey } from '../control-key.js';
import { toRustynetError } from '../errors.js';

/** Directory (under the data directory) of rotation keys. */
export const SIGNING_KEYS_DIR = 'signing-keys';

/** The keys of this instance by public key. */
export class SigningKeyRing {
  private readonly keys = new Map<string, ControlKey>();
  /** Files that failed to load at the last scan (path -> reason), for the status. */
  readonly broken = new Map<string, string>();

  constructor(
    readonly primary: ControlKey,
    private readonly dataDir: string,
  ) {
    this.keys.set(primary.publicKey, primary);
  }

  /** The key directory. */
  get dir(): string {
    return join(this.dataDir, SIGNING_KEYS_DIR);
  }

  /** The held key with this public key, if any. */
  get(publicKey: string): ControlKey | undefined {
    return this.keys.get(publicKey);
  }

  /** Re-reads `<data>/signing-keys/*.key`. A file that fails (mode, format) is skipped and noted. */
  async rescan(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return;
    }
    for (const name of names.filter((n) => /^[0-9a-f]{16}\.key$/.test(n))) {
      const path = join(this.dir, name);
      try {
        const privateKeyPem = await readPrivateKeyFile(path);
        const publicKey = publicKeyFromPrivatePem(privateKeyPem);
        this.keys.set(publicKey, { privateKeyPem, publicKey, keyId: keyIdOf(publicKey) });
        this.broken.delete(path);
      } catch (err) {
        this.broken.set(path, err instanceof Error ? err.message : String(err));
      }
    }
  }

  /** Deletes a generated key that was never announced (best effort). */
  async discard(key: ControlKey): Promise<void> {
    this.keys.delete(key.publicKey);
    await Promise.all([`${key.keyId}.key`, `${key.keyId}.pub`].map((f) => rm(join(this.dir, f), { force: true }).catch(() => undefined)));
  }

  /**
   * Generates a new key into `<data>/signing-keys/<keyId>.key` (0600) and `<keyId>.pub`.
   * @throws RustynetError `STORAGE_FAILED` / `STATE_WRITE_FAILED` (nothing usable written).
   */
  async generate(): Promise<ControlKey> {
    const pair = generateEd25519KeyPair();
    const keyId = keyIdOf(pair.publicKeyB64);
    try {
      await writeKeyFile(join(this.dir, `${keyId}.key`), pair.privateKeyPem);
      await atomicWriteFile(join(this.dir, `${keyId}.pub`), `${pair.publicKeyB64}\n`);
    } catch (err) {
      throw toRustynetError(err);
    }
    const key = { privateKeyPem: pair.privateKeyPem, publicKey: pair.publicKeyB64, keyId };
    this.keys.set(key.publicKey, key);
    return key;
  }
}
