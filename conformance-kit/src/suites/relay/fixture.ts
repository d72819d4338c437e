import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Endpoint, NetmapRelay, PluginManifest, RelayCapabilities, RelayPathStatus } from '@rustynet/plugin-api';
import { TestNetwork, type TestHost } from '../../harness/test-network.js';
import { PluginHost } from '../../host/plugin-host-client.js';
import { lastLines, logWarnings } from '../common/diagnostics.js';
import { closeAll, stopAll, SuiteFixture } from '../common/fixture.js';
import type { SuiteOptions } from '../common/options.js';
import { RelayAgent } from './agent-client.js';

/** Options the relay suite is created with (`options` are the client plugin's). */
export type RelaySuiteOptions = SuiteOptions;

/** Hosts of the relay suite: the server, two clients, an unregistered prober, a spare client host. */
export type RelayHostName = 'relay' | 'a' | 'b' | 'c' | 'd';
export const RELAY_HOSTS: readonly RelayHostName[] = ['relay', 'a', 'b', 'c', 'd'];

/** UDP port of the main relay server (limits: defaults, except `maxSessionsPerNode` 64). */
export const RELAY_PORT = 3478;
/** UDP port of the rate-limited relay server ({@link RATE_LIMITS}). */
export const RATE_RELAY_PORT = 3479;
/** UDP port of the throw-away server of the server teardown test. */
export const SPARE_RELAY_PORT = 3490;
export const RELAY_ID = 'kit-relay';
export const RATE_RELAY_ID = 'kit-relay-rate';
/** Loopback port where the stand-in backends listen (a: plain, b: echo). */
export const BACKEND_PORT = 7100;
/** Loopback port of the stand-in backends of the rate tests. */
export const RATE_BACKEND_PORT = 7102;
/**
 * Limits of the rate-limited server: 1 DATA packet/s with a burst of 10; 2000 bytes/s with a
 * burst of 65 507 bytes (one maximal UDP datagram).
 */
export const RATE_LIMITS = { packetsPerSecond: 1, burstPackets: 10, bytesPerSecond: 2000, burstBytes: 65_507 } as const;
/** Limits of the main server: the package's defaults, except room for many sessions per node. */
export const MAIN_LIMITS = { maxSessionsPerNode: 64 } as const;

/** Node ids the suite uses, and which server allows them. */
export const MAIN_NODES = ['a', 'b', 'd', 'x'] as const;
export const RATE_NODES = ['ra', 'rb', 'rc'] as const;
/** Signs with the wrong key ('x' is allowed with another key); 'y' is in no allowlist. */
export const IMPOSTOR = 'x';
export const STRANGER = 'y';

/** An Ed25519 identity key pair of a node; the private key lives only in `keyFile` (0600). */
export interface NodeKey {
  id: string;
  keyFile: string;
  publicKeyB64: string;
}

/** A relay client plugin instance in a host's namespace. */
export interface ClientNode {
  host: TestHost;
  plugin: PluginHost;
  label: string;
  nodeId?: string;
  running: boolean;
}

/** What the package exports besides `createPlugin`. */
export interface PackageExports {
  /** Absolute path of the entry module. */
  module: string;
  hasServer: boolean;
  /** The package's `protocol` namespace, when it exports one. */
  protocol?: Record<string, unknown>;
  /** Optional server `limits` the package declares it honours (its `relayServerKitLimits` export). */
  serverKitLimits: string[];
}

/**
 * Shared state of one relay suite run: the test network (relay, a, b, c, d), one agent per host
 * (relay servers, stand-in backends, prober, flooder), the client plugin instances, node keys.
 * Built lazily on first use; the two main clients (a, b) are restarted when a test failed (`dirty`).
 */
export class RelayFixture extends SuiteFixture<RelaySuiteOptions, RelayHostName> {
  net!: TestNetwork;
  agents!: Record<RelayHostName, RelayAgent>;
  keys: Record<string, NodeKey> = {};
  manifest!: PluginManifest;
  caps!: RelayCapabilities;
  pkg!: PackageExports;
  /** Why the server tests are skipped (the package exports no `createRelayServer`), or undefined. */
  noServerReason: string | undefined;
  /** Why the main server failed to start, when it exists but failed. */
  serverError: string | undefined;
  relayEndpoint!: Endpoint;
  rateRelayEndpoint!: Endpoint;
  clients!: { a: ClientNode; b: ClientNode };
  /** Stand-in backend sockets (agent socket ids), bound on 127.0.0.1:{@link BACKEND_PORT}. */
  backends!: { a: number; b: number };
  private readonly extra: ClientNode[] = [];
  private rateP: Promise<{ senderPps: ClientNode; senderBps: ClientNode; receiver: ClientNode; sockA: number; sockB: number }> | undefined;

  constructor(opts: RelaySuiteOptions) {
    super(opts, 'relay');
  }

  protected testNetwork(): TestNetwork {
    return this.net;
  }

  private makeKey(id: string): NodeKey {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const dir = join(this.workDir, 'keys');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    const keyFile = join(dir, `${id}.pem`);
    writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    const x = (publicKey.export({ format: 'jwk' }) as { x: string }).x;
    return { id, keyFile, publicKeyB64: Buffer.from(x, 'base64url').toString('base64') };
  }

  /**
   * A relay identity key pair for the relay identity tests: a PKCS#8 PEM file (0600, given to
   * `createRelayServer` as `identityKeyFile`) and its public key for the netmap entry; made once per name.
   */
  relayKey(name: string): NodeKey {
    return (this.keys[`relay:${name}`] ??= this.makeKey(`relay-${name}`));
  }

  /** Builds the network, agents, node keys, main clients and relay servers (once, see {@link ready}). */
  protected async build(): Promise<void> {
    this.net = await TestNetwork.create({ hosts: [...RELAY_HOSTS] });
    chmodSync(this.makeWorkDir('relay'), 0o700);
    for (const id of [...MAIN_NODES, ...RATE_NODES, STRANGER, `${IMPOSTOR}-wrong`]) this.keys[id] = this.makeKey(id);

    const agentsP = Promise.all(RELAY_HOSTS.map(async (h) => [h, await RelayAgent.start(this.net, this.net.host(h))] as const));
    const clientsP = Promise.all([this.newClient('a', 'client-a'), this.newClient('b', 'client-b')]);
    const [agents, [ca, cb]] = await Promise.all([agentsP, clientsP]);
    this.agents = Object.fromEntries(agents) as Record<RelayHostName, RelayAgent>;
    this.clients = { a: ca, b: cb };
    this.manifest = ca.plugin.loaded.manifest;
    this.caps = this.manifest.capabilities as RelayCapabilities;

    // What the package exports besides createPlugin (the kit imports it, as the relay CLI would).
    const module = join(ca.plugin.loaded.dir, this.manifest.entry);
    const mod = (await import(pathToFileURL(module).href)) as Record<string, unknown>;
    const protocol =
      typeof mod['protocol'] === 'object' && mod['protocol'] !== null ? (mod['protocol'] as Record<string, unknown>) : undefined;
    const kitLimits = mod['relayServerKitLimits'];
    this.pkg = {
      module,
      hasServer: typeof mod['createRelayServer'] === 'function',
      ...(protocol && { protocol }),
      serverKitLimits: Array.isArray(kitLimits) ? kitLimits.filter((x): x is string => typeof x === 'string') : [],
    };
    if (!this.pkg.hasServer) {
      this.noServerReason = `the package ${this.manifest.name} does not export createRelayServer: the kit cannot run its relay server (see docs/conformance.md, Relay)`;
    }

    const [ba, bb] = await Promise.all([
      this.agents.a.open('127.0.0.1', BACKEND_PORT, false),
      this.agents.b.open('127.0.0.1', BACKEND_PORT, true),
    ]);
    this.backends = { a: ba.id, b: bb.id };
    const relayHost = this.net.host('relay').underlayAddress;
    this.relayEndpoint = { host: relayHost, port: RELAY_PORT };
    this.rateRelayEndpoint = { host: relayHost, port: RATE_RELAY_PORT };
    if (this.pkg.hasServer) {
      try {
        await Promise.all([
          this.agents.relay.serverCreate(
            'main',
            module,
            this.serverOptions(RELAY_ID, RELAY_PORT, MAIN_NODES, MAIN_LIMITS),
            this.ms(20_000),
          ),
          this.agents.relay.serverCreate(
            'rate',
            module,
            this.serverOptions(RATE_RELAY_ID, RATE_RELAY_PORT, RATE_NODES, { ...MAIN_LIMITS, ...RATE_LIMITS }),
            this.ms(20_000),
          ),
        ]);
      } catch (err) {
        this.serverError = `createRelayServer(...).start() failed: ${(err as { code?: string }).code ?? ''} ${(err as Error).message}`;
      }
    }
  }

  /** The options the kit gives `createRelayServer` (the contract in docs/conformance.md). */
  serverOptions(relayId: string, port: number, nodes: readonly string[], limits: Record<string, number>): Record<string, unknown> {
    return {
      listen: { host: this.net.host('relay').underlayAddress, port },
      relayId,
      identityKeys: Object.fromEntries(nodes.map((n) => [n, this.keys[n].publicKeyB64])),
      limits,
    };
  }

  /**
   * A new client plugin instance in `host`'s namespace (closed by {@link dispose}); `options`
   * (kit options, see common/kit-options.ts) are merged over the suite's plugin options.
   */
  async newClient(host: RelayHostName, label: string, options?: Record<string, unknown>): Promise<ClientNode> {
    const h = this.net.host(host);
    const dir = join(this.workDir, label);
    const plugin = options
      ? await PluginHost.start({
          host: h,
          spec: this.opts.plugin,
          cwd: this.cwd,
          stateDir: join(dir, 'state'),
          logFile: join(dir, 'host.log'),
          expectKind: this.kind,
          label,
          options: { ...this.opts.options, ...options },
          tracker: this.net.tracker,
        })
      : await this.startHost(h, dir, label);
    const c: ClientNode = { host: h, plugin, label, running: false };
    this.extra.push(c);
    return c;
  }

  /**
   * Runs `fn` with an extra relay server `name` (port `port`, id `relayId`, allowlist `nodes`,
   * `limits` over {@link MAIN_LIMITS}) in the relay namespace, and stops it afterwards.
   */
  async withServer<R>(
    spec: {
      name: string;
      port: number;
      relayId: string;
      nodes: readonly string[];
      limits?: Record<string, number>;
      identityKeyFile?: string;
    },
    fn: (relay: NetmapRelay) => Promise<R>,
  ): Promise<R> {
    const opts = {
      ...this.serverOptions(spec.relayId, spec.port, spec.nodes, { ...MAIN_LIMITS, ...spec.limits }),
      ...(spec.identityKeyFile !== undefined && { identityKeyFile: spec.identityKeyFile }),
    };
    await this.agents.relay.serverCreate(spec.name, this.pkg.module, opts, this.ms(20_000));
    try {
      return await fn({ id: spec.relayId, endpoint: { host: this.net.host('relay').underlayAddress, port: spec.port } });
    } finally {
      await this.agents.relay.serverStop(spec.name).catch(() => undefined);
    }
  }

  /** Stops the extra server `name` and starts it again with the same options (new process state, no sessions). */
  async restartServer(spec: {
    name: string;
    port: number;
    relayId: string;
    nodes: readonly string[];
    limits?: Record<string, number>;
  }): Promise<void> {
    await this.agents.relay.serverStop(spec.name);
    const opts = this.serverOptions(spec.relayId, spec.port, spec.nodes, { ...MAIN_LIMITS, ...spec.limits });
    await this.agents.relay.serverCreate(spec.name, this.pkg.module, opts, this.ms(20_000));
  }

  /** The main relay as a netmap relay entry. */
  mainRelays(): NetmapRelay[] {
    return [{ id: RELAY_ID, endpoint: this.relayEndpoint }];
  }

  /**
   * `start({ nodeId, relays, sign })` on a client; `sign` signs with `keyId`'s private key
   * (default: the node's own).
   */
  async start(c: ClientNode, nodeId: string, opts: { keyId?: string; relays?: NetmapRelay[]; timeoutMs?: number } = {}): Promise<void> {
    const timeoutMs = opts.timeoutMs ?? this.ms(15_000);
    const key = this.keys[opts.keyId ?? nodeId];
    await c.plugin.callWithSigner<void>(
      'start',
      [{ nodeId, relays: opts.relays ?? this.mainRelays() }, { timeoutMs }],
      { arg: 0, keyFile: key.keyFile },
      timeoutMs + 5000,
    );
    c.running = true;
    c.nodeId = nodeId;
  }

  async stop(c: ClientNode): Promise<void> {
    await c.plugin.call<void>('stop', [], this.ms(15_000));
    c.running = false;
  }

  openPath(c: ClientNode, peer: string, backendEndpoint: Endpoint): Promise<Endpoint> {
    return c.plugin.call<Endpoint>('openPath', [{ peer, backendEndpoint }], this.ms(15_000));
  }

  status(c: ClientNode): Promise<RelayPathStatus[]> {
    return c.plugin.call<RelayPathStatus[]>('status', [], this.ms(15_000));
  }

  /** Ensures the main clients a and b run (registered as nodes a and b with the main relay); restarts them when dirty. */
  async mainClients(): Promise<{ a: ClientNode; b: ClientNode }> {
    await this.ready();
    if (this.serverError) throw new Error(this.serverError);
    const { a, b } = this.clients;
    if (this.dirty || !a.running || !b.running) {
      await Promise.all(
        [a, b].map(async (c, i) => {
          await this.stop(c).catch(() => undefined);
          await this.start(c, i === 0 ? 'a' : 'b');
        }),
      );
      this.dirty = false;
    }
    return this.clients;
  }

  /** Opens the paths a->b and b->a to the stand-in backends; returns a's endpoint for b and b's endpoint for a. */
  async mainPaths(): Promise<{ aToB: Endpoint; bToA: Endpoint }> {
    const { a, b } = await this.mainClients();
    const be: Endpoint = { host: '127.0.0.1', port: BACKEND_PORT };
    const [aToB, bToA] = await Promise.all([this.openPath(a, 'b', be), this.openPath(b, 'a', be)]);
    return { aToB, bToA };
  }

  /** Clients of the rate-limited relay: senders ra (packets) and rc (bytes) in a, receiver rb in b. */
  rateClients(): Promise<{ senderPps: ClientNode; senderBps: ClientNode; receiver: ClientNode; sockA: number; sockB: number }> {
    this.rateP ??= (async () => {
      await this.ready();
      const relays = [{ id: RATE_RELAY_ID, endpoint: this.rateRelayEndpoint }];
      const [senderPps, senderBps, receiver, sa, sb] = await Promise.all([
        this.newClient('a', 'rate-ra'),
        this.newClient('a', 'rate-rc'),
        this.newClient('b', 'rate-rb'),
        this.agents.a.open('127.0.0.1', RATE_BACKEND_PORT, false),
        this.agents.b.open('127.0.0.1', RATE_BACKEND_PORT, false),
      ]);
      await Promise.all([
        this.start(senderPps, 'ra', { relays }),
        this.start(senderBps, 'rc', { relays }),
        this.start(receiver, 'rb', { relays }),
      ]);
      return { senderPps, senderBps, receiver, sockA: sa.id, sockB: sb.id };
    })();
    this.rateP.catch(() => (this.rateP = undefined));
    return this.rateP;
  }

  /** The package's protocol function `name`, if it exports it (its type `F` is the caller's). */
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- F names the expected signature at the call site
  protocolFn<F extends (...args: never[]) => unknown>(name: string): F | undefined {
    const f = this.pkg.protocol?.[name];
    return typeof f === 'function' ? (f as F) : undefined;
  }

  /**
   * UDP sockets in a host's namespace (`ss -uanp`, header dropped), one line each as
   * `<state> <local> <peer> <process>` (queue sizes left out: they change while a socket lives).
   */
  async udpSockets(host: TestHost): Promise<string[]> {
    const r = await host.exec('ss', ['-uanpH']);
    return r.stdout
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f.length >= 5)
      .map((f) => [f[0], ...f.slice(3)].join(' '));
  }

  /** Plugin outputs and warnings, the relay agent's output and the main server's stats. */
  async diagnostics(): Promise<string> {
    if (!this.agents) return '';
    const parts: string[] = [];
    for (const c of this.extra) {
      const tail = lastLines(c.plugin.outputTail(), 10);
      if (tail) parts.push(`--- plugin output of ${c.label} (last lines) ---\n${tail}`);
      const warn = await logWarnings(join(this.workDir, c.label, 'host.log'), 5);
      if (warn) parts.push(`--- plugin warnings/errors of ${c.label} ---\n${warn}`);
    }
    const relayTail = this.agents.relay.outputTail().trim();
    if (relayTail) parts.push(`--- relay server output ---\n${relayTail.split('\n').slice(-15).join('\n')}`);
    if (this.pkg?.hasServer && !this.serverError) {
      const st = await this.agents.relay.serverStats('main').catch(() => null);
      if (st) parts.push(`--- main relay server stats() ---\n${JSON.stringify(st)}`);
    }
    return parts.join('\n');
  }

  /** Stops every client, closes the hosts and agents, removes the network. */
  protected async teardown(): Promise<void> {
    const hosts = [...this.extra.map((c) => c.plugin), ...this.extraHosts];
    await stopAll(hosts, 10_000);
    await closeAll(hosts);
    if (this.agents) await Promise.all(Object.values(this.agents).map((a) => a.dispose().catch(() => undefined)));
    await this.net?.destroy();
  }
}
