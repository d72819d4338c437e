import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  DEFAULT_CALL_TIMEOUT_MS,
  RustynetError,
  formatEndpoint,
  type BackendPlugin,
  type BackendStartConfig,
  type CallOptions,
  type Counter,
  type DnsPlugin,
  type Gauge,
  type Histogram,
  type Logger,
  type Netmap,
  type NetmapNode,
  type NetmapRelay,
  type PeerStats,
  type PolicyPlugin,
  type RelayPlugin,
} from '@rustynet/plugin-api';
import { LocalApi } from './api/local-api.js';
import { AuditLog } from './audit/audit-log.js';
import { validateDaemonConfig } from './config/load.js';
import type { DaemonConfig } from './config/schema.js';
import { rootContainer, type HostServices } from './container/containers.js';
import { TOKENS } from './container/tokens.js';
import { DaemonHooks } from './hooks/daemon-hooks.js';
import type { HookTimelineEntry } from './hooks/timeline-interceptor.js';
import { loadPlugin, type LoadedPlugin } from './loader/load-plugin.js';
import { FileNetmapSource, UrlNetmapSource, type NetmapSource } from './netmap/source.js';
import { DIRECT_PATHS, type PeerPathSource } from './path/path-source.js';
import { PathController } from './path/path-controller.js';
import { DirectPathProber } from './path/prober.js';
import { UdpProbeTransport, type ProbeTransport } from './path/probe-transport.js';
import { installProcessGuards } from './process-guards.js';
import { Reconciler, type InterfaceReader } from './reconciler/reconciler.js';
import { dnsZoneFrom } from './reconciler/plan.js';
import { DnsController, type DnsStatus, type LocalAddressLookup } from './dns/dns-controller.js';
import { createHostServices } from './services/host-services.js';
import { instrumentBackend } from './services/instrument.js';
import { ensurePrivateDir } from './services/state-store.js';
import { NetmapTrust, type TrustedNetmap } from './trust/netmap-trust.js';
import { toRustynetError } from './util/errors.js';
import { jsonEqual } from './reconciler/diff.js';

/** The backend's route-relevant capabilities: run-time report, else the manifest's claim. */
function backendCapabilities(p: LoadedPlugin): { exitNode?: boolean; lanRoutes?: boolean; ipv6?: boolean } {
  let caps: Partial<Record<string, unknown>>;
  try {
    caps = { ...p.manifest.capabilities, ...(p.instance as BackendPlugin).capabilities() };
  } catch {
    caps = { ...p.manifest.capabilities };
  }
  const flag = (k: string): boolean | undefined => (typeof caps[k] === 'boolean' ? (caps[k] as boolean) : undefined);
  const out: { exitNode?: boolean; lanRoutes?: boolean; ipv6?: boolean } = {};
  for (const k of ['exitNode', 'lanRoutes', 'ipv6'] as const) {
    const v = flag(k);
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/** The backend's path-switching prerequisites (run-time report, else the manifest's claim). */
function backendSwitchCaps(p: LoadedPlugin): { udpTransport: boolean; roaming: boolean } {
  let caps: Partial<Record<string, unknown>>;
  try {
    caps = { ...p.manifest.capabilities, ...(p.instance as BackendPlugin).capabilities() };
  } catch {
    caps = { ...p.manifest.capabilities };
  }
  return { udpTransport: caps.udpTransport === true, roaming: caps.roaming === true };
}

/** First wait before a failed relay start is tried again, ms (doubles up to 60 s). */
const RELAY_RETRY_INITIAL_MS = 5_000;
/** Deadline of a relay start retry, ms (it runs in the daemon's serialiser). */
const RELAY_RETRY_TIMEOUT_MS = 5_000;

/** Life-cycle state reported in status. */
export type DaemonState = 'up' | 'down' | 'starting' | 'failed';

/** A plugin as listed by `GET /v1/plugins` and in status. */
export interface PluginInfo {
  name: string;
  version: string;
  kind: string;
  apiVersion: string;
  capabilities: Record<string, unknown>;
}

/** One peer in status. */
export interface PeerStatus {
  id: string;
  /** `host:port` (IPv6 bracketed) or null. */
  endpoint: string | null;
  path: 'direct' | 'relay';
  allowedIps: string[];
  /** ISO time of the last handshake, or null. */
  lastHandshakeAt: string | null;
  rxBytes: number;
  txBytes: number;
}

/** `GET /v1/status`. */
export interface DaemonStatus {
  node: string;
  state: DaemonState;
  netmap: { version: number; appliedAt: string; expiresAt: string } | null;
  lastRejection: { code: string; message: string; at: string } | null;
  backend: { name: string; version: string; apiVersion: string; interfaces: string[]; listenPort: number | null } | null;
  peers: PeerStatus[];
  plugins: PluginInfo[];
  /**
   * The policy plugin's state (null without one): the tunnel interfaces its applied policy
   * covers, and failures to re-apply it when the backend's interfaces changed between applies.
   */
  policy: { interfaces: string[]; ok: boolean; lastError: { code: string; message: string; at: string } | null; failures: number } | null;
  /** The DNS plugin's listeners and failures (null without one). DNS failures never fail an apply. */
  dns: DnsStatus | null;
}

/** Result of processing one netmap (reload, poll, up). */
export interface IngestResult {
  result: 'applied' | 'unchanged' | 'rejected' | 'deferred' | 'failed' | 'none';
  version?: number;
  error?: Record<string, unknown>;
}

/** Options of {@link Daemon} beyond its config. */
export interface DaemonOptions {
  /** Use these services instead of creating them from the config (tests, embedding). */
  services?: HostServices;
  /** Directory package-name plugin specs are resolved from (default `process.cwd()`). */
  cwd?: string;
  /** Install the unhandled-rejection guard while running (default true). */
  processGuards?: boolean;
  /**
   * Overrides the path of each peer (tests, embedding). Default: the path controller when
   * `pathProbe` is configured, else every peer direct.
   */
  paths?: PeerPathSource;
  /** Creates the probe transport (default: UDP on `0.0.0.0:<pathProbe.port>`); tests pass fakes. */
  probeTransport?: (opts: { host: string; port: number; logger: Logger }) => Promise<ProbeTransport>;
  /**
   * Lists the IP addresses assigned in the daemon's network namespace (default:
   * `os.networkInterfaces()`); the DNS plugin listens on the node's mesh addresses found here.
   */
  localAddresses?: LocalAddressLookup;
}

interface DaemonMetrics {
  netmapVersion: Gauge;
  applies: Counter;
  applyDuration: Histogram;
  peers: Gauge;
  rejected: Counter;
  hookFailures: Counter;
  backendCalls: Counter;
  dnsFailures: Counter;
  policySyncFailures: Counter;
}

/**
 * The Rustynet daemon: loads the backend and other plugins through the loader, pulls signed
 * netmaps (file or URL), verifies them (signature, schema, expiry, replay watermark), lets
 * plugins veto, reconciles the backend, routes, policy and DNS, and serves the local API.
 *
 * Life cycle: `start()` (API up, plugins loaded, last good netmap re-applied, source polled),
 * `down()` (tunnel removed, daemon and API stay), `up()` (tunnel back with the last good netmap),
 * `stop()` (shutdown hook, plugins stopped in reverse order, socket removed).
 */
export class Daemon {
  readonly config: DaemonConfig;
  private readonly opts: DaemonOptions;
  private services!: HostServices;
  private logger!: Logger;
  private metrics!: DaemonMetrics;
  private trust!: NetmapTrust;
  private audit!: AuditLog;
  private api: LocalApi | undefined;
  private source!: NetmapSource;
  private reconciler!: Reconciler;
  private removeGuards: (() => void) | undefined;
  /** The daemon's hooks (plugins tap them through their context). */
  hooks!: DaemonHooks;

  private backend: { loaded: LoadedPlugin; instance: BackendPlugin } | undefined;
  private policy: { loaded: LoadedPlugin; instance: PolicyPlugin } | undefined;
  private dns: { loaded: LoadedPlugin; instance: DnsPlugin } | undefined;
  private dnsController: DnsController | undefined;
  private policySync: { ok: boolean; lastError: { code: string; message: string; at: string } | null; failures: number } = { ok: true, lastError: null, failures: 0 };
  private relay: { loaded: LoadedPlugin; instance: RelayPlugin } | undefined;
  private probeTransport: ProbeTransport | undefined;
  private prober: DirectPathProber | undefined;
  private pathControllerImpl: PathController | undefined;
  /** Set while the relay client failed to start: when to try again. */
  private relayRetry: { at: number; delayMs: number } | undefined;
  /** Why path switching is impossible whatever the netmap says (no relay plugin, backend caps). */
  private switchingUnsupported: string | undefined;

  private _state: DaemonState = 'starting';
  private started = false;
  private stopped = false;
  private chain: Promise<unknown> = Promise.resolve();
  private pollAbort = new AbortController();
  private pollLoop: Promise<void> | undefined;

  private dataPlane: { startConfig: BackendStartConfig; interfaces: string[]; listenPort: number | null; relays: NetmapRelay[] } | undefined;
  private current: { trusted: TrustedNetmap; appliedAt: number } | undefined;
  private pending: TrustedNetmap | undefined;
  private lastRejection: DaemonStatus['lastRejection'] = null;
  private backendCaps: { exitNode?: boolean; lanRoutes?: boolean; ipv6?: boolean } = {};

  /** @throws RustynetError `CONFIG_INVALID` naming the bad field. */
  constructor(config: DaemonConfig, opts: DaemonOptions = {}) {
    this.config = validateDaemonConfig(config);
    this.opts = opts;
  }

  /** Current life-cycle state. */
  get state(): DaemonState {
    return this._state;
  }

  /** Loaded plugins (backend first). */
  get loadedPlugins(): LoadedPlugin[] {
    return [this.backend?.loaded, this.policy?.loaded, this.dns?.loaded, this.relay?.loaded].filter((p): p is LoadedPlugin => p !== undefined);
  }

  /** The path controller (after `start`, when `pathProbe` is configured). */
  get pathController(): PathController | undefined {
    return this.pathControllerImpl;
  }

  /** The host services in use (available after `start`). */
  get hostServices(): HostServices {
    return this.services;
  }

  /** Runs `fn` after every earlier state-changing operation finished. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(fn, fn);
    this.chain = p.catch(() => undefined);
    return p;
  }

  private callOpts(): CallOptions {
    return { timeoutMs: this.config.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS };
  }

  /**
   * Starts the daemon. Resolves once the API listens, the plugins are loaded and the first netmap
   * (the persisted last good one, then the source's current one) has been processed.
   * @throws RustynetError `ALREADY_RUNNING`, `KEY_INVALID`, any loader error (`PLUGIN_NOT_FOUND`,
   *   `MANIFEST_INVALID`, `API_VERSION_MISMATCH`, `PLUGIN_LOAD_FAILED`, `CONFIG_INVALID`); the
   *   daemon is then stopped again.
   */
  async start(): Promise<void> {
    if (this.started) throw new RustynetError('ALREADY_RUNNING', 'daemon already started');
    this.started = true;
    const cfg = this.config;
    this.services =
      this.opts.services ??
      createHostServices({
        stateDir: cfg.stateDir,
        ...(cfg.log?.level !== undefined && { logLevel: cfg.log.level }),
        ...(cfg.log?.file !== undefined && { logFile: cfg.log.file }),
        ...(cfg.log?.pretty !== undefined && { pretty: cfg.log.pretty }),
      });
    this.logger = this.services.logger.child({ component: 'daemon', node: cfg.node });
    if (this.opts.processGuards !== false) this.removeGuards = installProcessGuards(this.logger);
    this.metrics = this.createMetrics();
    try {
      await ensurePrivateDir(this.services.stateDir);
      const root = rootContainer(this.services);
      this.trust = new NetmapTrust(cfg.controlPlaneKey, root.resolve(TOKENS.StateStore), this.services.clock);
      this.audit = new AuditLog(join(this.services.stateDir, 'audit.log'), () => this.services.clock.now());
      this.hooks = new DaemonHooks({
        logger: this.services.logger.child({ component: 'hooks' }),
        ...(cfg.hooks?.deadlineMs !== undefined && { deadlineMs: cfg.hooks.deadlineMs }),
        onFailure: (f) => this.metrics.hookFailures.inc({ plugin: f.plugin, hook: f.hook }),
      });
      this.source =
        'file' in cfg.netmap
          ? new FileNetmapSource(cfg.netmap.file)
          : new UrlNetmapSource(cfg.netmap.url, cfg.netmap.timeoutMs, (err) => this.logger.warn({ err: String(err) }, 'netmap fetch failed'));

      this.api = new LocalApi(
        cfg.socket,
        {
          status: () => this.status(),
          plugins: async () => this.pluginInfos(),
          up: async () => {
            await this.up();
            return { state: this.state };
          },
          down: async () => {
            await this.down();
            return { state: this.state };
          },
          reload: () => this.reload(),
          metrics: async () => ({ contentType: this.services.metrics.registry.contentType, body: await this.services.metrics.registry.metrics() }),
          timeline: async () => this.timeline(),
        },
        this.logger,
      );
      await this.api.start();

      if (cfg.identityKeyFile !== undefined) await root.resolve(TOKENS.KeyStore).loadIdentity(cfg.identityKeyFile);
      await this.loadPlugins();
      await this.setUpPathProbing(root.resolve(TOKENS.KeyStore));
      await this.audit.append('daemon.start', { node: cfg.node, plugins: this.loadedPlugins.map((p) => `${p.manifest.name}@${p.manifest.version}`) });
    } catch (err) {
      this._state = 'failed';
      this.logger.error({ code: toRustynetError(err).code, err: toRustynetError(err).message }, 'daemon start failed');
      await this.stop().catch(() => undefined);
      throw err;
    }

    await this.serial(async () => {
      let lastGood: TrustedNetmap | undefined;
      try {
        lastGood = await this.trust.lastGood();
      } catch (err) {
        this.logger.warn({ code: toRustynetError(err).code, err: toRustynetError(err).message }, 'last good netmap no longer verifies; waiting for a new one');
      }
      if (lastGood) await this.applyTrusted(lastGood, 'last-good');
      await this.pollOnce(true);
    });
    this.pollLoop = this.runPollLoop();
  }

  private createMetrics(): DaemonMetrics {
    const m = this.services.metrics;
    return {
      netmapVersion: m.gauge('rustynet_netmap_version', 'Version of the applied netmap'),
      applies: m.counter('rustynet_netmap_applies_total', 'Netmap applies by result', ['result']),
      applyDuration: m.histogram('rustynet_apply_duration_seconds', 'Duration of a netmap apply in seconds', [], [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30]),
      peers: m.gauge('rustynet_peers', 'Peers configured on the backend'),
      rejected: m.counter('rustynet_netmap_rejected_total', 'Netmaps rejected, by error code', ['code']),
      hookFailures: m.counter('rustynet_hook_failures_total', 'Hook taps that threw or timed out', ['plugin', 'hook']),
      backendCalls: m.counter('rustynet_backend_calls_total', 'Backend plugin calls by method and outcome', ['method', 'outcome']),
      dnsFailures: m.counter('rustynet_dns_failures_total', 'DNS plugin start/update failures (the mesh stays up; retried every cycle)', ['operation']),
      policySyncFailures: m.counter('rustynet_policy_sync_failures_total', 'Failed policy re-applies after the backend\'s tunnel interfaces changed between applies'),
    };
  }

  private async loadPlugins(): Promise<void> {
    const cfg = this.config;
    const common = { services: this.services, hooks: this.hooks, ...(this.opts.cwd !== undefined && { cwd: this.opts.cwd }) };
    const backend = await loadPlugin(cfg.backend.plugin, { ...common, expectKind: 'backend', options: cfg.backend.options ?? {} });
    if (!backend.manifest.backend) throw new RustynetError('MANIFEST_INVALID', `plugin ${backend.manifest.name}: backend section missing`, { field: 'backend' });
    const instance = instrumentBackend(backend.instance as BackendPlugin, this.metrics.backendCalls);
    this.backend = { loaded: backend, instance };
    this.backendCaps = backendCapabilities(backend);
    for (const [i, entry] of (cfg.plugins ?? []).entries()) {
      const loaded = await loadPlugin(entry.plugin, { ...common, options: entry.options ?? {} });
      const kind = loaded.manifest.kind;
      if (kind === 'backend' || this[kind] !== undefined) {
        throw new RustynetError('CONFIG_INVALID', `plugins[${i}]: ${loaded.manifest.name} is a second ${kind} plugin; one of each kind is allowed (backend in "backend")`, {
          field: `plugins[${i}].plugin`,
        });
      }
      if (kind === 'policy') this.policy = { loaded, instance: loaded.instance as PolicyPlugin };
      else if (kind === 'dns') this.dns = { loaded, instance: loaded.instance as DnsPlugin };
      else this.relay = { loaded, instance: loaded.instance as RelayPlugin };
    }
    if (this.relay && cfg.identityKeyFile === undefined) {
      throw new RustynetError('CONFIG_INVALID', `relay plugin ${this.relay.loaded.manifest.name} needs identityKeyFile (it signs relay challenges)`, {
        field: 'identityKeyFile',
      });
    }
    if (this.dns) {
      const port = typeof this.dns.loaded.context.options.port === 'number' ? this.dns.loaded.context.options.port : 53;
      this.dnsController = new DnsController({
        plugin: this.dns.instance,
        port,
        ...(this.opts.localAddresses && { lookup: this.opts.localAddresses }),
        logger: this.logger.child({ component: 'dns', plugin: this.dns.loaded.manifest.name }),
        clock: this.services.clock,
        failures: this.metrics.dnsFailures,
        callOptions: () => this.callOpts(),
      });
    }
    this.reconciler = new Reconciler({
      backend: instance,
      backendProtocol: backend.manifest.backend.protocol,
      peerKeySchema: backend.manifest.backend.peerKeySchema,
      ...(this.policy && { policy: this.policy.instance }),
      // DNS is not part of the apply transaction: see DnsController.
      hooks: this.hooks,
      pathFor: (id) => this.pathSource().pathFor(id),
      relayEndpointFor: (id) => (this.opts.paths ? undefined : this.pathControllerImpl?.relayEndpointFor(id)),
      ...(cfg.exitNode !== undefined && { exitNode: cfg.exitNode }),
      ...(cfg.backend.persistentKeepalive !== undefined && { persistentKeepalive: cfg.backend.persistentKeepalive }),
      capabilities: this.backendCaps,
      ...(cfg.callTimeoutMs !== undefined && { callTimeoutMs: cfg.callTimeoutMs }),
      logger: this.logger.child({ component: 'reconciler' }),
    });
  }

  /** The source of each peer's path: the test override, the path controller, or all direct. */
  private pathSource(): PeerPathSource {
    return this.opts.paths ?? this.pathControllerImpl ?? DIRECT_PATHS;
  }

  /**
   * With `pathProbe` configured: binds the probe socket (it answers peers' PINGs for the
   * daemon's whole life, also while down) and creates the path controller. Switching needs a
   * relay plugin and a backend claiming `udpTransport` and `roaming`; without them peers stay
   * direct and no PINGs are sent.
   * @throws RustynetError `CONFIG_INVALID` (no `identityKeyFile`), `BACKEND_FAILED` (the port
   *   cannot be bound).
   */
  private async setUpPathProbing(keyStore: { sign(data: Uint8Array): Uint8Array }): Promise<void> {
    const cfg = this.config;
    const probe = cfg.pathProbe;
    if (!probe) return;
    if (cfg.identityKeyFile === undefined) {
      throw new RustynetError('CONFIG_INVALID', 'pathProbe needs identityKeyFile (probes are signed with the identity key)', { field: 'identityKeyFile' });
    }
    const logger = this.services.logger.child({ component: 'path', node: cfg.node });
    const bind = this.opts.probeTransport ?? ((o) => UdpProbeTransport.bind(o));
    this.probeTransport = await bind({ host: '0.0.0.0', port: probe.port, logger });
    this.prober = new DirectPathProber({
      selfId: cfg.node,
      sign: (data) => keyStore.sign(data),
      clock: this.services.clock,
      transport: this.probeTransport,
      ...(probe.maxClockSkewMs !== undefined && { maxSkewMs: probe.maxClockSkewMs }),
      logger,
      metrics: this.services.metrics,
    });
    const caps = backendSwitchCaps(this.backend!.loaded);
    this.switchingUnsupported = !this.relay
      ? 'no relay plugin is loaded'
      : !caps.udpTransport || !caps.roaming
        ? `backend ${this.backend!.loaded.manifest.name} does not claim ${[!caps.udpTransport && 'udpTransport', !caps.roaming && 'roaming'].filter(Boolean).join(' and ')}`
        : undefined;
    this.pathControllerImpl = new PathController({
      selfId: cfg.node,
      prober: this.prober,
      ...(this.switchingUnsupported !== undefined && { disabledReason: this.switchingUnsupported }),
      ...(this.relay && { relay: this.relay.instance }),
      backend: this.backend!.instance,
      backendEndpoint: async (peer) => {
        // A backend that listens per peer reports the peer's own local port; else its listen port.
        let port = this.dataPlane?.listenPort ?? undefined;
        try {
          const stats = await this.backend!.instance.stats(this.callOpts());
          port = stats.peers.find((p) => p.id === peer)?.localPort ?? stats.listenPort ?? port;
        } catch {
          // keep the listen port learnt at start
        }
        return port ? { host: '127.0.0.1', port } : undefined;
      },
      resolveEndpoint: (ep, ctx) => this.hooks.runResolvePeerEndpoint(ep, ctx),
      onEndpointChanged: (peer, ep) => this.reconciler.noteEndpoint(peer, ep),
      serial: (fn) => this.serial(fn),
      onSwitch: async (sw) => {
        await this.audit.append('path.switch', { ...sw });
      },
      ...(probe.intervalMs !== undefined && { intervalMs: probe.intervalMs }),
      ...(probe.failuresToRelay !== undefined && { failuresToRelay: probe.failuresToRelay }),
      ...(probe.successesToDirect !== undefined && { successesToDirect: probe.successesToDirect }),
      clock: this.services.clock,
      logger,
      metrics: this.services.metrics,
      callOptions: () => this.callOpts(),
    });
    logger.info({ port: probe.port, switching: this.switchingUnsupported ?? 'enabled' }, 'direct-path probing on');
  }

  /** Warns when this node's netmap entry disagrees with the probe configuration. */
  private checkSelfProbe(self: NetmapNode): void {
    const port = this.config.pathProbe?.port;
    if (port === undefined) {
      if (self.probePort !== undefined) this.logger.warn({ probePort: self.probePort }, 'the netmap advertises a probePort for this node but pathProbe is not configured: peers will see their probes unanswered and relay');
      return;
    }
    if (self.probePort !== port) {
      this.logger.warn({ probePort: self.probePort ?? null, configured: port }, 'this node\'s netmap probePort differs from pathProbe.port: peers probe the wrong port');
    }
    try {
      const pub = rootContainer(this.services).resolve(TOKENS.KeyStore).publicKey();
      if (pub !== self.identityKey) this.logger.warn('this node\'s netmap identityKey is not the key in identityKeyFile: peers will drop its probes');
    } catch {
      /* no identity loaded: start() refused already */
    }
  }

  private async runPollLoop(): Promise<void> {
    const interval = this.config.netmap.pollIntervalMs ?? 1000;
    const signal = this.pollAbort.signal;
    while (!signal.aborted) {
      try {
        await this.services.clock.sleep(interval, signal);
      } catch {
        break;
      }
      if (signal.aborted) break;
      if (this._state === 'down') continue;
      const polled = await this.serial(() => this.pollOnce(false)).catch((err: unknown) => {
        this.logger.error({ err: String(err) }, 'netmap poll failed');
        return undefined;
      });
      // An apply just synced policy interfaces and DNS; otherwise check for drift now.
      if (polled?.result !== 'applied' && polled?.result !== 'failed') {
        await this.serial(() => this.syncDataPlane()).catch((err: unknown) => this.logger.error({ err: String(err) }, 'data-plane sync failed'));
      }
      if (this.relayRetry && this.services.clock.now() >= this.relayRetry.at) {
        await this.serial(() => this.retryRelay()).catch((err: unknown) => this.logger.error({ err: String(err) }, 'relay retry failed'));
      }
    }
  }

  /** Tries again to start a relay client whose start failed (back-off doubling to 60 s). */
  private async retryRelay(): Promise<void> {
    const retry = this.relayRetry;
    if (!retry || !this.relay || !this.dataPlane || this.dataPlane.relays.length === 0) {
      this.relayRetry = undefined;
      return;
    }
    await this.relay.instance.stop(this.callOpts()).catch(() => undefined);
    await this.startRelay(this.config.node, this.dataPlane.relays, Math.min(this.config.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS, RELAY_RETRY_TIMEOUT_MS));
    if (this.relayRetry) this.relayRetry = { at: this.services.clock.now() + Math.min(retry.delayMs * 2, 60_000), delayMs: Math.min(retry.delayMs * 2, 60_000) };
  }

  private async pollOnce(force: boolean): Promise<IngestResult> {
    let fetched;
    try {
      fetched = await this.source.fetch(force);
    } catch (err) {
      await this.reject(toRustynetError(err, 'NETMAP_INVALID'));
      return { result: 'rejected', error: toRustynetError(err).toJSON() };
    }
    if (!fetched.changed) return { result: 'none' };
    return this.ingest(fetched.value, fetched.text);
  }

  /**
   * Trust checks, then apply (or defer while down). Must run inside `serial`.
   * @param text the JSON text `input` was parsed from, if known (persisted as is).
   */
  private async ingest(input: unknown, text?: string): Promise<IngestResult> {
    let trusted: TrustedNetmap;
    try {
      trusted = await this.trust.check(input, text);
    } catch (err) {
      const e = toRustynetError(err, 'NETMAP_INVALID');
      await this.reject(e, (input as { netmap?: { version?: unknown } } | null)?.netmap?.version);
      return { result: 'rejected', error: e.toJSON() };
    }
    if (this._state === 'down') {
      this.pending = trusted;
      return { result: 'deferred', version: trusted.netmap.version };
    }
    return this.applyTrusted(trusted, 'source');
  }

  private async applyTrusted(trusted: TrustedNetmap, origin: string): Promise<IngestResult> {
    const netmap = trusted.netmap;
    if (this.dataPlane && this.current?.trusted.digest === trusted.digest && trusted.status === 'unchanged') {
      return { result: 'unchanged', version: netmap.version };
    }
    const self = netmap.nodes.find((n) => n.id === this.config.node);
    if (!self) {
      const e = new RustynetError('NETMAP_INVALID', `netmap version ${netmap.version} does not contain this node (${this.config.node})`, { field: 'nodes' });
      await this.reject(e, netmap.version);
      return { result: 'rejected', error: e.toJSON() };
    }
    const veto = await this.hooks.runNetmapAccepted(netmap);
    if (veto) {
      const e = new RustynetError('NETMAP_VETOED', `netmap version ${netmap.version} vetoed by ${veto.tap}: ${veto.reason}`, { plugin: veto.plugin });
      await this.reject(e, netmap.version);
      return { result: 'rejected', error: e.toJSON() };
    }

    const t0 = performance.now();
    let result;
    try {
      // Validate peer keys before touching the data plane (fail closed, nothing changes).
      this.reconciler.validate(netmap, self.id);
      await this.ensureDataPlane(netmap, self);
      if (this.pathControllerImpl) {
        this.checkSelfProbe(self);
        const protocol = this.backend!.loaded.manifest.backend!.protocol;
        await this.pathControllerImpl.sync(netmap.nodes, (n) => Object.hasOwn(n.keys, protocol));
      }
      // The policy's interfaces are read after peers and routes are applied (per-peer devices).
      result = await this.reconciler.reconcile(netmap, self.id, this.readInterfaces);
      if (this.policy) this.policySync.ok = true;
      await this.pathControllerImpl?.afterApply();
    } catch (err) {
      const e = toRustynetError(err, 'BACKEND_FAILED');
      if (e.code === 'INVALID_INPUT') {
        await this.reject(e, netmap.version);
        return { result: 'rejected', error: e.toJSON() };
      }
      this.metrics.applies.inc({ result: 'failed' });
      this.lastRejection = { code: e.code, message: e.message, at: new Date(this.services.clock.now()).toISOString() };
      this.logger.error({ code: e.code, err: e.message, version: netmap.version, origin }, 'netmap apply failed; keeping the last good state');
      await this.audit.append('apply.failed', { version: netmap.version, code: e.code, message: e.message }).catch(() => undefined);
      this.source.invalidate();
      if (!this.dataPlane) this._state = 'failed';
      return { result: 'failed', version: netmap.version, error: e.toJSON() };
    }
    // DNS after the transaction: its failure is logged, counted and retried, never rolled back.
    await this.syncDns(netmap, self);
    const durationMs = performance.now() - t0;
    await this.trust.commit(trusted);
    this.current = { trusted, appliedAt: this.services.clock.now() };
    this.pending = undefined;
    this._state = 'up';
    const plan = result.plan;
    this.metrics.applies.inc({ result: result.noop ? 'noop' : 'applied' });
    this.metrics.applyDuration.observe(durationMs / 1000);
    this.metrics.netmapVersion.set(netmap.version);
    this.metrics.peers.set(this.reconciler.actual.peers.size);
    const summary = {
      netmapVersion: netmap.version,
      peersUpserted: plan.peers.upsert.length,
      peersRemoved: plan.peers.remove.length,
      routesAdded: plan.routes.add.length,
      routesRemoved: plan.routes.remove.length,
      durationMs,
    };
    this.logger.info({ ...summary, steps: result.steps, origin }, 'netmap applied');
    await this.audit.append('netmap.accepted', { version: netmap.version, digest: trusted.digest, origin });
    await this.audit.append('apply', { ...summary, steps: result.steps });
    await this.hooks.runApplied(summary);
    return { result: 'applied', version: netmap.version };
  }

  private async reject(err: RustynetError, version?: unknown): Promise<void> {
    this.lastRejection = { code: err.code, message: err.message, at: new Date(this.services.clock.now()).toISOString() };
    this.metrics.rejected.inc({ code: err.code });
    this.logger.warn({ code: err.code, field: err.field, err: err.message, version }, 'netmap rejected; keeping the last good state');
    await this.audit
      .append('netmap.rejected', { code: err.code, message: err.message, ...(typeof version === 'number' && { version }) })
      .catch((e: unknown) => this.logger.error({ err: String(e) }, 'audit append failed'));
  }

  /**
   * Starts backend, policy and relay (in that order) if needed; restarts when own addresses/port
   * change. DNS is started after the apply, by {@link syncDns}.
   */
  private async ensureDataPlane(netmap: Netmap, self: NetmapNode): Promise<void> {
    const cfg = this.config;
    const startConfig: BackendStartConfig = {
      nodeId: self.id,
      // A backend without the ipv6 capability gets only the IPv4 addresses.
      addresses: self.addresses.filter((a) => this.backendCaps.ipv6 !== false || !a.includes(':')),
      listenPort: cfg.backend.listenPort ?? self.endpoints[0]?.port ?? 0,
      ...(cfg.backend.mtu !== undefined && { mtu: cfg.backend.mtu }),
      interfaceName: cfg.backend.interfaceName,
      keyDirectory: cfg.backend.keyDirectory,
    };
    const relays = netmap.relays ?? [];
    if (this.dataPlane) {
      if (jsonEqual(this.dataPlane.startConfig, startConfig)) {
        if (this.relay && !jsonEqual(this.dataPlane.relays, relays)) await this.restartRelay(self.id, relays);
        this.pathControllerImpl?.start();
        return;
      }
      this.logger.info({ from: this.dataPlane.startConfig.addresses, to: startConfig.addresses }, 'own addresses or port changed; restarting the data plane');
      await this.stopDataPlane();
    }
    const backend = this.backend!.instance;
    const started: Array<{ name: string; stop: () => Promise<void> }> = [];
    try {
      await backend.start(startConfig, this.callOpts());
      started.push({ name: 'backend', stop: () => backend.stop(this.callOpts()) });
      this.reconciler.reset();
      // Interfaces now are only a first view: a backend may create devices per peer. The policy
      // reads them again at its apply step; DNS starts after the apply (syncDns).
      const stats = await backend.stats(this.callOpts());
      const interfaces = [...new Set(stats.interfaces)].sort();
      if (this.policy) {
        const p = this.policy.instance;
        await p.start(this.callOpts());
        started.push({ name: 'policy', stop: () => p.stop(this.callOpts()) });
      }
      if (this.relay) await this.startRelay(self.id, relays);
      this.dataPlane = { startConfig, interfaces, listenPort: stats.listenPort ?? (startConfig.listenPort || null), relays };
      this.pathControllerImpl?.start();
    } catch (err) {
      for (const s of started.reverse()) await s.stop().catch((e: unknown) => this.logger.error({ plugin: s.name, err: String(e) }, 'stop after failed start failed'));
      throw err;
    }
  }

  /**
   * Starts the relay client. A netmap without relays, or a relay that cannot be reached, does
   * not stop the mesh: the direct paths keep working and path switching is disabled (logged)
   * until a later netmap's relay set starts.
   */
  private async startRelay(nodeId: string, relays: NetmapRelay[], timeoutMs?: number): Promise<void> {
    this.relayRetry = undefined;
    if (relays.length === 0) {
      this.pathControllerImpl?.setDisabled(this.switchingUnsupported ?? 'the netmap lists no relays');
      return;
    }
    const keyStore = rootContainer(this.services).resolve(TOKENS.KeyStore);
    try {
      await this.relay!.instance.start(
        {
          nodeId,
          relays,
          sign: async (challenge) => keyStore.sign(challenge),
        },
        timeoutMs !== undefined ? { timeoutMs } : this.callOpts(),
      );
      this.pathControllerImpl?.setDisabled(this.switchingUnsupported);
    } catch (err) {
      const e = toRustynetError(err, 'RELAY_FAILED');
      this.logger.error({ plugin: this.relay!.loaded.manifest.name, code: e.code, err: e.message }, 'relay start failed; peers stay on the direct path, retrying');
      this.relayRetry = { at: this.services.clock.now() + RELAY_RETRY_INITIAL_MS, delayMs: RELAY_RETRY_INITIAL_MS };
      this.pathControllerImpl?.setDisabled(this.switchingUnsupported ?? `relay start failed: ${e.code}`);
    }
  }

  private async restartRelay(nodeId: string, relays: NetmapRelay[]): Promise<void> {
    await this.relay!.instance.stop(this.callOpts()).catch((e: unknown) => this.logger.warn({ err: String(e) }, 'relay stop failed'));
    await this.startRelay(nodeId, relays);
    if (this.dataPlane) this.dataPlane.relays = relays;
    // The relay's paths are gone: re-open them (or return their peers to direct).
    await this.pathControllerImpl?.reopenRelayed();
  }

  /** Stops relay, dns, policy, backend (reverse start order); errors are logged. */
  private async stopDataPlane(): Promise<void> {
    await this.pathControllerImpl?.stop();
    const steps: Array<[string, (() => Promise<void>) | undefined]> = [
      ['relay', this.relay && (() => this.relay!.instance.stop(this.callOpts()))],
      ['dns', this.dnsController && (() => this.dnsController!.stop())],
      ['policy', this.policy && (() => this.policy!.instance.stop(this.callOpts()))],
      ['backend', this.backend && (() => this.backend!.instance.stop(this.callOpts()))],
    ];
    for (const [name, stop] of steps) {
      if (!stop) continue;
      try {
        await stop();
      } catch (err) {
        this.logger.error({ plugin: name, err: toRustynetError(err).message }, 'plugin stop failed');
      }
    }
    this.dataPlane = undefined;
    this.relayRetry = undefined;
    await this.pathControllerImpl?.reset('data plane stopped').catch((e: unknown) => this.logger.error({ err: String(e) }, 'path reset failed'));
    this.reconciler?.reset();
    this.metrics?.peers.set(0);
  }

  /** Removes the tunnel (backend and the other plugins stop) but keeps the daemon and its API. */
  down(): Promise<void> {
    return this.serial(async () => {
      if (!this.started || this.stopped) throw new RustynetError('NOT_RUNNING', 'daemon is not running');
      await this.stopDataPlane();
      this._state = 'down';
      await this.audit.append('down', {});
      this.logger.info('tunnel down');
    });
  }

  /**
   * Brings the tunnel back: re-applies the newest verified netmap (the one received while down,
   * else the last good one), then re-reads the source.
   */
  up(): Promise<IngestResult> {
    return this.serial(async () => {
      if (!this.started || this.stopped) throw new RustynetError('NOT_RUNNING', 'daemon is not running');
      if (this._state === 'up' && this.dataPlane) return { result: 'unchanged' as const };
      this._state = 'starting';
      await this.audit.append('up', {});
      const candidate = this.pending ?? this.current?.trusted;
      let result: IngestResult = { result: 'none' };
      if (candidate) result = await this.ingest(candidate.signed, candidate.text);
      else {
        const lastGood = await this.trust.lastGood().catch(() => undefined);
        if (lastGood) result = await this.applyTrusted(lastGood, 'last-good');
      }
      this.source.invalidate();
      const polled = await this.pollOnce(true);
      return polled.result === 'none' || polled.result === 'unchanged' ? result : polled;
    });
  }

  /**
   * Re-runs the reconciler on the applied netmap (e.g. after the path controller changed a peer's
   * path, so `resolvePeerEndpoint` substitutes endpoints anew). Makes no calls when nothing changed.
   */
  reapply(): Promise<IngestResult> {
    return this.serial(async () => {
      const current = this.current;
      if (!this.dataPlane || !current) return { result: 'none' as const };
      try {
        const r = await this.reconciler.reconcile(current.trusted.netmap, this.config.node, this.readInterfaces);
        if (this.policy) this.policySync.ok = true;
        this.metrics.applies.inc({ result: r.noop ? 'noop' : 'applied' });
        const self = current.trusted.netmap.nodes.find((n) => n.id === this.config.node);
        if (self) await this.syncDns(current.trusted.netmap, self);
        return { result: r.noop ? ('unchanged' as const) : ('applied' as const), version: current.trusted.netmap.version };
      } catch (err) {
        const e = toRustynetError(err, 'BACKEND_FAILED');
        this.metrics.applies.inc({ result: 'failed' });
        this.logger.error({ code: e.code, err: e.message }, 're-apply failed; keeping the last good state');
        return { result: 'failed' as const, version: current.trusted.netmap.version, error: e.toJSON() };
      }
    });
  }

  /**
   * Reads the backend's current tunnel interfaces (`stats().interfaces`, deduplicated and
   * sorted) and records them for status. The reconciler calls it at the policy step.
   */
  private readonly readInterfaces: InterfaceReader = async () => {
    const stats = await this.backend!.instance.stats(this.callOpts());
    const interfaces = [...new Set(stats.interfaces)].sort();
    if (this.dataPlane) {
      if (!jsonEqual(this.dataPlane.interfaces, interfaces)) this.logger.info({ from: this.dataPlane.interfaces, to: interfaces }, 'backend tunnel interfaces changed');
      this.dataPlane.interfaces = interfaces;
    }
    return interfaces;
  };

  /** Points DNS at the netmap's zone and this node's addresses, then syncs it. Never throws. */
  private async syncDns(netmap: Netmap, self: NetmapNode): Promise<void> {
    if (!this.dnsController || !this.dataPlane) return;
    this.dnsController.setDesired(self.addresses, dnsZoneFrom(netmap));
    await this.dnsController.sync();
  }

  /**
   * Between applies: re-applies the policy when the backend's tunnel interfaces changed (one
   * `stats()` call, only with a policy plugin), and restarts DNS when the node's assigned mesh
   * addresses changed or DNS failed before. Runs inside `serial`; never throws.
   */
  private async syncDataPlane(): Promise<void> {
    const current = this.current;
    if (!this.dataPlane || !current || this._state !== 'up') return;
    if (this.policy) {
      try {
        if (await this.reconciler.syncPolicy(current.trusted.netmap, this.config.node, this.readInterfaces)) {
          this.logger.info({ interfaces: this.reconciler.actual.policy?.interfaces }, 'policy re-applied for the changed tunnel interfaces');
        }
        this.policySync.ok = true;
      } catch (err) {
        const e = toRustynetError(err, 'POLICY_FAILED');
        this.policySync = {
          ok: false,
          lastError: { code: e.code, message: e.message, at: new Date(this.services.clock.now()).toISOString() },
          failures: this.policySync.failures + 1,
        };
        this.metrics.policySyncFailures.inc();
        this.logger.error({ code: e.code, err: e.message }, 'policy re-apply for changed tunnel interfaces failed; the previous policy stays, retrying on the next cycle');
      }
    }
    await this.dnsController?.sync();
  }

  /**
   * Checks the data plane against the applied netmap now, as every poll tick does: re-applies the
   * policy when the backend's tunnel interfaces changed, restarts DNS when the node's assigned
   * mesh addresses changed (or retries a failed DNS start/update). No-op while not up.
   * @throws RustynetError `NOT_RUNNING` before `start` or after `stop`.
   */
  refresh(): Promise<void> {
    return this.serial(async () => {
      if (!this.started || this.stopped) throw new RustynetError('NOT_RUNNING', 'daemon is not running');
      await this.syncDataPlane();
    });
  }

  /** Re-reads the netmap source now and processes it (`POST /v1/netmap/reload`). */
  reload(): Promise<IngestResult> {
    return this.serial(async () => {
      if (!this.started || this.stopped) throw new RustynetError('NOT_RUNNING', 'daemon is not running');
      const r = await this.pollOnce(true);
      return r;
    });
  }

  /**
   * Stops the daemon: the poll loop, the `shutdown` hook, plugins in reverse order, the local API
   * (socket removed). Idempotent.
   */
  async stop(): Promise<void> {
    if (this.stopped || !this.started) return;
    this.stopped = true;
    this.pollAbort.abort();
    await this.chain.catch(() => undefined);
    await this.pollLoop?.catch(() => undefined);
    await this.serial(async () => {
      if (this.hooks) await this.hooks.runShutdown();
      await this.stopDataPlane();
      await this.probeTransport?.close().catch(() => undefined);
      await this.api?.stop().catch((err: unknown) => this.logger.error({ err: String(err) }, 'local API stop failed'));
      if (this.audit) await this.audit.append('daemon.stop', {}).catch(() => undefined);
      if (this._state !== 'failed') this._state = 'down';
      this.logger?.info('daemon stopped');
    });
    this.removeGuards?.();
    this.removeGuards = undefined;
  }

  /** Loaded plugins with their run-time capabilities. */
  pluginInfos(): PluginInfo[] {
    return this.loadedPlugins.map((p) => {
      let capabilities: Record<string, unknown>;
      try {
        capabilities = { ...p.instance.capabilities() };
      } catch {
        capabilities = { ...p.manifest.capabilities };
      }
      return { name: p.manifest.name, version: p.manifest.version, kind: p.manifest.kind, apiVersion: p.apiVersion, capabilities };
    });
  }

  /** The hook timeline (newest last). */
  timeline(): HookTimelineEntry[] {
    return this.hooks?.timeline.entries() ?? [];
  }

  /** The status document served at `GET /v1/status`. */
  async status(): Promise<DaemonStatus> {
    const current = this.current?.trusted.netmap;
    let stats: PeerStats[] = [];
    let interfaces = this.dataPlane?.interfaces ?? [];
    if (this.dataPlane && this.backend) {
      try {
        const s = await this.backend.instance.stats({ timeoutMs: 5000 });
        stats = s.peers;
        interfaces = [...new Set(s.interfaces)].sort();
      } catch (err) {
        this.logger.warn({ err: toRustynetError(err).message }, 'backend stats failed');
      }
    }
    const byId = new Map(stats.map((s) => [s.id, s]));
    const paths = this.pathSource();
    const peers: PeerStatus[] = this.dataPlane
      ? [...(this.reconciler?.actual.peers.values() ?? [])].map((p) => {
          const s = byId.get(p.id);
          const ep = s?.endpoint ?? p.endpoint;
          return {
            id: p.id,
            endpoint: ep ? formatEndpoint(ep) : null,
            path: paths.pathFor(p.id),
            allowedIps: [...p.allowedIps],
            lastHandshakeAt: s?.lastHandshakeAt ? new Date(s.lastHandshakeAt).toISOString() : null,
            rxBytes: s?.rxBytes ?? 0,
            txBytes: s?.txBytes ?? 0,
          };
        })
      : [];
    const b = this.backend?.loaded;
    return {
      node: this.config.node,
      state: this._state,
      netmap: current && this.current ? { version: current.version, appliedAt: new Date(this.current.appliedAt).toISOString(), expiresAt: current.expiresAt } : null,
      lastRejection: this.lastRejection,
      backend: b
        ? {
            name: b.manifest.name,
            version: b.manifest.version,
            apiVersion: b.apiVersion,
            interfaces,
            listenPort: this.dataPlane?.listenPort ?? null,
          }
        : null,
      peers,
      plugins: this.pluginInfos(),
      policy: this.policy ? { interfaces: [...(this.reconciler?.actual.policy?.interfaces ?? [])], ...this.policySync } : null,
      dns: this.dnsController?.status() ?? null,
    };
  }
}
