import { performance } from 'node:perf_hooks';
import { RustynetError, type Logger } from '@rustynet/plugin-api';
import { validateDaemonConfig } from './config/load.js';
import type { DaemonConfig } from './config/schema.js';
import type { HostServices } from './container/containers.js';
import type { DaemonHooks } from './hooks/daemon-hooks.js';
import type { HookTimelineEntry } from './hooks/timeline-interceptor.js';
import type { LoadedPlugin } from './loader/load-plugin.js';
import { expiryTargetOf, failClosedAtExpiry, restoreRecorded, runHealthLoop, runPollLoop, syncDrift } from './local/background.js';
import { diagnosticHandlers } from './local/diagnostics.js';
import { DEFAULT_EXPIRY_WARNING_SECONDS, ExpiryGuard } from './local/expiry.js';
import { NodeState, type IngestResult } from './local/ingest.js';
import { DaemonOps, probeViewOf } from './local/ops-endpoint.js';
import { createSession, type Session } from './local/session.js';
import { buildStatus, statusWithoutSession } from './local/status.js';
import type { DaemonState, DaemonStatus, PluginInfo } from './local/status-types.js';
import type { PathController } from './path/path-controller.js';
import type { DaemonOptions } from './local/daemon-options.js';
import { installProcessGuards } from './process-guards.js';
import { applyRotatedKeys, rotateKeysUnsupported } from './local/rotate-keys.js';
import { createHostServices } from './services/host-services.js';
import { settleWithin } from './util/settle-within.js';

export type { DaemonOptions } from './local/daemon-options.js';
export type { IngestResult } from './local/ingest.js';
export type { DaemonState, DaemonStatus, PeerStatus, PluginInfo } from './local/status-types.js';

/** Default netmap poll interval, ms. */
const DEFAULT_POLL_INTERVAL_MS = 1000;

/** What `stop` aims for, ms: the daemon is gone within this with any map size. */
export const STOP_BUDGET_MS = 5_000;
/** How long `stop` waits for the aborted apply (and for `start`) to settle, each, ms. */
const STOP_DRAIN_MS = 1_500;
/** How long `stop` waits for the `shutdown` hook, ms. */
const STOP_HOOK_MS = 1_000;

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
  private healthLoop: Promise<void> | undefined;
  private expiry: ExpiryGuard | undefined;
  /** Fires at `stop`: the apply and plugin calls in progress abort at their next step. */
  private readonly lifetime = new AbortController();
  /** `start` in progress (`stop` waits for it, bounded, so that it tears down what start built). */
  private startup: Promise<void> | undefined;
  private ops: DaemonOps | undefined;

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

  /** The bound address of the metrics and health listener (`metrics.listen`), if it runs. */
  get opsAddress(): { host: string; port: number } | undefined {
    return this.ops?.address;
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
  start(): Promise<void> {
    if (this.started) return Promise.reject(new RustynetError('ALREADY_RUNNING', 'daemon already started'));
    this.started = true;
    this.startup = this.startSession();
    return this.startup;
  }

  private async startSession(): Promise<void> {
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
    const ops = new DaemonOps({
      registry: services.metrics.registry,
      status: () => this.status(),
      probe: () => probeViewOf(cfg.node, this.node, this.session?.watchdog.health()),
      beforeScrape: () => this.expiry?.check(),
      alive: () => this.started && !this.stopped,
      config: cfg.metrics,
    });
    this.ops = ops;
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
          rotateKeys: () => (this.opts.rotateKeys ? this.opts.rotateKeys() : Promise.reject(rotateKeysUnsupported())),
          metrics: () => ops.metrics(),
          timeline: () => Promise.resolve(this.timeline()),
          ...diagnosticHandlers({ node: cfg.node, state: this.node, session: () => this.session }),
        },
        ...(this.opts.cwd !== undefined && { cwd: this.opts.cwd }),
        ...(this.opts.paths && { paths: this.opts.paths }),
        ...(this.opts.probeTransport && { probeTransport: this.opts.probeTransport }),
        ...(this.opts.localAddresses && { localAddresses: this.opts.localAddresses }),
        ...(this.opts.netmapSource && { netmapSource: this.opts.netmapSource }),
        signal: this.lifetime.signal,
      });
    } catch (err) {
      this.stopped = true;
      this.removeGuards?.();
      this.removeGuards = undefined;
      throw err;
    }
    this.session = session;
    this.expiry = new ExpiryGuard({
      warningSeconds: cfg.netmap.expiryWarningSeconds ?? DEFAULT_EXPIRY_WARNING_SECONDS,
      metrics: services.metrics,
      clock: session.components.clock,
      logger: session.logger,
      onExpired: (t) => this.serial(async () => (this.stopped ? undefined : failClosedAtExpiry(session, this.node, t))),
    });

    await ops.start(session.logger);
    await this.serial(async () => {
      if (this.stopped) return;
      await restoreRecorded(session, this.node);
      this.watchExpiry();
    });
    if (!this.stopped) {
      this.pollLoop = runPollLoop(session, this.node, {
        intervalMs: this.config.netmap.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS,
        signal: this.pollAbort.signal,
        serial: (fn) => this.serial(fn),
        afterPoll: () => this.watchExpiry(),
      });
      this.healthLoop = runHealthLoop(session, this.pollAbort.signal, (fn) => this.serial(fn));
    }
  }

  /** Points the expiry guard at the applied netmap (after anything that may have applied one). */
  private watchExpiry(): void {
    this.expiry?.watch(expiryTargetOf(this.node));
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
      this.watchExpiry();
      // Nothing fresh to bring up after an expiry: stay failed closed.
      if (this.node.state === 'starting' && !s.dataPlane.running && this.expiry?.expired) this.node.state = 'expired';
      return polled.result === 'none' || polled.result === 'unchanged' ? result : polled;
    });
  }

  /** After `rotate-keys` replaced the key files: reloads the identity, restarts the data plane with the new backend key, then {@link up}. @throws RustynetError `NOT_RUNNING`, `KEY_INVALID` (nothing stopped). */
  async applyRotatedKeys(): Promise<IngestResult> {
    await this.serial(() => applyRotatedKeys(this.running(), this.config.identityKeyFile).then(() => void (this.node.state = 'down')));
    return this.up();
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
      await syncDrift(this.running(), this.node);
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
    return this.serial(async () => {
      const r = await this.running().ingest.pollOnce(true);
      this.watchExpiry();
      return r;
    });
  }

  /**
   * Stops the daemon promptly (within {@link STOP_BUDGET_MS} with any map size): aborts the apply
   * and plugin calls in progress at their next step (the apply rolls back, nothing is committed),
   * waits a bounded time for them, then the poll loop, the `shutdown` hook, the plugins in reverse
   * order (relay, DNS, policy, backend: tunnel, routes and policy tables removed, each call under
   * a short deadline), the local API (socket removed). Operations queued behind the apply (a
   * reload) are answered, with `NOT_RUNNING` when they had not started. Idempotent.
   */
  async stop(): Promise<void> {
    if (this.stopped || !this.started) return;
    this.stopped = true;
    const t0 = performance.now();
    this.pollAbort.abort();
    this.lifetime.abort(new RustynetError('ABORTED', 'daemon stopping'));
    this.expiry?.close();
    await settleWithin(this.session?.watchdog.stop(), STOP_DRAIN_MS);
    await settleWithin(this.startup, STOP_DRAIN_MS);
    await settleWithin(this.chain, STOP_DRAIN_MS);
    await settleWithin(this.pollLoop, STOP_DRAIN_MS);
    await settleWithin(this.healthLoop, STOP_DRAIN_MS);
    const s = this.session;
    if (s) {
      // Not through the serialiser: an operation that ignored the abort must not hold the
      // teardown back; every step below has its own deadline.
      await settleWithin(
        s.hooks.runShutdown().catch((err: unknown) => s.logger.error({ err: String(err) }, 'shutdown hook failed')),
        STOP_HOOK_MS,
      );
      await s.dataPlane.stop();
      await s.probing?.transport.close().catch(() => undefined);
      await this.ops?.stop();
      await s.api.stop().catch((err: unknown) => s.logger.error({ err: String(err) }, 'local API stop failed'));
      await s.audit.append('daemon.stop', {}).catch(() => undefined);
      if (this.node.state !== 'failed') this.node.state = 'down';
      s.logger.info({ stopMs: Math.round(performance.now() - t0) }, 'daemon stopped');
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
      health: s.watchdog.health(),
      auditCheck: s.auditCheck,
      logger: s.logger,
      source: s.source,
    });
  }
}
