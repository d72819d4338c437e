import { generateKeyPairSync } from 'node:crypto';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RustynetError } from '@rustynet/plugin-api';
import { KEY_PATTERN } from './validate.js';

/** Private key file (mode 0600): base64 of the raw 32-byte X25519 private key. */
export const PRIVATE_KEY_FILE = 'private.key';
/** Public key file (0644): base64 of the raw 32-byte X25519 public key. */
export const PUBLIC_KEY_FILE = 'public.key';

/**
 * Writes a new X25519 key pair (node:crypto; no invented crypto) into `dir` (created 0700).
 * Replace with your protocol's key format if it has one.
 * @throws RustynetError `KEY_INVALID` if a key exists already.
 */
export async function generateKeyPair(dir: string): Promise<{ publicKey: string; files: string[] }> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const priv = join(dir, PRIVATE_KEY_FILE);
  const pub = join(dir, PUBLIC_KEY_FILE);
  if (
    await stat(priv).then(
      () => true,
      () => false,
    )
  )
    throw new RustynetError('KEY_INVALID', `${priv} exists already`, { field: 'directory' });
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  const { d } = privateKey.export({ format: 'jwk' });
  const { x } = publicKey.export({ format: 'jwk' });
  if (d === undefined || x === undefined)
    throw new RustynetError('INTERNAL', 'node:crypto exported an x25519 key pair without its d or x field');
  const privB64 = Buffer.from(d, 'base64url').toString('base64');
  const pubB64 = Buffer.from(x, 'base64url').toString('base64');
  await writeFile(priv, `${privB64}\n`, { mode: 0o600, flag: 'wx' });
  await writeFile(pub, `${pubB64}\n`, { mode: 0o644, flag: 'wx' });
  return { publicKey: pubB64, files: [priv, pub] };
}

/**
 * Reads the public key of `dir`, checking the private key file is 0600.
 * @throws RustynetError `KEY_INVALID` when missing, malformed or readable by others.
 */
export async function readPublicKey(dir: string): Promise<string> {
  const priv = join(dir, PRIVATE_KEY_FILE);
  const st = await stat(priv).catch(() => undefined);
  if (!st) throw new RustynetError('KEY_INVALID', `${priv} is missing`, { field: 'directory' });
  if ((st.mode & 0o077) !== 0) throw new RustynetError('KEY_INVALID', `${priv} must be mode 0600`, { field: 'directory' });
  const pub = (await readFile(join(dir, PUBLIC_KEY_FILE), 'utf8').catch(() => '')).trim();
  if (!KEY_PATTERN.test(pub))
    throw new RustynetError('KEY_INVALID', `${join(dir, PUBLIC_KEY_FILE)} is missing or malformed`, { field: 'directory' });
  return pub;
}
