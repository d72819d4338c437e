/**
 * The relay's identity key file (relay identity, docs/relay.md): an Ed25519 private key in
 * PKCS#8 PEM, mode 0600, made on first start. Its public key goes into the netmap's
 * `relays[].identityKey`. The key never leaves the file and the process; it is never logged.
 */
import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { RustynetError, type Logger, type Netmap } from '@rustynet/plugin-api';
import { writeFileAtomic } from '@rustynet/plugin-kit';
import { publicKeyB64 } from '../identity.js';

/** Largest key file read, bytes (a PEM Ed25519 key is 119). */
const MAX_KEY_FILE_BYTES = 4096;

/** A loaded relay identity. */
export interface RelayIdentityKey {
  privateKey: KeyObject;
  /** Raw 32-byte public key, base64: the netmap's `relays[].identityKey`. */
  publicKey: string;
  /** True when this call created the file. */
  created: boolean;
}

/**
 * Reads the relay's identity key from `file`, or creates it (0600, atomically) when it does not
 * exist. @throws RustynetError `INVALID_INPUT` (field `identityKeyFile`) for a file that is not an
 * Ed25519 private key, is larger than 4 KiB or readable by group/others; `PERMISSION_DENIED` / the
 * file system's error when it cannot be read or written.
 */
export async function loadOrCreateRelayIdentity(file: string): Promise<RelayIdentityKey> {
  let st;
  try {
    st = await stat(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError(file, err);
    const { privateKey } = generateKeyPairSync('ed25519');
    try {
      await writeFileAtomic(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    } catch (e) {
      throw fsError(file, e);
    }
    return { privateKey, publicKey: publicKeyB64(privateKey), created: true };
  }
  const bad = (why: string): RustynetError =>
    new RustynetError('INVALID_INPUT', `identityKeyFile ${file}: ${why}`, { field: 'identityKeyFile' });
  if (!st.isFile()) throw bad('not a regular file');
  if ((st.mode & 0o077) !== 0) throw bad(`mode ${(st.mode & 0o777).toString(8)} lets group or others read it; chmod 600`);
  if (st.size > MAX_KEY_FILE_BYTES) throw bad(`larger than ${MAX_KEY_FILE_BYTES} bytes`);
  let pem: Buffer;
  try {
    pem = await readFile(file);
  } catch (err) {
    throw fsError(file, err);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch {
    throw bad('not a PEM private key');
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') throw bad(`a ${privateKey.asymmetricKeyType ?? 'unknown'} key, not Ed25519`);
  return { privateKey, publicKey: publicKeyB64(privateKey), created: false };
}

function fsError(file: string, err: unknown): RustynetError {
  const e = err as NodeJS.ErrnoException;
  const code = e.code === 'EACCES' || e.code === 'EPERM' ? 'PERMISSION_DENIED' : 'INVALID_INPUT';
  return new RustynetError(code, `identityKeyFile ${file}: ${e.message}`, {
    cause: err,
    field: 'identityKeyFile',
    details: { errno: e.code },
  });
}

/**
 * Logs at error level when the netmap lists an identity key for relay `relayId` that is not this
 * relay's (nodes will refuse it), or lists one while this relay has none. Never throws: the relay
 * keeps serving nodes whose netmap is right.
 */
export function checkNetmapRelayKey(netmap: Netmap, relayId: string, identity: RelayIdentityKey | undefined, log: Logger): void {
  const listed = netmap.relays?.find((r) => r.id === relayId)?.identityKey;
  if (listed === undefined || listed === identity?.publicKey) return;
  log.error(
    { relayId, listed, own: identity?.publicKey ?? null },
    identity
      ? "the netmap lists another identity key for this relay: nodes will refuse it (update the control plane's relay config)"
      : 'the netmap lists an identity key for this relay but it has none (start it with its identity key file): nodes will refuse it',
  );
}
