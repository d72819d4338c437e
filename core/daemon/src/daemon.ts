import { RustynetError, type Logger } from '@rustynet/plugin-api';
import { validateDaemonConfig } from './config/load.js';
import type { DaemonConfig } from './config/schema.js';
import type { HostServices } from './container/containers.js';
import type { LocalAddressLookup } from './dns/dns-controller.js';
import type { NetmapSource } from './netmap/source.js';
import type { DaemonHooks } from './hooks/daemon-hooks.js';
import type { HookTimelineEntry } from './hooks/timeline-interceptor.js';
import type { LoadedPlugin } from './loader/load-plugin.js';
import { NodeState, type IngestResult } from './local/ingest.js';
import type { ProbeTransportFactory } from './local/path-probing.js';
import { createSession, type Session } from './local/session.js';
import { buildStatus, statusWithoutSession } from './local/status.js';
import type { DaemonState, DaemonStatus, PluginInfo } from './local/status-types.js';
import type { PathController } from './path/path-controller.js';
import type { PeerPathSource } from './path/path-source.js';
import { installProcessGuards } from './process-guards.js';
import { createHostServices } from './services/host-services.js';
import type { TrustedNetmap } from './trust/netmap-trust.js';
import { toRustynetError } from './util/errors.js';

export type { IngestResult } from './local/ingest.js';
export type { DaemonState, DaemonStatus, PeerStatus, PluginInfo } from './local/status-types.js';

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
  probeTransport?: ProbeTransportFactory;
  /**
   * Lists the IP addresses assigned in the daemon's network namespace (default:
   * `os.networkInterfaces()`); the DNS plugin listens on the node's mesh addresses found here.
   */
  localAddresses?: LocalAddressLookup;
  /**
   * Where signed netmaps come from, replacing the configured source. Required for
   * `netmap.control`: `rustynetd` passes a `ControlNetmapSource` (from `@rustynet/control/client`).
   */
  netmapSource?: NetmapSource;
}

/** Default netmap poll interval, ms. */
const DEFAULT_POLL_INTERVAL_MS = 1000;

/**
 * The Rustynet daemon's life-cycle shell. The work is done by the session's parts (see
 * `src/local/`): {@link createSession} builds them; `Ingest` walks a netmap from the source
 * through trust and the veto hook to the `DataPlane`'s apply; `buildStatus` reports.
 *
 * Life cycle: `start()` (API up, plugins loaded, last good netmap re-applied, source polled),
 * `down()` (tunnel removed, daemon and API stay), `up()` (tunnel back with the last good netmap),
 * `stop()` (shutdown hook, plugins stopped in reverse order, socket removed). Every
 * state-changing operation runs in one serialiser.
 */
export class Daemon {
  readonly config: DaemonConfig;
  private readonly opts: DaemonOptions;
  private readonly node = new NodeState();
  private session: Session | undefined;
  private services: HostServices | undefined;
  private removeGuards: (() => void) | undefined;
  private started = false;
  private stopped = false;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly pollAbort = new AbortController();
  private pollLoop: Promise<void> | undefined;

  /** @throws RustynetError `CONFIG_INVALID` naming the bad field. */
  constructor(config: DaemonConfig, opts: DaemonOptions = {}) {
    this.config = validateDaemonConfig(config);
    if ('control' in this.config.netmap && !opts.netmapSource) {
      throw new RustynetError('CONFIG_INVALID', 'netmap.control needs DaemonOptions.netmapSource (rustynetd builds it)', {
        field: 'netmap.control',
      });
    }
    this.opts = opts;
  }

  /** Current life-cycle state. */
  get state(): DaemonState {
    return this.node.state;
  }

  /** Loaded plugins (backend first); empty before `start`. */
  get loadedPlugins(): LoadedPlugin[] {
    return this.session?.plugins.all ?? [];
  }

  /** The path controller (after `start`, when `pathProbe` is configured). */
  get pathController(): PathController | undefined {
    return this.session?.probing?.controller;
  }

  /**
   * The daemon's hooks (plugins tap them through their context).
   * @throws RustynetError `NOT_RUNNING` before `start` built them.
   */
  get hooks(): DaemonHooks {
    return this.live().hooks;
  }

  /**
   * The host services in use.
   * @throws RustynetError `NOT_RUNNING` before `start`.
   */
  get hostServices(): HostServices {
    if (!this.services) throw new RustynetError('NOT_RUNNING', 'daemon is not started');
    return this.services;
  }

  private live(): Session {
    if (!this.session) throw new RustynetError('NOT_RUNNING', 'daemon is not running');
    return this.session;
  }

  /** Runs `fn` after every earlier state-changing operation finished. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(fn, fn);
    this.chain = p.catch(() => undefined);
    return p;
  }

  /** The running session, for operations allowed only between `start` and `stop`. */
  private running(): Session {
    if (!this.started || this.stopped || !this.session) throw new RustynetError('NOT_RUNNING', 'daemon is not running');
    return this.session;
  }

  /**
   * Starts the daemon. Resolves once the API listens, the plugins are loaded and the first netmap
   * (the persisted last good one, then the source's current one) has been processed.
   * @throws RustynetError `ALREADY_RUNNING`, `KEY_INVALID`, any loader error (`PLUGIN_NOT_FOUND`,
   *   `MANIFEST_INVALID`, `API_VERSION_MISMATCH`, `PLUGIN_LOAD_FAILED`, `CONFIG_INVALID`); the
   *   daemon is then stopped again (state `failed`).
   */
  async start(): Promise<void> {
    if (this.started) throw new RustynetError('ALREADY_RUNNING', 'daemon already started');
    this.started = true;
    const cfg = this.config;
    const services =
      this.opts.services ??
      createHostServices({
        stateDir: cfg.stateDir,
        ...(cfg.log?.level !== undefined && { logLevel: cfg.log.level }),
        ...(cfg.log?.file !== undefined && { logFile: cfg.log.file }),
        ...(cfg.log?.pretty !== undefined && { pretty: cfg.log.pretty }),
      });
    this.services = services;
    const logger: Logger = services.logger.child({ component: 'daemon', node: cfg.node });
    if (this.opts.processGuards !== false) this.removeGuards = installProcessGuards(logger);
    let session: Session;
    try {
      session = await createSession({
        config: cfg,
        services,
        state: this.node,
        serial: (fn) => this.serial(fn),
        handlers: {
          status: () => this.status(),
          plugins: () => Promise.resolve(this.pluginInfos()),
          up: async () => {
            await this.up();
            return { state: this.state };
          },
          down: async () => {
            await this.down();
            return { state: this.state };
          },
          reload: () => this.reload(),
          metrics: async () => ({ contentType: services.metrics.registry.contentType, body: await services.metrics.registry.metrics() }),
          timeline: () => Promise.resolve(this.timeline()),
        },
        ...(this.opts.cwd !== undefined && { cwd: this.opts.cwd }),
        ...(this.opts.paths && { paths: this.opts.paths }),
        ...(this.opts.probeTransport && { probeTransport: this.opts.probeTransport }),
        ...(this.opts.localAddresses && { localAddresses: this.opts.localAddresses }),
        ...(this.opts.netmapSource && { netmapSource: this.opts.netmapSource }),
      });
    } catch (err) {
      this.stopped = true;
      this.removeGuards?.();
      this.removeGuards = undefined;
      throw err;
    }
    this.session = session;

    await this.serial(async () => {
      let lastGood: TrustedNetmap | undefined;
      try {
        lastGood = await session.trust.lastGood();
      } catch (err) {
        session.logger.warn(
          { code: toRustynetError(err).code, err: toRustynetError(err).message },
          'last good netmap no longer verifies; waiting for a new one',
        );
      }
      if (lastGood) await session.ingest.applyTrusted(lastGood, 'last-good');
      await session.ingest.pollOnce(true);
    });
    this.pollLoop = this.runPollLoop(session);
  }

  /**
   * Every `netmap.pollIntervalMs` (default 1 s) while not down: polls the source; unless that
   * applied (or failed to apply) a netmap, checks the data plane for drift; retries a failed relay
   * start when due.
   */
  private async runPollLoop(s: Session): Promise<void> {
    const interval = this.config.netmap.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    const signal = this.pollAbort.signal;
    const clock = s.components.clock;
    while (!signal.aborted) {
      try {
        await clock.sleep(interval, signal);
      } catch {
        break;
      }
      if (signal.aborted) break;
      if (this.node.state === 'down') continue;
      const polled = await this.serial(() => s.ingest.pollOnce(false)).catch((err: unknown) => {
        s.logger.error({ err: String(err) }, 'netmap poll failed');
        return undefined;
      });
      // An apply just synced policy interfaces and DNS; otherwise check for drift now.
      if (polled?.result !== 'applied' && polled?.result !== 'failed') {
        await this.serial(() => this.syncDrift(s)).catch((err: unknown) => s.logger.error({ err: String(err) }, 'data-plane sync failed'));
      }
      if (s.dataPlane.relayRetryDue()) {
        await this.serial(() => s.dataPlane.retryRelay()).catch((err: unknown) =>
          s.logger.error({ err: String(err) }, 'relay retry failed'),
        );
      }
    }
  }

  /** Drift sync of the applied netmap while up (see `DataPlane.syncDrift`). */
  private async syncDrift(s: Session): Promise<void> {
    const current = this.node.current;
    if (!current || this.node.state !== 'up') return;
    await s.dataPlane.syncDrift(current.trusted.netmap);
  }

  /**
   * Removes the tunnel (backend and the other plugins stop) but keeps the daemon and its API.
   * @throws RustynetError `NOT_RUNNING` before `start` or after `stop`.
   */
  down(): Promise<void> {
    return this.serial(async () => {
      const s = this.running();
      await s.dataPlane.stop();
      this.node.state = 'down';
      await s.audit.append('down', {});
      s.logger.info('tunnel down');
    });
  }

  /**
   * Brings the tunnel back: re-applies the newest verified netmap (the one received while down,
   * else the last good one), then re-reads the source.
   * @throws RustynetError `NOT_RUNNING` before `start` or after `stop`.
   */
  up(): Promise<IngestResult> {
    return this.serial(async () => {
      const s = this.running();
      if (this.node.state === 'up' && s.dataPlane.running) return { result: 'unchanged' as const };
      this.node.state = 'starting';
      await s.audit.append('up', {});
      const candidate = this.node.pending ?? this.node.current?.trusted;
      let result: IngestResult = { result: 'none' };
      if (candidate) result = await s.ingest.ingest(candidate.signed, candidate.text);
      else {
        const lastGood = await s.trust.lastGood().catch(() => undefined);
        if (lastGood) result = await s.ingest.applyTrusted(lastGood, 'last-good');
      }
      s.source.invalidate();
      const polled = await s.ingest.pollOnce(true);
      return polled.result === 'none' || polled.result === 'unchanged' ? result : polled;
    });
  }

  /**
   * Re-runs the reconciler on the applied netmap (e.g. after the path controller changed a peer's
   * path, so `resolvePeerEndpoint` substitutes endpoints anew). Makes no calls when nothing changed.
   * Resolves `none` before anything was applied.
   */
  reapply(): Promise<IngestResult> {
    return this.serial(async () => (this.session ? this.session.ingest.reapply() : { result: 'none' as const }));
  }

  /**
   * Checks the data plane against the applied netmap now, as every poll tick does: re-applies the
   * policy when the backend's tunnel interfaces changed, restarts DNS when the node's assigned
   * mesh addresses changed (or retries a failed DNS start/update). No-op while not up.
   * @throws RustynetError `NOT_RUNNING` before `start` or after `stop`.
   */
  refresh(): Promise<void> {
    return this.serial(async () => {
      await this.syncDrift(this.running());
    });
  }

  /**
   * Processes the source's content now if it changed (what each poll tick does), e.g. when a
   * pushing source (the control plane's long-poll) reports a new netmap. No-op while down.
   * @throws RustynetError `NOT_RUNNING` before `start` or after `stop`.
   */
  pollNow(): Promise<IngestResult> {
    return this.serial(async () => (this.node.state === 'down' ? { result: 'none' as const } : this.running().ingest.pollOnce(false)));
  }

  /**
   * Re-reads the netmap source now and processes it (`POST /v1/netmap/reload`).
   * @throws RustynetError `NOT_RUNNING` before `start` or after `stop`.
   */
  reload(): Promise<IngestResult> {
    return this.serial(async () => this.running().ingest.pollOnce(true));
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
    const s = this.session;
    if (s) {
      await this.serial(async () => {
        await s.hooks.runShutdown();
        await s.dataPlane.stop();
        await s.probing?.transport.close().catch(() => undefined);
        await s.api.stop().catch((err: unknown) => s.logger.error({ err: String(err) }, 'local API stop failed'));
        await s.audit.append('daemon.stop', {}).catch(() => undefined);
        if (this.node.state !== 'failed') this.node.state = 'down';
        s.logger.info('daemon stopped');
      });
    }
    this.removeGuards?.();
    this.removeGuards = undefined;
  }

  /** Loaded plugins with their run-time capabilities. */
  pluginInfos(): PluginInfo[] {
    return this.session?.plugins.infos() ?? [];
  }

  /** The hook timeline (newest last). */
  timeline(): HookTimelineEntry[] {
    return this.session?.hooks.timeline.entries() ?? [];
  }

  /** The status document served at `GET /v1/status` (see {@link DaemonStatus}). */
  async status(): Promise<DaemonStatus> {
    const s = this.session;
    if (!s) return statusWithoutSession(this.config.node, this.node);
    return buildStatus({
      node: this.config.node,
      state: this.node,
      plugins: s.plugins,
      dataPlane: s.dataPlane,
      reconciler: s.reconciler,
      dns: s.dns,
      paths: s.paths,
      logger: s.logger,
    });
  }
}
