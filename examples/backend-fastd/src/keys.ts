/**
 * Key pair files (format: key-format.ts). fastd generates the pair: the secret arrives on
 * fastd's stdout (a pipe to this process, never a command line, an environment or a log) and
 * goes straight into a 0600 file; the public key is then read back with `fastd --config
 * <that file> --show-key`, so the two always belong together.
 */
import { chmod, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RustynetError, type CommandRunner } from '@rustynet/plugin-api';
import { PEER_KEY_PATTERN, PUBLIC_KEY_FILE, SECRET_FILE, SECRET_KEY_FILE, isPeerKey, secretFileText } from './key-format.js';

const exists = (p: string): Promise<boolean> =>
  stat(p).then(
    () => true,
    () => false,
  );

/**
 * Writes a new fastd key pair into `dir` (created 0700).
 * @returns the public key in netmap form and the files written.
 * @throws RustynetError `KEY_INVALID` if a key exists already; `BACKEND_FAILED` when fastd fails.
 */
export async function generateKeyPair(runner: CommandRunner, dir: string): Promise<{ publicKey: string; files: string[] }> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const secretFile = join(dir, SECRET_FILE);
  const keyFile = join(dir, SECRET_KEY_FILE);
  const pubFile = join(dir, PUBLIC_KEY_FILE);
  if ((await exists(secretFile)) || (await exists(keyFile)) || (await exists(pubFile)))
    throw new RustynetError('KEY_INVALID', `${secretFile} exists already`, { field: 'directory' });
  const gen = await runner.run('fastd', ['--generate-key', '--machine-readable'], { reject: false });
  const secret = gen.stdout.trim();
  if (gen.exitCode !== 0 || !PEER_KEY_PATTERN.test(secret))
    throw new RustynetError('BACKEND_FAILED', 'fastd --generate-key failed', { details: { exitCode: gen.exitCode, stderr: gen.stderr } });
  await writeFile(keyFile, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  await writeFile(secretFile, secretFileText(secret), { mode: 0o600, flag: 'wx' });
  const show = await runner.run('fastd', ['--config', secretFile, '--show-key', '--machine-readable'], { reject: false });
  const publicKey = show.stdout.trim();
  if (show.exitCode !== 0 || !isPeerKey(publicKey)) {
    await rm(secretFile, { force: true });
    await rm(keyFile, { force: true });
    throw new RustynetError('BACKEND_FAILED', 'fastd --show-key failed', { details: { exitCode: show.exitCode, stderr: show.stderr } });
  }
  // 0600 too: the kit (and a careful operator) treats every file of a key directory as private.
  await writeFile(pubFile, `${publicKey}\n`, { mode: 0o600, flag: 'wx' });
  return { publicKey, files: [keyFile, secretFile, pubFile] };
}

/**
 * Reads the public key of `dir` in netmap form, checking the secret key file is 0600.
 * @throws RustynetError `KEY_INVALID` when missing, malformed or readable by others.
 */
export async function readPublicKey(dir: string): Promise<string> {
  const secretFile = join(dir, SECRET_FILE);
  const st = await stat(secretFile).catch(() => undefined);
  if (!st) throw new RustynetError('KEY_INVALID', `${secretFile} is missing`, { field: 'directory' });
  if ((st.mode & 0o077) !== 0) throw new RustynetError('KEY_INVALID', `${secretFile} must be mode 0600`, { field: 'directory' });
  const pubFile = join(dir, PUBLIC_KEY_FILE);
  const key = (await readFile(pubFile, 'utf8').catch(() => '')).trim();
  if (!isPeerKey(key))
    throw new RustynetError('KEY_INVALID', `${pubFile} is missing or not a fastd public key (64 hex digits)`, { field: 'directory' });
  return key;
}

/** Path of the secret key fragment fastd.conf includes: the key never travels. */
export function secretFilePath(dir: string): string {
  return join(dir, SECRET_FILE);
}
