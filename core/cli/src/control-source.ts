/**
 * `rustynetd`'s side of the control plane (`netmap.control` in the daemon config): reads the
 * identity key and the pre-auth key file (both 0600; the pre-auth key is never logged, never
 * put on a command line or in an environment), enrols once (the enrolment is remembered in the
 * state directory; re-enrolling the same identity keeps its node and addresses), pins the
 * control-plane key from the config's `controlPlaneKey`, reports the node's endpoints, backend
 * public key and probe port, and builds the `ControlNetmapSource` the daemon polls. Every map
 * still goes through the daemon's trust (signature, schema, expiry, watermark).
 *
 * The daemon never imports the control package (control depends on daemon); this file is where
 * the two meet.
 */
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ControlSourceConfig } from '@rustynet/daemon';
import { RustynetError, isRustynetError } from '@rustynet/plugin-api';
import type { ControlClient, ControlNetmapSource } from '@rustynet/control/client';
import type { DaemonConfig, DaemonModule } from './daemon-api.js';
import { reenrolWhenExpired } from './control-reauth.js';
import { loadBackend, recoverRotation, writePrivateJson } from './rotate-keys.js';

/** The enrolment record kept in the state directory (no secrets). */
interface EnrolmentRecord {
  url: string;
  identityKey: string;
  nodeId: string;
  addresses: string[];
}

/** What {@link prepareControlSource} returns: the source, and its start/stop. */
export interface ControlSourceHandle {
  source: ControlNetmapSource;
  /** The client (its identity changes with `rotate-keys`). */
  client: ControlClient;
  /** Stops the long-poll for a moment (`rotate-keys`); {@link resume} starts it again. */
  pause(): Promise<void>;
  resume(): void;
  /** Rewrites the enrolment record with a new identity key (after `rotate-keys`). */
  recordIdentity(identityKey: string): Promise<void>;
  /** Starts the long-poll; `onUpdate` runs on each new map (the daemon ingests it). */
  start(onUpdate: () => void): void;
  stop(): Promise<void>;
}

const ENROLMENT_FILE = 'control-enrolment.json';

/**
 * Reads a secret file that must be mode 0600 or stricter.
 * @throws RustynetError `CONFIG_INVALID` naming `field` when missing, readable by others or empty.
 */
export async function readSecretFile(path: string, field: string): Promise<string> {
  let mode: number;
  try {
    mode = (await stat(path)).mode & 0o777;
  } catch (cause) {
    throw new RustynetError('CONFIG_INVALID', `${field}: ${path} cannot be read`, { field, cause });
  }
  if ((mode & 0o077) !== 0) {
    throw new RustynetError('CONFIG_INVALID', `${field}: ${path} has mode ${mode.toString(8).padStart(4, '0')}; it must be 0600`, {
      field,
    });
  }
  const text = (await readFile(path, 'utf8')).trim();
  if (text === '') throw new RustynetError('CONFIG_INVALID', `${field}: ${path} is empty`, { field });
  return text;
}

/** The backend's public key by protocol, read through the backend plugin itself (opaque here). */
async function backendKeys(config: DaemonConfig, d: DaemonModule, cwd: string): Promise<Record<string, string>> {
  const { backend, protocol } = await loadBackend(config, d, cwd);
  return { [protocol]: await backend.publicKey(config.backend.keyDirectory) };
}

async function readRecord(path: string): Promise<EnrolmentRecord | undefined> {
  try {
    const parsed: unknown = JSON.parse(await readFile(path, 'utf8'));
    if (parsed !== null && typeof parsed === 'object' && 'nodeId' in parsed && 'identityKey' in parsed && 'url' in parsed) {
      return parsed as EnrolmentRecord;
    }
  } catch {
    // absent or unreadable: not enrolled
  }
  return undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** True for errors worth a retry (the control plane is away or slow), false for refusals. */
function transient(err: unknown): boolean {
  return isRustynetError(err, 'INTERNAL') || isRustynetError(err, 'TIMEOUT') || isRustynetError(err, 'STORAGE_FAILED');
}

/** Whether the control plane knows this identity already (a signed poll that does not wait). */
async function alreadyEnrolled(client: ControlClient): Promise<boolean> {
  try {
    await client.poll(0, { waitMs: 0 });
    return true;
  } catch {
    return false;
  }
}

/**
 * Enrols (unless the state directory records an enrolment of this identity with this control
 * plane) and builds the source. Transient failures are retried with jittered back-off.
 * @param log one line per event, for stderr; never given secrets.
 * @throws RustynetError `CONFIG_INVALID` (files, pinned key or node name mismatch), `AUTH_FAILED`
 *   (pre-auth key refused).
 */
export async function prepareControlSource(
  config: DaemonConfig,
  control: ControlSourceConfig,
  d: DaemonModule,
  log: (line: string) => void,
  cwd: string = process.cwd(),
): Promise<ControlSourceHandle> {
  const c = await import('@rustynet/control/client');
  if (config.identityKeyFile === undefined) {
    throw new RustynetError('CONFIG_INVALID', 'netmap.control needs identityKeyFile', { field: 'identityKeyFile' });
  }
  const identityKeyPem = await d.readPrivateKeyFile(config.identityKeyFile);
  const ca = control.caFile !== undefined ? await readFile(control.caFile) : undefined;
  const client: ControlClient = new c.ControlClient({
    url: [control.url, ...(control.urls ?? [])],
    identityKeyPem,
    ...(ca && { ca }),
    onFailover: (from, to, err) => log(`control plane ${from} unreachable (${err.message}); switching to ${to}`),
  });
  const recordPath = join(config.stateDir, ENROLMENT_FILE);
  const recordIdentity = async (identityKey: string): Promise<void> => {
    const rec = await readRecord(recordPath);
    if (rec) await writePrivateJson(recordPath, { ...rec, identityKey });
  };
  await recoverRotation(config, d, client, recordIdentity, log);
  const keys = await backendKeys(config, d, cwd);
  const report = {
    keys,
    endpoints: control.endpoints ?? [],
    ...(config.pathProbe && { probePort: config.pathProbe.port }),
  };

  const record = await readRecord(recordPath);
  if (record && record.url === control.url && record.identityKey === client.identityKey) {
    log(`enrolled earlier as ${record.nodeId} (${record.addresses.join(', ')})`);
    await client.report(report).catch((err: unknown) => log(`report to the control plane failed (will use the last map): ${String(err)}`));
  } else {
    const authKey = await readSecretFile(control.authKeyFile, 'netmap.control.authKeyFile');
    let delay = 500;
    for (;;) {
      try {
        const reply = await client.enrol({ authKey, name: config.node, ...report });
        if (reply.controlPlaneKey !== config.controlPlaneKey && !(config.controlPlaneKeys ?? []).includes(reply.controlPlaneKey)) {
          throw new RustynetError(
            'CONFIG_INVALID',
            `controlPlaneKey: the control plane at ${control.url} signs with ${reply.controlPlaneKey}, not the pinned key`,
            { field: 'controlPlaneKey' },
          );
        }
        if (reply.node.id !== config.node) {
          throw new RustynetError(
            'CONFIG_INVALID',
            `node: the control plane enrolled this identity as "${reply.node.id}"; set "node": "${reply.node.id}" (the name "${config.node}" is taken)`,
            { field: 'node' },
          );
        }
        await mkdir(config.stateDir, { recursive: true, mode: 0o700 });
        const rec: EnrolmentRecord = {
          url: control.url,
          identityKey: client.identityKey,
          nodeId: reply.node.id,
          addresses: reply.node.addresses,
        };
        await writeFile(recordPath, `${JSON.stringify(rec, null, 2)}\n`, { mode: 0o600 });
        log(`${reply.created ? 'enrolled' : 're-enrolled'} as ${reply.node.id} (${reply.node.addresses.join(', ')})`);
        break;
      } catch (err) {
        if (isRustynetError(err, 'AUTH_FAILED') && (await alreadyEnrolled(client))) {
          // The key was used (or has expired), but by this identity: carry on with it.
          log('the pre-auth key is no longer valid, but this identity is enrolled: reporting keys and endpoints');
          await client.report(report);
          break;
        }
        if (!transient(err)) throw err;
        log(`enrolment: control plane unreachable (${err instanceof Error ? err.message : String(err)}); retrying`);
        await sleep(Math.floor(delay / 2 + Math.random() * delay));
        delay = Math.min(30_000, delay * 2);
      }
    }
  }

  let onUpdate: () => void = () => undefined;
  let lastError = '';
  const source: ControlNetmapSource = new c.ControlNetmapSource(client, {
    ...(control.waitMs !== undefined && { waitMs: control.waitMs }),
    ...(control.maxRetryMs !== undefined && { maxRetryMs: control.maxRetryMs }),
    minRetryMs: Math.min(1_000, control.maxRetryMs ?? 1_000),
    deltas: true,
    onUpdate: () => {
      if (lastError !== '') log('control plane reachable again');
      lastError = '';
      onUpdate();
    },
    onError: (err) => {
      // One line per distinct error, not one per retry.
      if (err.message !== lastError) log(`control plane poll failed: ${err.message} (keeping the last good netmap; retrying)`);
      lastError = err.message;
      reenrolWhenExpired(err, { config, control, client, recordPath, name: config.node, report: () => backendKeys(config, d, cwd) }, log);
      if (source.revoked) log('this node was removed from the control plane; the last netmap stays until it expires');
    },
  });
  return {
    source,
    client,
    pause: () => source.stop(),
    resume: () => source.start(),
    recordIdentity,
    start(fn) {
      onUpdate = fn;
      source.start();
    },
    stop: () => source.stop(),
  };
}
