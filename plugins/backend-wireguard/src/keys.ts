/**
 * WireGuard key files. Keys are Curve25519 (X25519, RFC 7748) as WireGuard uses them: raw 32 bytes,
 * written as standard base64 plus a newline, exactly like `wg genkey` / `wg pubkey` output.
 * All key arithmetic is node:crypto's; nothing here is home-made crypto.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { chmod, mkdir, open, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { RustynetError } from '@rustynet/plugin-api';
import { WG_KEY_PATTERN } from './capabilities.js';

/** File name of the private key inside a key directory (mode 0600). */
export const PRIVATE_KEY_FILE = 'private.key';
/** File name of the public key inside a key directory (mode 0644). */
export const PUBLIC_KEY_FILE = 'public.key';

/** DER prefix of a PKCS#8 `PrivateKeyInfo` for X25519 (RFC 8410 section 7), followed by the raw 32 bytes. */
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

/** Absolute path of the private key file of `directory`. */
export function privateKeyPath(directory: string): string {
  return join(resolve(directory), PRIVATE_KEY_FILE);
}

/** Absolute path of the public key file of `directory`. */
export function publicKeyPath(directory: string): string {
  return join(resolve(directory), PUBLIC_KEY_FILE);
}

/**
 * Derives the WireGuard public key (base64) of a raw 32-byte X25519 private key.
 * Same result as `wg pubkey`.
 */
export function derivePublicKey(rawPrivateKey: Uint8Array): string {
  if (rawPrivateKey.length !== 32) throw new RangeError('X25519 private key must be 32 bytes');
  const der = Buffer.concat([X25519_PKCS8_PREFIX, rawPrivateKey]);
  try {
    const priv = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    const jwk = createPublicKey(priv).export({ format: 'jwk' });
    if (typeof jwk.x !== 'string') throw new Error('no public key');
    return Buffer.from(jwk.x, 'base64url').toString('base64');
  } finally {
    der.fill(0);
  }
}

/**
 * Makes a new private key: a fresh X25519 key from node:crypto, clamped as RFC 7748 section 5
 * (and `wg genkey`) does, so the file matches what wireguard-tools would write.
 * @returns the raw 32 bytes (caller zeroes them when done).
 */
export function newPrivateKey(): Buffer {
  const { privateKey } = generateKeyPairSync('x25519');
  const jwk = privateKey.export({ format: 'jwk' });
  if (typeof jwk.d !== 'string') throw new Error('node:crypto returned no X25519 private key');
  const raw = Buffer.from(jwk.d, 'base64url');
  raw[0] = raw[0] & 248;
  raw[31] = (raw[31] & 127) | 64;
  return raw;
}

function keyInvalid(message: string, file: string, cause?: unknown): RustynetError {
  return new RustynetError('KEY_INVALID', message, { field: 'keyDirectory', details: { file }, cause });
}

/**
 * Writes a new key pair into `directory`: `private.key` (0600) and `public.key` (0644). The
 * directory is created with mode 0700 if missing. Existing files are never overwritten.
 * @returns the public key and the absolute paths written.
 * @throws RustynetError `KEY_INVALID` if either file exists already, `BACKEND_FAILED` on I/O errors.
 */
export async function writeKeyPair(directory: string): Promise<{ publicKey: string; files: string[] }> {
  const dir = resolve(directory);
  const privPath = privateKeyPath(dir);
  const pubPath = publicKeyPath(dir);
  try {
    const created = await mkdir(dir, { recursive: true, mode: 0o700 });
    if (created !== undefined) await chmod(dir, 0o700);
  } catch (err) {
    throw new RustynetError('BACKEND_FAILED', `cannot create key directory ${dir}`, { field: 'keyDirectory', cause: err });
  }
  for (const file of [privPath, pubPath]) {
    const exists = await stat(file).then(
      () => true,
      () => false,
    );
    if (exists) throw keyInvalid(`key file ${file} exists already; refusing to overwrite it`, file);
  }

  const raw = newPrivateKey();
  let wrotePrivate = false;
  try {
    const publicKey = derivePublicKey(raw);
    const privText = Buffer.from(`${raw.toString('base64')}\n`, 'utf8');
    try {
      // O_EXCL: never follow or replace a file that appeared since the check above.
      const fh = await open(privPath, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600);
      wrotePrivate = true;
      try {
        await fh.chmod(0o600);
        await fh.writeFile(privText);
        await fh.sync();
      } finally {
        privText.fill(0);
        await fh.close();
      }
      const ph = await open(pubPath, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o644);
      try {
        await ph.writeFile(`${publicKey}\n`);
        await ph.sync();
      } finally {
        await ph.close();
      }
    } catch (err) {
      if (wrotePrivate) await rm(privPath, { force: true });
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
        throw keyInvalid(`key file exists already in ${dir}; refusing to overwrite it`, dir, err);
      }
      throw new RustynetError('BACKEND_FAILED', `cannot write key files in ${dir}`, { field: 'keyDirectory', cause: err });
    }
    return { publicKey, files: [privPath, pubPath] };
  } finally {
    raw.fill(0);
  }
}

/**
 * Reads and checks `private.key` of `directory`: a regular file with no group or other
 * permission bits (0600 or stricter), holding base64 of exactly 32 bytes (a trailing newline
 * is allowed, as written by `wg genkey`).
 * @returns the raw key bytes (caller zeroes them when done).
 * @throws RustynetError `KEY_INVALID` when missing, unreadable, too open or malformed.
 */
export async function readPrivateKey(directory: string): Promise<Buffer> {
  const file = privateKeyPath(directory);
  let fh;
  try {
    fh = await open(file, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
  } catch (err) {
    throw keyInvalid(`cannot open private key ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, file, err);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw keyInvalid(`private key ${file} is not a regular file`, file);
    if ((st.mode & 0o077) !== 0) {
      throw keyInvalid(`private key ${file} has mode ${(st.mode & 0o777).toString(8)}; it must be 0600`, file);
    }
    if (st.size > 256) throw keyInvalid(`private key ${file} is not a WireGuard key`, file);
    const buf = await fh.readFile();
    try {
      const text = buf.toString('utf8').replace(/\s+$/, '');
      if (!WG_KEY_PATTERN.test(text)) throw keyInvalid(`private key ${file} is not base64 of 32 bytes`, file);
      return Buffer.from(text, 'base64');
    } finally {
      buf.fill(0);
    }
  } finally {
    await fh.close();
  }
}

/**
 * The public key of the key pair in `directory`, derived from `private.key`. When `public.key`
 * exists it must agree.
 * @throws RustynetError `KEY_INVALID` when the private key is missing, too open or malformed, or
 *   `public.key` does not match it.
 */
export async function readPublicKey(directory: string): Promise<string> {
  const raw = await readPrivateKey(directory);
  let derived: string;
  try {
    derived = derivePublicKey(raw);
  } finally {
    raw.fill(0);
  }
  const pubFile = publicKeyPath(directory);
  const stored = await open(pubFile, 'r').then(
    async (fh) => {
      try {
        return (await fh.readFile('utf8')).trim();
      } finally {
        await fh.close();
      }
    },
    () => undefined,
  );
  if (stored !== undefined && stored !== derived) {
    throw keyInvalid(`public key ${pubFile} does not match ${PRIVATE_KEY_FILE}`, pubFile);
  }
  return derived;
}
