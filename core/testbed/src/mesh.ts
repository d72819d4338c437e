/**
 * A real Rustynet mesh for the demo, the integration tests and the benches: one network
 * namespace per node on a shared underlay (the conformance kit's `TestNetwork`), keys and signed
 * netmaps made with the `rustynet` CLI, and one real `rustynetd` process per node inside its
 * namespace. This class is the facade; each concern lives in its own module.
 *
 * Needs root. Nothing is created in the root network namespace; every name carries the run's
 * random id; {@link Mesh.destroy} removes daemons, namespaces, files and leftover runtime
 * sockets, and {@link Mesh.emergencyStopSync} does the same synchronously from a signal handler.
 */
import { rmSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Netmap, NetmapNode, SignedNetmap } from '@rustynet/plugin-api';
import type { TestNetwork } from '@rustynet/conformance-kit/harness';
import { LocalApiClient, type DaemonStatus } from '@rustynet/cli';
import { cleanStaleRuntimeFiles, collectSecrets, findLeftovers, removeRuntimeFilesSync, scanForSecrets } from './cleanup.js';
import { RELAY_HOST } from './constants.js';
import { CONTROL_HOST, MeshControlPlane } from './control-plane.js';
import { DaemonProcesses, outputTail } from './daemons.js';
import { killBackend } from './faults.js';
import { buildNetmap, buildNetmapNode, signNetmap, type NetmapOptions, type NetmapShape } from './netmaps.js';
import { buildDaemonConfig, generateMeshKeys, type MeshNode } from './node-config.js';
import { resolveMeshOptions, type MeshOptions, type ResolvedMeshOptions } from './options.js';
import type { ProcessExit } from './processes.js';
import { RUSTYNET_BIN, runNodeProgram } from './programs.js';
import { publishNetmapDoc } from './publish.js';
import { writeRelayIdentityKey } from './relay-server.js';
import { MeshRelayServers, createExtraRelays, extraRelayHosts, relayEntry } from './mesh-relays.js';
import { waitForAll, waitForPeerPath, type StatusSource } from './status.js';
import { createUnderlay, installResolvConfs, resolvConfPath } from './underlay.js';

/**
 * A running test mesh. Create with {@link Mesh.create}, then {@link startDaemons}; always
 * {@link destroy} (also on failure).
 */
export class Mesh extends MeshRelayServers {
  readonly nodes: MeshNode[] = [];
  protected readonly procs: DaemonProcesses;
  private destroyed = false;
  /** Control-plane key files. */
  cpKeyFile = '';
  cpPublicKey = '';
  /** Protocol id of each backend spec, from keygen. */
  readonly protocols = new Map<string, string>();
  /** The control plane ({@link MeshOptions.control}), else undefined. */
  control: MeshControlPlane | undefined;

  private constructor(
    readonly net: TestNetwork,
    readonly workDir: string,
    readonly opts: ResolvedMeshOptions,
  ) {
    super(opts.relay ? net.host(RELAY_HOST) : undefined);
    this.procs = new DaemonProcesses(opts.log);
  }

  /** `/etc/netns/<ns>/resolv.conf` of a node (present while the mesh runs with {@link MeshOptions.dns}). */
  resolvConfFile(n: MeshNode): string {
    return resolvConfPath(n.host);
  }

  /** Run id (hex) shared by the namespaces and interface names of this mesh. */
  get runId(): string {
    return this.net.runId;
  }

  /**
   * Builds the underlay, the working directory and every key (with the `rustynet` CLI).
   * Does not start daemons. On failure everything made so far is removed.
   */
  static async create(options: MeshOptions): Promise<Mesh> {
    const opts = resolveMeshOptions(options);
    await cleanStaleRuntimeFiles(opts.backendProfiles);
    const relayHosts = opts.relay ? [RELAY_HOST, ...extraRelayHosts(opts.extraRelays)] : [];
    const hosts = [...opts.nodes, ...relayHosts, ...(opts.control ? [CONTROL_HOST] : [])];
    opts.log(
      `creating ${hosts.length} network namespaces on underlay 198.18.0.0/24${opts.relay ? ` (${opts.nodes.length} nodes + the relay host)` : ''}`,
    );
    const net = await createUnderlay(hosts, opts.namePrefix);
    let workDir = '';
    try {
      workDir = await mkdtemp(join(tmpdir(), `rustynet-mesh-${net.runId}-`));
      await chmod(workDir, 0o700);
      const wd = workDir;
      net.tracker.track('file', workDir, () => rmSync(wd, { recursive: true, force: true }));
      const mesh = new Mesh(net, workDir, opts);
      const keys = await generateMeshKeys(net, workDir, opts);
      mesh.nodes.push(...keys.nodes);
      mesh.cpKeyFile = keys.cpKeyFile;
      mesh.cpPublicKey = keys.cpPublicKey;
      for (const [spec, protocol] of keys.protocols) mesh.protocols.set(spec, protocol);
      if (opts.control) mesh.control = new MeshControlPlane(net.host(CONTROL_HOST), join(wd, CONTROL_HOST), keys.cpKeyFile, opts);
      if (opts.relay) {
        await mkdir(join(workDir, RELAY_HOST), { recursive: true, mode: 0o700 });
        mesh.relayIdentityKey = await writeRelayIdentityKey(mesh.relayIdentityKeyFile);
        mesh.extraRelays.push(...(await createExtraRelays(net, workDir, opts.extraRelays)));
      }
      if (opts.dns)
        installResolvConfs(
          net,
          mesh.nodes.map((n) => ({ id: n.id, host: n.host, nameserver: n.v4 })),
          opts.log,
        );
      return mesh;
    } catch (err) {
      await net.destroy();
      if (workDir) await rm(workDir, { recursive: true, force: true });
      throw err;
    }
  }

  /** The node with id `id`. */
  node(id: string): MeshNode {
    const n = this.nodes.find((x) => x.id === id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  private get shape(): NetmapShape {
    return {
      runId: this.runId,
      listenPort: this.opts.listenPort,
      ttlMs: this.opts.ttlMs,
      acl: this.opts.acl,
      relayAddress: this.relayHost?.underlayAddress,
      ...(this.relayIdentityKey !== '' && { relayIdentityKey: this.relayIdentityKey }),
      extraRelays: this.extraRelays.map(relayEntry),
    };
  }

  /** The netmap entry of one node. */
  netmapNode(n: MeshNode): NetmapNode {
    return buildNetmapNode(n, this.shape);
  }

  /**
   * An unsigned netmap of the whole mesh. With {@link MeshOptions.relay} it lists the relay and
   * every node's `probePort`.
   * @param opts.without node ids left out; `issuedAt`/`expiresAt` override the default window;
   *   `acl` replaces {@link MeshOptions.acl} (`null`: no ACL); `names` sets node names (DNS) by id.
   */
  netmap(version: number, opts: NetmapOptions = {}): Netmap {
    return buildNetmap(version, this.nodes, this.shape, opts);
  }

  /** Signs `netmap` with the control-plane key through `rustynet netmap sign`. */
  sign(netmap: Netmap): Promise<SignedNetmap> {
    return signNetmap(netmap, this.cpKeyFile, this.opts.cwd);
  }

  /**
   * Writes a (signed, possibly tampered) netmap document to the nodes' netmap files atomically
   * and asks each running daemon to reload it. With a relay, the relay server's copy is written
   * too (it re-reads it every second and keeps its last good map when this one fails to verify).
   * @returns the reload error per node (`undefined` when accepted).
   */
  async publish(
    doc: unknown,
    nodeIds: readonly string[] = this.nodes.map((n) => n.id),
    opts: { reload?: boolean } = {},
  ): Promise<Record<string, Error | undefined>> {
    const reload = (id: string): boolean => this.procs.has(id) && opts.reload !== false;
    const relayFiles = this.relays.map((r) => r.netmapFile);
    return publishNetmapDoc(
      doc,
      nodeIds.map((id) => this.node(id)),
      relayFiles,
      reload,
    );
  }

  /** The daemon config of node `n` for `backend`. */
  daemonConfig(n: MeshNode, backend: string): Record<string, unknown> {
    const protocol = this.protocols.get(backend);
    if (!protocol) throw new Error(`no keys generated for backend ${backend}`);
    const cfg = buildDaemonConfig(n, backend, protocol, this.cpPublicKey, this.opts);
    return this.control ? { ...cfg, netmap: this.control.netmapConfig(n, this.opts.listenPort, this.opts.pollIntervalMs) } : cfg;
  }

  /**
   * Writes each node's config and starts one `rustynetd` per node inside its namespace
   * (`ip netns exec <ns> node rustynetd.js --config <file>`), then waits until every daemon
   * reports `up` with `netmapVersion` applied and all peers present. With a relay, the relay
   * server is started first ({@link startRelayServer}). With a control plane (`netmapVersion`
   * undefined: any version), it is started first, each node gets a pre-auth key and enrols, and
   * the nodes take the overlay addresses it gave them.
   * @throws Error with the daemon's output tail when one exits or does not come up in time.
   */
  async startDaemons(backend: string, netmapVersion: number | undefined, timeoutMs = 60_000): Promise<void> {
    for (const r of this.relays) await this.startRelayServer(undefined, undefined, r.id);
    await this.control?.startFor(this.nodes);
    for (const n of this.nodes) {
      await mkdir(join(n.dir, 'state'), { recursive: true, mode: 0o700 });
      await writeFile(n.configFile, `${JSON.stringify(this.daemonConfig(n, backend), null, 2)}\n`, { mode: 0o600 });
    }
    for (const n of this.nodes) this.procs.startDaemon(n, this.opts.cwd);
    await this.waitFor(
      (_id, s) =>
        s.state === 'up' &&
        s.netmap !== null &&
        (netmapVersion ?? s.netmap.version) === s.netmap.version &&
        s.peers.length === this.nodes.length - 1,
      `up with netmap version ${netmapVersion ?? '(any)'} and ${this.nodes.length - 1} peers`,
      timeoutMs,
    );
    await this.control?.adoptAddresses(this.nodes);
  }

  /** Last lines of a node's daemon output and log, for error messages. */
  tail(id: string, lines = 15): Promise<string> {
    return outputTail(this.node(id), lines);
  }

  /** Status of node `id` from its local API. */
  status(id: string): Promise<DaemonStatus> {
    return new LocalApiClient(this.node(id).socket, 5_000).status();
  }

  /** Human `rustynet status` output of node `id` (through the CLI program; also when the node is not up). */
  async statusText(id: string): Promise<string> {
    const args = ['status', '--socket', this.node(id).socket];
    const r = await runNodeProgram(RUSTYNET_BIN, args);
    // Exit 3: the daemon answered and the node is not up; the status text is still wanted.
    if (r.code !== 0 && r.code !== 3) throw new Error(`rustynet ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
    return r.stdout;
  }

  /**
   * Polls every node's status until `pred` holds for all of them.
   * @throws Error naming the nodes that did not get there, with their output tails.
   */
  waitFor(pred: (id: string, s: DaemonStatus) => boolean, what: string, timeoutMs = 60_000): Promise<void> {
    return waitForAll(this.statusSource, pred, what, timeoutMs);
  }

  private get statusSource(): StatusSource {
    return {
      nodes: this.nodes,
      status: (id) => this.status(id),
      exitOf: (id) => this.procs.exitOf(id),
      tail: (id) => this.tail(id),
    };
  }

  /**
   * Polls the status of each `[node, peer]` pair (every `pollMs`) until that node reports the
   * peer on `path`.
   * @returns `Date.now()` at the first poll where all pairs held.
   * @throws Error naming the pairs still on the other path after `timeoutMs`.
   */
  waitForPath(pairs: Array<[string, string]>, path: 'direct' | 'relay', timeoutMs = 20_000, pollMs = 100): Promise<number> {
    return waitForPeerPath(this.statusSource, pairs, path, timeoutMs, pollMs);
  }

  /** SIGKILLs node `id`'s daemon (a crash: what it started stays) and waits for it to exit. */
  killDaemon(id: string): Promise<ProcessExit | null> {
    return this.procs.kill(id, 'SIGKILL');
  }

  /**
   * Stops node `id`'s daemon cleanly (SIGTERM: it removes what it made) and waits for it.
   * @returns its exit, or null when it was not running.
   */
  stopDaemon(id: string): Promise<ProcessExit | null> {
    return this.procs.kill(id, 'SIGTERM');
  }

  /** Starts node `id`'s daemon again with the config {@link startDaemons} wrote (does not wait). */
  restartDaemon(id: string): void {
    this.procs.startDaemon(this.node(id), this.opts.cwd);
  }

  /**
   * SIGKILLs the data-plane processes of node `id` for `backend` (by its profile's process names).
   * @returns the pids killed. @throws Error when the backend has no profile or no process runs.
   */
  killBackend(id: string, backend: string): Promise<number[]> {
    const profile = this.opts.backendProfiles[backend];
    if (!profile) throw new Error(`no backend profile for ${backend}`);
    return killBackend(this.node(id), profile);
  }

  /** pids of the running daemons by node id. */
  daemonPids(): Record<string, number> {
    return this.procs.pids();
  }

  /**
   * Stops every daemon with SIGTERM (clean stop), waiting up to `timeoutMs`, then SIGKILL.
   * @returns each daemon's exit (code, signal) by node id.
   */
  stopDaemons(timeoutMs = 30_000): Promise<Record<string, ProcessExit>> {
    return this.procs.stopAll(timeoutMs);
  }

  /**
   * For signal handlers: SIGTERM to every daemon, then waits synchronously (up to
   * `timeoutMs`) for them to finish their clean stop, SIGKILL for the rest.
   */
  emergencyStopSync(timeoutMs = 10_000): void {
    this.procs.emergencyStopSync(timeoutMs);
    this.control?.stopSync();
    removeRuntimeFilesSync(this.nodes, this.opts.backendProfiles);
  }

  /**
   * What survived: tunnel interfaces named like this mesh's in its namespaces, runtime files
   * of the backends, daemon/backend processes of this run, API sockets.
   */
  leftovers(opts: { namespacesGone?: boolean } = {}): Promise<string[]> {
    return findLeftovers(
      {
        nodes: this.nodes,
        runId: this.runId,
        netnsPrefix: this.net.prefix,
        workDir: this.workDir,
        profiles: this.opts.backendProfiles,
        policyTable: this.opts.policy ? this.opts.plugins.policyTable : undefined,
      },
      opts,
    );
  }

  /** Private key material of every node and of the control plane (from the 0600 key files). */
  secrets(): Promise<Array<{ file: string; token: string }>> {
    return collectSecrets([...this.nodes.map((n) => n.keyDir), join(this.workDir, 'control-plane')]);
  }

  /**
   * Searches every process's `/proc/<pid>/cmdline` and `/proc/<pid>/environ` and every daemon
   * log and output file for private key material.
   * @returns where each secret was found (empty when none leaked).
   */
  async findLeakedSecrets(): Promise<string[]> {
    return scanForSecrets(
      await this.secrets(),
      this.nodes.flatMap((n) => [n.logFile, n.outFile]),
    );
  }

  /** Stops the daemons, removes namespaces, files and runtime sockets. Idempotent; never throws. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await this.stopDaemons().catch(() => undefined);
    for (const id of this.procs.relayIds()) await this.stopRelayServer(10_000, id).catch(() => undefined);
    await this.control?.stop().catch(() => undefined);
    await this.net.destroy();
    removeRuntimeFilesSync(this.nodes, this.opts.backendProfiles);
    await rm(this.workDir, { recursive: true, force: true }).catch(() => undefined);
  }
}
