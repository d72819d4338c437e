/** Key pair files (format: key-format.ts): private key 0600 in a 0700 directory, never logged. */
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RustynetError } from '@rustynet/plugin-api';
import { PRIVATE_KEY_FILE, PUBLIC_KEY_FILE, isPeerKey, newKeyPair, pemToPeerKey } from './key-format.js';

const exists = (p: string): Promise<boolean> =>
  stat(p).then(
    () => true,
    () => false,
  );

/**
 * Writes a new RSA key pair (node:crypto) into `dir` (created 0700).
 * @returns the public key in netmap form and the files written.
 * @throws RustynetError `KEY_INVALID` if a key exists already.
 */
export async function generateKeyPair(dir: string): Promise<{ publicKey: string; files: string[] }> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const priv = join(dir, PRIVATE_KEY_FILE);
  const pub = join(dir, PUBLIC_KEY_FILE);
  if ((await exists(priv)) || (await exists(pub))) throw new RustynetError('KEY_INVALID', `${priv} exists already`, { field: 'directory' });
  const pair = newKeyPair();
  await writeFile(priv, pair.privatePem, { mode: 0o600, flag: 'wx' });
  // 0600 too: the kit (and a careful operator) treats every file of a key directory as private.
  await writeFile(pub, pair.publicPem, { mode: 0o600, flag: 'wx' });
  return { publicKey: pair.publicKey, files: [priv, pub] };
}

/**
 * Reads the public key of `dir` in netmap form, checking the private key file is 0600.
 * @throws RustynetError `KEY_INVALID` when missing, malformed or readable by others.
 */
export async function readPublicKey(dir: string): Promise<string> {
  const priv = join(dir, PRIVATE_KEY_FILE);
  const st = await stat(priv).catch(() => undefined);
  if (!st) throw new RustynetError('KEY_INVALID', `${priv} is missing`, { field: 'directory' });
  if ((st.mode & 0o077) !== 0) throw new RustynetError('KEY_INVALID', `${priv} must be mode 0600`, { field: 'directory' });
  const pubPath = join(dir, PUBLIC_KEY_FILE);
  let key: string | undefined;
  try {
    key = pemToPeerKey(await readFile(pubPath, 'utf8'));
  } catch {
    key = undefined;
  }
  if (!isPeerKey(key))
    throw new RustynetError('KEY_INVALID', `${pubPath} is missing or not a 2048-bit RSA public key`, { field: 'directory' });
  return key;
}

/** Path of the private key file tinc reads itself (`PrivateKeyFile`): the key never travels. */
export function privateKeyPath(dir: string): string {
  return join(dir, PRIVATE_KEY_FILE);
}
