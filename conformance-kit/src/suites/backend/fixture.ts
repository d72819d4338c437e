import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  declaredSessionReestablishSeconds,
  type BackendCapabilities,
  type BackendRuntimeStats,
  type BackendStartConfig,
  type PeerBatch,
  type PeerConfig,
  type PluginManifest,
  type Route,
  type RouteChange,
} from '@rustynet/plugin-api';
import { TestNetwork, type TestHost } from '../../harness/test-network.js';
import type { PluginHost } from '../../host/plugin-host-client.js';
import { lastLines, logWarnings, redact } from '../common/diagnostics.js';
import { closeAll, stopAll, SuiteFixture } from '../common/fixture.js';
import type { SuiteOptions } from '../common/options.js';
import { waitForSession, type SessionWaitResult } from './session-wait.js';
import { snapshotNode } from './snapshot.js';

/** Options the backend suite is created with (profile `quick` skips the 200-peer batch). */
export type BackendSuiteOptions = SuiteOptions;

/** The names of the suite's hosts. a, b, c form the mesh; d serves state and teardown tests. */
export type NodeName = 'a' | 'b' | 'c' | 'd';
export const MESH: readonly NodeName[] = ['a', 'b', 'c'];
export const ECHO_UDP_PORT = 7000;
export const ECHO_TCP_PORT = 7001;
export const LISTEN_PORT = 51820;
export const TUNNEL_MTU = 1420;

/** One host of the suite, with its plugin instance. */
export interface SuiteNode {
  name: NodeName;
  host: TestHost;
  plugin: PluginHost;
  keyDir: string;
  stateDir: string;
  logFile: string;
  publicKey: string;
  keyFiles: string[];
  /** Overlay IPv4 host address, without prefix length. */
  ip4: string;
  /** Overlay IPv6 host address (only used when the plugin claims `ipv6`). */
  ip6: string;
  ifname: string;
  running: boolean;
}

const INDEX: Record<NodeName, number> = { a: 1, b: 2, c: 3, d: 4 };

/**
 * Shared state of one backend suite run: one test network (hosts a, b, c, d), one plugin host
 * per host, key pairs, echo servers. Built lazily on first use; the mesh (a<->b, a<->c) is
 * rebuilt whenever a test failed or left it changed (`dirty`).
 */
export class BackendFixture extends SuiteFixture<BackendSuiteOptions, NodeName> {
  net!: TestNetwork;
  nodes!: Record<NodeName, SuiteNode>;
  manifest!: PluginManifest;
  caps!: BackendCapabilities;
  /** Snapshot of host d (links, addresses, routes, processes, sockets, files) before any start. */
  baseline!: Record<string, string[]>;
  private meshUp = false;
  private bulk: Promise<string[]> | undefined;
  private bulkCount = 0;

  constructor(opts: BackendSuiteOptions) {
    super(opts, 'backend');
  }

  protected testNetwork(): TestNetwork {
    return this.net;
  }

  /** Builds the network, plugin hosts, keys and echo servers (once, see {@link ready}). */
  protected async build(): Promise<void> {
    this.net = await TestNetwork.create({ hosts: ['a', 'b', 'c', 'd'] });
    this.makeWorkDir('kit');
    const entries = await Promise.all(
      (['a', 'b', 'c', 'd'] as NodeName[]).map(async (name) => {
        const host = this.net.host(name);
        const dir = join(this.workDir, name);
        const stateDir = join(dir, 'state');
        const logFile = join(dir, 'host.log');
        const plugin = await this.startHost(host, dir);
        const keyDir = join(this.workDir, name, 'keys');
        const kp = await plugin.call<{ publicKey: string; files: string[] }>('generateKeyPair', [keyDir], this.ms(20_000));
        await Promise.all([host.udpEchoServer(ECHO_UDP_PORT), host.tcpEchoServer(ECHO_TCP_PORT)]);
        const i = INDEX[name];
        const node: SuiteNode = {
          name,
          host,
          plugin,
          keyDir,
          stateDir,
          logFile,
          publicKey: kp.publicKey,
          keyFiles: kp.files,
          ip4: `100.64.0.${i}`,
          ip6: `fd00:7e57::${i}`,
          ifname: `rn${this.net.runId}${name}`,
          running: false,
        };
        return [name, node] as const;
      }),
    );
    this.nodes = Object.fromEntries(entries) as Record<NodeName, SuiteNode>;
    this.baseline = await snapshotNode(this.nodes.d);
    this.manifest = this.nodes.a.plugin.loaded.manifest;
    this.caps = this.manifest.capabilities as BackendCapabilities;
  }

  /**
   * Public keys of `n` peers that never run (key pairs made by the plugin on d, six at a time),
   * made once per run and shared by the tests that need many peers. Call it from a test's
   * `prepare` so the time it takes never counts against the plugin.
   */
  bulkKeys(n: number): Promise<string[]> {
    if (!this.bulk || this.bulkCount < n) {
      const d = this.nodes.d;
      this.bulkCount = n;
      this.bulk = (async () => {
        const keys: string[] = [];
        const queue = Array.from({ length: n }, (_, i) => i);
        await Promise.all(
          Array.from({ length: 6 }, async () => {
            for (let i = queue.shift(); i !== undefined; i = queue.shift()) {
              const kp = await d.plugin.call<{ publicKey: string }>(
                'generateKeyPair',
                [join(this.workDir, 'd', 'bulk', String(i))],
                this.ms(20_000),
              );
              keys[i] = kp.publicKey;
            }
          }),
        );
        return keys;
      })();
      this.bulk.catch(() => (this.bulk = undefined));
    }
    return this.bulk.then((k) => k.slice(0, n));
  }

  /** Fresh instances live under their node's directory: `<workDir>/<name>/fresh-<n>`. */
  protected override freshDir(name: NodeName, n: number): string {
    return join(this.workDir, name, `fresh-${n}`);
  }

  /** Fresh backend instances are labelled by their host's name, like the mesh nodes. */
  protected override freshLabel(): string | undefined {
    return undefined;
  }

  /** The start config of a node. */
  startConfig(n: SuiteNode, over: Partial<BackendStartConfig> = {}): BackendStartConfig {
    return {
      nodeId: n.name,
      addresses: this.caps.ipv6 ? [`${n.ip4}/32`, `${n.ip6}/128`] : [`${n.ip4}/32`],
      listenPort: LISTEN_PORT,
      mtu: TUNNEL_MTU,
      interfaceName: n.ifname,
      keyDirectory: n.keyDir,
      ...over,
    };
  }

  /** How `n` appears as a peer to the others. */
  peerOf(n: SuiteNode, extraAllowed: string[] = []): PeerConfig {
    return {
      id: n.name,
      publicKey: n.publicKey,
      endpoint: { host: n.host.underlayAddress, port: LISTEN_PORT },
      allowedIps: [`${n.ip4}/32`, ...(this.caps.ipv6 ? [`${n.ip6}/128`] : []), ...extraAllowed],
    };
  }

  /** The baseline peers of a mesh node: a knows b and c; b and c know a. */
  baselinePeers(name: NodeName): PeerConfig[] {
    const n = this.nodes;
    return name === 'a' ? [this.peerOf(n.b), this.peerOf(n.c)] : name === 'd' ? [] : [this.peerOf(n.a)];
  }

  /** The routes the daemon sends with a peer: one per allowed IP (see the daemon's reconciler). */
  routesOf(peers: PeerConfig[]): Route[] {
    return peers.flatMap((p) => p.allowedIps.map((destination) => ({ destination, peer: p.id })));
  }

  /**
   * Adds or replaces peers the way rustynetd does: `applyPeers` with the batch, then
   * `applyRoutes` with one route per allowed IP (removing `dropRoutes` first).
   */
  async connect(n: SuiteNode, peers: PeerConfig[], dropRoutes: Route[] = [], timeoutMs = 30_000): Promise<void> {
    await this.applyPeers(n, { upsert: peers }, timeoutMs);
    await n.plugin.call('applyRoutes', [{ add: this.routesOf(peers), remove: dropRoutes }], this.ms(timeoutMs));
  }

  /** Removes peers the way rustynetd does: `applyPeers` removal, then their routes. */
  async disconnect(n: SuiteNode, peers: PeerConfig[], timeoutMs = 30_000): Promise<void> {
    await this.applyPeers(n, { remove: peers.map((p) => p.id) }, timeoutMs);
    await n.plugin.call('applyRoutes', [{ add: [], remove: this.routesOf(peers) }], this.ms(timeoutMs));
  }

  // ---- typed calls ------------------------------------------------------------------------
  start(n: SuiteNode, cfg = this.startConfig(n)): Promise<void> {
    return n.plugin
      .call('start', [cfg], this.ms(30_000))
      .then(() => void (n.running = true))
      .then(() => undefined);
  }
  stop(n: SuiteNode): Promise<void> {
    return n.plugin
      .call('stop', [], this.ms(30_000))
      .then(() => void (n.running = false))
      .then(() => undefined);
  }
  applyPeers(n: SuiteNode, batch: Partial<PeerBatch>, timeoutMs = 30_000): Promise<void> {
    return n.plugin
      .call('applyPeers', [{ upsert: batch.upsert ?? [], remove: batch.remove ?? [] }], this.ms(timeoutMs))
      .then(() => undefined);
  }
  applyRoutes(n: SuiteNode, change: Partial<RouteChange>): Promise<void> {
    return n.plugin.call('applyRoutes', [{ add: change.add ?? [], remove: change.remove ?? [] }], this.ms(30_000)).then(() => undefined);
  }
  stats(n: SuiteNode): Promise<BackendRuntimeStats> {
    return n.plugin.call<BackendRuntimeStats>('stats', [], this.ms(30_000));
  }

  /**
   * Ensures a, b and c run with the baseline peers (a<->b, a<->c) and their routes. Rebuilds
   * (stop, start, apply peers, apply routes) when {@link dirty}.
   */
  async mesh(): Promise<void> {
    await this.ready();
    if (this.meshUp && !this.dirty) return;
    await Promise.all(
      MESH.map(async (name) => {
        const n = this.nodes[name];
        if (this.meshUp || n.running) await this.stop(n).catch(() => undefined);
        await this.start(n);
        await this.connect(n, this.baselinePeers(name));
      }),
    );
    this.meshUp = true;
    this.dirty = false;
  }

  /** Pings `ip` from node `from` (short pings with retries). */
  ping(from: SuiteNode, ip: string, attempts = 3): Promise<boolean> {
    return from.host.ping(ip, { count: 1, timeoutS: 1, attempts });
  }

  /** The declared `sessionReestablishSeconds` in ms (not multiplied); 0 when the plugin declares none. */
  sessionWaitMs(): number {
    const s = this.caps ? declaredSessionReestablishSeconds(this.caps) : undefined;
    return s === undefined ? 0 : s * 1000;
  }

  /**
   * Pings `ip` from `from` after a session with that peer must be re-established (a restart,
   * re-add or key change): `attempts` pings as {@link ping}, then, when the plugin declares
   * `sessionReestablishSeconds`, on until that bound (multiplied) has passed, one ping a second.
   * Never longer. Without a declaration exactly {@link ping}'s back-to-back attempts.
   */
  awaitSession(from: SuiteNode, ip: string, attempts = 3): Promise<SessionWaitResult> {
    const boundMs = this.ms(this.sessionWaitMs());
    return waitForSession(() => this.ping(from, ip, 1), { minAttempts: attempts, boundMs, spacingMs: boundMs > 0 ? 1000 : 0 });
  }

  /**
   * Before each test's deadline, only for a plugin declaring `sessionReestablishSeconds`: a mesh
   * a test left changed is rebuilt here (a restart of a, b and c) and its sessions a -> b, a -> c
   * get up to the declared bound, so the next test does not pay the previous one's restart.
   * The outcome is not checked: the test's own pings are. Resolves true when it rebuilt.
   */
  async settle(): Promise<boolean> {
    if (!this.sessionWaitMs() || !this.meshUp || !this.dirty) return false;
    await this.mesh();
    const { a, b, c } = this.nodes;
    await Promise.all([b, c].map((n) => this.awaitSession(a, n.ip4, 1)));
    return true;
  }

  /** Private key material of a node, as tokens to search for (file contents of its private key files). */
  async secretTokens(n: SuiteNode): Promise<string[]> {
    const tokens: string[] = [];
    for (const f of n.keyFiles) {
      const text = (await readFile(f, 'utf8').catch(() => '')).trim();
      if (!text || text === n.publicKey.trim()) continue;
      tokens.push(text);
      for (const line of text.split(/\r?\n/)) {
        const l = line.trim();
        if (l.length >= 16 && !l.startsWith('-----') && l !== n.publicKey.trim()) tokens.push(l);
      }
    }
    return [...new Set(tokens)];
  }

  /** Output tails and hook timelines of every plugin host, for failure reports. */
  async diagnostics(): Promise<string> {
    if (!this.nodes) return '';
    const parts: string[] = [];
    for (const n of Object.values(this.nodes)) {
      const tail = lastLines(n.plugin.outputTail(), 15);
      if (tail) parts.push(`--- plugin output on ${n.name} (last lines) ---\n${tail}`);
      const errLines = await logWarnings(n.logFile, 8);
      if (errLines) parts.push(`--- plugin warnings/errors on ${n.name} ---\n${errLines}`);
      for (const p of (await n.plugin.processes().catch(() => [])).slice(-3)) {
        const pt = p.tail.trim().split('\n').slice(-5).join('\n');
        if (pt) parts.push(`--- output of process ${p.pid ?? '?'} spawned by the plugin on ${n.name} ---\n${pt}`);
      }
      const tl = await n.plugin.timeline().catch(() => null);
      if (tl && tl.length)
        parts.push(
          `--- hook timeline on ${n.name} ---\n${tl
            .slice(-10)
            .map((e) => JSON.stringify(e))
            .join('\n')}`,
        );
    }
    // never copy key material into reports, even if the plugin leaked it into its output
    const tokens = (await Promise.all(Object.values(this.nodes).map((n) => this.secretTokens(n)))).flat();
    return redact(parts.join('\n'), tokens);
  }

  /** Stops every node's plugin, closes every host (fresh ones too) and removes the network. */
  protected async teardown(): Promise<void> {
    if (this.nodes) {
      const nodeHosts = Object.values(this.nodes).map((n) => n.plugin);
      await stopAll(nodeHosts, 15_000);
      await closeAll([...nodeHosts, ...this.extraHosts]);
    }
    await this.net?.destroy();
  }
}
