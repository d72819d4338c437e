/**
 * The relay hosts of a mesh (`MeshOptions.relay`, `MeshOptions.extraRelays`): their names, ids,
 * files (netmap copy, identity key, output) and netmap entries. Relay number 0 is the mesh's
 * original relay (`RELAY_HOST`, `RELAY_ID`); the others are `relay2`/`relay-2`, ...
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NetmapRelay } from '@rustynet/plugin-api';
import type { TestHost, TestNetwork } from '@rustynet/conformance-kit/harness';
import { RELAY_ID, RELAY_PORT, relayHostName, relayIdOf } from './constants.js';
import type { DaemonProcesses } from './daemons.js';
import { MeshTraffic } from './mesh-traffic.js';
import type { ProcessExit } from './processes.js';
import { startMeshRelay, writeRelayIdentityKey } from './relay-server.js';

/** One relay host of a mesh. */
export interface MeshRelay {
  /** Netmap id (`relay-1`, `relay-2`, ...). */
  id: string;
  host: TestHost;
  /** The signed netmap copy the relay server reads. */
  netmapFile: string;
  /** Its identity key (PKCS#8 PEM, 0600) and public key (raw 32 bytes, base64). */
  identityKeyFile: string;
  identityKey: string;
  /** stdout/stderr of its server. */
  outFile: string;
}

/** The files of relay number `i` under `workDir` (nothing created). */
export function meshRelayFiles(workDir: string, i: number): Pick<MeshRelay, 'netmapFile' | 'identityKeyFile' | 'outFile'> {
  const dir = join(workDir, relayHostName(i));
  return { netmapFile: join(dir, 'netmap.json'), identityKeyFile: join(dir, 'identity.key'), outFile: join(dir, 'relay.out') };
}

/** Host names of relays 1..`extra` (the further relays; relay 0 is `RELAY_HOST`). */
export function extraRelayHosts(extra: number): string[] {
  return Array.from({ length: extra }, (_, k) => relayHostName(k + 1));
}

/** Makes the directory and identity key of relays 1..`extra`. */
export async function createExtraRelays(net: TestNetwork, workDir: string, extra: number): Promise<MeshRelay[]> {
  const out: MeshRelay[] = [];
  for (let i = 1; i <= extra; i++) {
    const files = meshRelayFiles(workDir, i);
    await mkdir(join(workDir, relayHostName(i)), { recursive: true, mode: 0o700 });
    const identityKey = await writeRelayIdentityKey(files.identityKeyFile);
    out.push({ id: relayIdOf(i), host: net.host(relayHostName(i)), identityKey, ...files });
  }
  return out;
}

/** The netmap entry of a further relay. */
export function relayEntry(r: MeshRelay): NetmapRelay {
  return { id: r.id, endpoint: { host: r.host.underlayAddress, port: RELAY_PORT }, identityKey: r.identityKey };
}

/** The relay servers of a mesh, as the base class of `Mesh` (between it and {@link MeshTraffic}). */
export abstract class MeshRelayServers extends MeshTraffic {
  /** The mesh's working directory. */
  abstract readonly workDir: string;
  /** The control-plane public key the relays verify netmaps with. */
  abstract cpPublicKey: string;
  protected abstract readonly procs: DaemonProcesses;
  /**
   * The relay's identity public key (raw 32 bytes, base64), listed in the netmap's relay entry;
   * its private key is {@link relayIdentityKeyFile}. Empty without a relay.
   */
  relayIdentityKey = '';
  /** The further relays ({@link MeshOptions.extraRelays}): `relay-2`, ... */
  readonly extraRelays: MeshRelay[] = [];

  constructor(
    /** The host running the first relay server ({@link MeshOptions.relay}), else undefined. */
    readonly relayHost: TestHost | undefined,
  ) {
    super();
  }

  /** The signed netmap file the relay server reads (kept current by `Mesh.publish`). */
  get relayNetmapFile(): string {
    return meshRelayFiles(this.workDir, 0).netmapFile;
  }

  /** The relay's identity key file (PKCS#8 PEM, 0600), made with the mesh. */
  get relayIdentityKeyFile(): string {
    return meshRelayFiles(this.workDir, 0).identityKeyFile;
  }

  /** stdout/stderr of the relay server. */
  get relayOutFile(): string {
    return meshRelayFiles(this.workDir, 0).outFile;
  }

  /** Every relay of the mesh (`relay-1` first), empty without {@link MeshOptions.relay}. */
  get relays(): MeshRelay[] {
    if (!this.relayHost) return [];
    const first = { id: RELAY_ID, host: this.relayHost, identityKey: this.relayIdentityKey, ...meshRelayFiles(this.workDir, 0) };
    return [first, ...this.extraRelays];
  }

  /**
   * Starts `rustynet relay serve --listen <relay underlay>:RELAY_PORT` inside relay `id`'s host
   * namespace (default the first relay), reading its netmap copy (publish a netmap first).
   * Resolves once it listens; no-op while it runs.
   * @param identityKeyFile the relay's identity key (default its own; another file makes a relay
   *   the netmap does not list: nodes must refuse it).
   * @throws Error with its output when it exits or does not listen within `timeoutMs`.
   */
  async startRelayServer(timeoutMs = 20_000, identityKeyFile?: string, id = RELAY_ID): Promise<void> {
    const r = this.relays.find((x) => x.id === id);
    if (!r) throw new Error(`this mesh has no relay ${id} (MeshOptions.relay, extraRelays)`);
    if (this.procs.relayRunning(id)) return;
    if (!existsSync(r.netmapFile)) throw new Error('publish a signed netmap before starting the relay server');
    const { cwd, log, relayExtraArgs: extraArgs } = this.opts;
    const { host, netmapFile, outFile } = r;
    const keyFile = identityKeyFile ?? r.identityKeyFile;
    const start = {
      id,
      host,
      netmapFile,
      outFile,
      cpPublicKey: this.cpPublicKey,
      identityKeyFile: keyFile,
      cwd,
      log,
      timeoutMs,
      extraArgs,
    };
    await startMeshRelay(this.procs, start);
  }

  /**
   * Stops relay server `id` (default the first): SIGTERM, SIGKILL after `timeoutMs`; with `kill`,
   * SIGKILL at once (a crash).
   * @returns its exit and its output (the last line counts the datagrams it forwarded after a
   *   clean stop), or null when none was running.
   */
  async stopRelayServer(timeoutMs = 10_000, id = RELAY_ID, kill = false): Promise<{ exit: ProcessExit; output: string } | null> {
    const exit = await this.procs.stopRelay(timeoutMs, id, kill);
    if (!exit) return null;
    const outFile = this.relays.find((x) => x.id === id)?.outFile ?? this.relayOutFile;
    return { exit, output: await readFile(outFile, 'utf8').catch(() => '') };
  }
}
