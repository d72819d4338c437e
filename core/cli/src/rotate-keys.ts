/**
 * `rustynetd`'s side of `rustynet rotate-keys` (served on the local API as POST /v1/rotate-keys
 * when the daemon follows a control plane):
 *
 * 1. makes a new backend key pair through the backend plugin's own `generateKeyPair` (0600 files)
 *    in `<keyDirectory>.rotating`, and a new Ed25519 identity key in `<identityKeyFile>.rotating`;
 * 2. pauses the long-poll and sends the control plane the new identity key and backend public key,
 *    signed by the OLD identity key, with a proof signed by the new one;
 * 3. once accepted, installs the files (rename: the identity file atomically, then the key
 *    directory), updates the enrolment record, resumes the long-poll with the new identity;
 * 4. has the daemon reload its identity and restart the data plane with the new backend key.
 *
 * Refused (bad proof, key clash, expired node, control plane away): the staging files are removed
 * and nothing changes. Stopped halfway (crash after step 2): {@link recoverRotation} at the next
 * start asks the control plane which identity it knows and completes or discards the staging files.
 */
import { rename, rm, stat, writeFile } from 'node:fs/promises';
import { RustynetError, isRustynetError, type BackendPlugin } from '@rustynet/plugin-api';
import type { ControlClient } from '@rustynet/control/client';
import type { DaemonConfig, DaemonModule } from './daemon-api.js';

/** Suffix of the staging files and directory. */
export const ROTATING_SUFFIX = '.rotating';
/** Suffix the old key directory has for the moment of the swap. */
export const PREVIOUS_SUFFIX = '.previous';

/** What `rustynet rotate-keys` prints. */
export interface RotateKeysReport {
  nodeId: string;
  /** The new identity public key (raw 32 bytes, base64). */
  identityKey: string;
  /** The new backend public keys by protocol id. */
  keys: Record<string, string>;
  /** Netmap version that carries the new keys. */
  version: number;
  /** Time from the request to the control plane until the data plane ran with the new key (ms). */
  switchMs: number;
}

/** What the rotation needs from `rustynetd`. */
export interface RotationContext {
  config: DaemonConfig;
  d: DaemonModule;
  cwd: string;
  client: ControlClient;
  /** Stops / restarts the long-poll (a poll signed by the old identity must not race the switch). */
  pause(): Promise<void>;
  resume(): void;
  /** Rewrites the enrolment record with the new identity. */
  recordIdentity(identityKey: string): Promise<void>;
  /** The daemon's `applyRotatedKeys`. */
  applyRotatedKeys(): Promise<unknown>;
  log(line: string): void;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * Loads the configured backend plugin (not started) to make or read its keys.
 * @throws RustynetError `CONFIG_INVALID` (`backend.plugin` is not a backend); loader errors.
 */
export async function loadBackend(
  config: DaemonConfig,
  d: DaemonModule,
  cwd: string,
): Promise<{ backend: BackendPlugin; protocol: string }> {
  const services = d.createHostServices({ stateDir: config.stateDir, logLevel: 'silent', processMetrics: false });
  const loaded = await d.loadPlugin(config.backend.plugin, { services, expectKind: 'backend', cwd });
  const protocol = loaded.manifest.backend?.protocol;
  if (protocol === undefined || loaded.instance.kind !== 'backend') {
    throw new RustynetError('CONFIG_INVALID', `backend.plugin: ${loaded.manifest.name} is not a backend plugin`, {
      field: 'backend.plugin',
    });
  }
  return { backend: loaded.instance, protocol };
}

/** Puts the staged key directory in place of the live one (old one removed last). */
async function swapKeyDirectory(keyDir: string): Promise<void> {
  const staged = `${keyDir}${ROTATING_SUFFIX}`;
  const previous = `${keyDir}${PREVIOUS_SUFFIX}`;
  await rm(previous, { recursive: true, force: true });
  if (await exists(keyDir)) await rename(keyDir, previous);
  await rename(staged, keyDir);
  await rm(previous, { recursive: true, force: true });
}

async function discardStaging(keyDir: string, identityFile: string): Promise<void> {
  await rm(`${keyDir}${ROTATING_SUFFIX}`, { recursive: true, force: true });
  await rm(`${identityFile}${ROTATING_SUFFIX}`, { force: true });
}

/**
 * Runs one rotation (see the file comment); one at a time.
 * @throws RustynetError `ALREADY_RUNNING` (another rotation is under way), `CONFIG_INVALID` (no identityKeyFile), the control plane's refusal
 *   (`AUTH_FAILED`, `INVALID_INPUT`, `UNKNOWN_PEER`) or transport error (`INTERNAL`, `TIMEOUT`):
 *   nothing changed; a backend key generation error (`KEY_INVALID`, `BACKEND_FAILED`).
 */
export async function rotateKeys(ctx: RotationContext): Promise<RotateKeysReport> {
  if (inFlight) throw new RustynetError('ALREADY_RUNNING', 'a key rotation is under way; wait for it to finish');
  inFlight = true;
  try {
    return await rotateOnce(ctx);
  } finally {
    inFlight = false;
  }
}

let inFlight = false;

async function rotateOnce(ctx: RotationContext): Promise<RotateKeysReport> {
  const { config, d } = ctx;
  const identityFile = config.identityKeyFile;
  if (identityFile === undefined)
    throw new RustynetError('CONFIG_INVALID', 'rotate-keys needs identityKeyFile', { field: 'identityKeyFile' });
  const keyDir = config.backend.keyDirectory;
  const { backend, protocol } = await loadBackend(config, d, ctx.cwd);
  await discardStaging(keyDir, identityFile);
  const pair = await backend.generateKeyPair(`${keyDir}${ROTATING_SUFFIX}`);
  const identity = d.generateEd25519KeyPair();
  await d.writeKeyFile(`${identityFile}${ROTATING_SUFFIX}`, identity.privateKeyPem);
  const keys = { [protocol]: pair.publicKey };
  await ctx.pause();
  const t0 = Date.now();
  let accepted: { version: number; nodeId: string };
  try {
    accepted = await ctx.client.rotateKeys(identity.privateKeyPem, keys);
  } catch (err) {
    await discardStaging(keyDir, identityFile);
    ctx.resume();
    ctx.log(`rotate-keys refused, nothing changed: ${err instanceof Error ? err.message : String(err)}`);
    throw err;
  }
  // Accepted: the control plane knows only the new identity now. Install, then switch.
  await rename(`${identityFile}${ROTATING_SUFFIX}`, identityFile);
  await swapKeyDirectory(keyDir);
  await ctx.recordIdentity(ctx.client.identityKey);
  ctx.resume();
  await ctx.applyRotatedKeys();
  const switchMs = Date.now() - t0;
  ctx.log(`keys rotated: identity ${ctx.client.identityKey}, netmap version ${accepted.version}, data plane switched in ${switchMs} ms`);
  return { nodeId: accepted.nodeId, identityKey: ctx.client.identityKey, keys, version: accepted.version, switchMs };
}

/**
 * At start, before the first request: completes or discards a rotation that was stopped halfway.
 * If `<identityKeyFile>.rotating` exists, a signed poll with it tells whether the control plane
 * accepted it (then the files are installed and the client switches to it) or not (then the
 * staging files are removed). A staged key directory left alone after the identity was installed
 * is swapped in.
 * @returns true when it completed a rotation.
 */
export async function recoverRotation(
  config: DaemonConfig,
  d: DaemonModule,
  client: ControlClient,
  recordIdentity: (identityKey: string) => Promise<void>,
  log: (line: string) => void,
): Promise<boolean> {
  const identityFile = config.identityKeyFile;
  if (identityFile === undefined) return false;
  const keyDir = config.backend.keyDirectory;
  const stagedId = `${identityFile}${ROTATING_SUFFIX}`;
  if (!(await exists(stagedId))) {
    if (!(await exists(keyDir)) && (await exists(`${keyDir}${PREVIOUS_SUFFIX}`))) {
      // Stopped between the two renames of the swap.
      await rename(`${keyDir}${PREVIOUS_SUFFIX}`, keyDir);
    }
    if (await exists(`${keyDir}${ROTATING_SUFFIX}`)) {
      // The identity was installed (so the control plane accepted): finish the directory swap.
      const oldPoll = await client.poll(0, { waitMs: 0 }).then(
        () => true,
        () => false,
      );
      if (oldPoll) {
        log('recovering a rotation stopped halfway: installing the new backend key');
        await swapKeyDirectory(keyDir);
        return true;
      }
      await rm(`${keyDir}${ROTATING_SUFFIX}`, { recursive: true, force: true });
    }
    return false;
  }
  const pem = await d.readPrivateKeyFile(stagedId);
  const previous = client.identityKey;
  client.useIdentity(pem);
  let known = true;
  try {
    await client.poll(0, { waitMs: 0 });
  } catch (err) {
    if (!isRustynetError(err, 'UNKNOWN_PEER')) {
      client.useIdentity(await d.readPrivateKeyFile(identityFile));
      log(
        `a rotation was stopped halfway and the control plane cannot tell now (${String(err)}); keeping identity ${previous}, checking again at the next start`,
      );
      return false;
    }
    known = false;
  }
  if (!known) {
    client.useIdentity(await d.readPrivateKeyFile(identityFile));
    log(`a rotation stopped before the control plane accepted it: discarding its staged keys (identity stays ${previous})`);
    await discardStaging(keyDir, identityFile);
    return false;
  }
  log('recovering a rotation stopped halfway: the control plane knows the new identity; installing the new keys');
  await rename(stagedId, identityFile);
  if (await exists(`${keyDir}${ROTATING_SUFFIX}`)) await swapKeyDirectory(keyDir);
  await recordIdentity(client.identityKey);
  return true;
}

/** Writes `text` to `path` mode 0600 (small JSON records). */
export async function writePrivateJson(path: string, value: unknown): Promise<void> {
  await writeFile(`${path}.tmp`, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  await rename(`${path}.tmp`, path);
}
