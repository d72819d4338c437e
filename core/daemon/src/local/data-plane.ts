import {
  DEFAULT_CALL_TIMEOUT_MS,
  type BackendFault,
  type BackendStartConfig,
  type CallOptions,
  type Clock,
  type Endpoint,
  type Logger,
  type Netmap,
  type NetmapNode,
  type NetmapRelay,
  type NodeId,
} from '@rustynet/plugin-api';
import type { DaemonConfig } from '../config/schema.js';
import type { DnsController } from '../dns/dns-controller.js';
import type { PathController } from '../path/path-controller.js';
import type { PeerPathSource } from '../path/path-source.js';
import { jsonEqual } from '../reconciler/diff.js';
import type { Reconciler, ReconcileResult } from '../reconciler/reconciler.js';
import { toRustynetError } from '../util/errors.js';
import type { DaemonMetrics } from './metrics.js';
import { peerPathsFor } from './path-probing.js';
import type { PluginSet } from './plugin-set.js';
import type { RelayClient } from './relay-client.js';
import type { PolicyStatus } from './status-types.js';

/** What the running data plane was started with. */
export interface RunningDataPlane {
  startConfig: BackendStartConfig;
  /** The backend's listen port as reported at start, or null. */
  listenPort: number | null;
  relays: NetmapRelay[];
}

/** The parts the data plane drives. */
export interface DataPlaneDeps {
  config: DaemonConfig;
  plugins: PluginSet;
  reconciler: Reconciler;
  dns: DnsController | undefined;
  relay: RelayClient | undefined;
  path: PathController | undefined;
  /** Test/embedding override of each peer's path (see `DaemonOptions.paths`). */
  pathOverride: PeerPathSource | undefined;
  metrics: DaemonMetrics;
  clock: Pick<Clock, 'now'>;
  logger: Logger;
  callOptions: () => CallOptions;
  /** Passed to the backend as `onFault` (the watchdog's report). Not part of the start-config comparison. */
  onFault?: (fault: BackendFault) => void;
}

/**
 * The plugins that carry traffic, as one unit: starts them (backend -> policy -> relay) when the
 * first netmap is applied and restarts them when the node's own addresses or port change, applies
 * netmaps through the reconciler (peers -> routes -> policy -> dns), keeps policy and DNS in line
 * with the backend between applies (drift), and stops them in reverse order.
 */
export class DataPlane {
  private run: RunningDataPlane | undefined;
  private policySync: Omit<PolicyStatus, 'interfaces'> = { ok: true, lastError: null, failures: 0 };

  constructor(private readonly d: DataPlaneDeps) {}

  /** What the running data plane was started with; undefined while stopped. */
  get running(): Readonly<RunningDataPlane> | undefined {
    return this.run;
  }

  /**
   * Applies a verified netmap: validates peer keys (nothing changes on a bad one), starts or
   * restarts the plugins if needed, syncs the path controller, then reconciles (the transaction,
   * then DNS) with each peer's path as data, and closes relay paths no longer used.
   * @param beforeSync runs once the data plane is up, before the path controller takes the
   *   netmap (the ingest checks the node's own probe settings there).
   * @returns the reconcile result (plan, transactional steps, peers applied, DNS outcome).
   * @throws RustynetError `INVALID_INPUT` (bad peer key, nothing changed), a plugin start error,
   *   or the failing apply step's error (rolled back).
   */
  async apply(netmap: Netmap, self: NetmapNode, beforeSync?: () => void): Promise<ReconcileResult> {
    const { reconciler, path } = this.d;
    reconciler.validate(netmap, self.id);
    await this.ensure(netmap, self);
    if (path) {
      beforeSync?.();
      const protocol = this.d.plugins.protocol;
      await path.sync(netmap.nodes, (n) => Object.hasOwn(n.keys, protocol));
    }
    // The policy's interfaces are read from the backend at the policy step (per-peer devices).
    const result = await reconciler.reconcile(netmap, self.id, 'backend', peerPathsFor(netmap, this.d.pathOverride, path));
    this.policySync.ok = true;
    await path?.afterApply();
    return result;
  }

  /**
   * Reconciles the applied netmap again (e.g. after a path switch, so `resolvePeerEndpoint`
   * substitutes endpoints anew). Makes no calls when nothing changed.
   * @throws RustynetError the failing step's error (rolled back).
   */
  async reapply(netmap: Netmap): Promise<ReconcileResult> {
    const result = await this.d.reconciler.reconcile(
      netmap,
      this.d.config.node,
      'backend',
      peerPathsFor(netmap, this.d.pathOverride, this.d.path),
    );
    this.policySync.ok = true;
    return result;
  }

  /**
   * Starts backend, policy and relay (in that order) if needed; restarts them when the node's own
   * addresses or port changed. DNS starts at the apply's DNS step.
   */
  private async ensure(netmap: Netmap, self: NetmapNode): Promise<void> {
    const cfg = this.d.config;
    const { plugins, reconciler } = this.d;
    const startConfig: BackendStartConfig = {
      nodeId: self.id,
      // A backend without the ipv6 capability gets only the IPv4 addresses.
      addresses: self.addresses.filter((a) => plugins.routeCaps.ipv6 !== false || !a.includes(':')),
      listenPort: cfg.backend.listenPort ?? self.endpoints[0]?.port ?? 0,
      ...(cfg.backend.mtu !== undefined && { mtu: cfg.backend.mtu }),
      interfaceName: cfg.backend.interfaceName,
      keyDirectory: cfg.backend.keyDirectory,
    };
    const relays = netmap.relays ?? [];
    if (this.run) {
      if (jsonEqual(this.run.startConfig, startConfig)) {
        if (this.d.relay && !jsonEqual(this.run.relays, relays)) {
          await this.d.relay.restart(relays);
          this.run.relays = relays;
        }
        this.d.path?.start();
        return;
      }
      this.d.logger.info(
        { from: this.run.startConfig.addresses, to: startConfig.addresses },
        'own addresses or port changed; restarting the data plane',
      );
      await this.stop();
    }
    const backend = plugins.backend.instance;
    const started: Array<{ name: string; stop: () => Promise<void> }> = [];
    try {
      await backend.start({ ...startConfig, ...(this.d.onFault && { onFault: this.d.onFault }) }, this.d.callOptions());
      started.push({ name: 'backend', stop: () => backend.stop(this.d.callOptions()) });
      reconciler.reset();
      // Interfaces now are only a first view: a backend may create devices per peer. The policy
      // step reads them again.
      const stats = await backend.stats(this.d.callOptions());
      reconciler.noteInterfaces(stats.interfaces, true);
      const policy = plugins.policy?.instance;
      if (policy) {
        await policy.start(this.d.callOptions());
        started.push({ name: 'policy', stop: () => policy.stop(this.d.callOptions()) });
      }
      if (this.d.relay) await this.d.relay.start(relays);
      this.run = { startConfig, listenPort: stats.listenPort ?? (startConfig.listenPort || null), relays };
      this.d.path?.start();
    } catch (err) {
      for (const s of started.reverse())
        await s.stop().catch((e: unknown) => this.d.logger.error({ plugin: s.name, err: String(e) }, 'stop after failed start failed'));
      throw err;
    }
  }

  /** Stops relay, dns, policy, backend (reverse start order); errors are logged. Never throws. */
  async stop(): Promise<void> {
    const { path, relay, dns, plugins } = this.d;
    await path?.stop();
    const policy = plugins.policy?.instance;
    const steps: Array<[string, (() => Promise<void>) | undefined]> = [
      ['relay', relay && (() => relay.stop())],
      ['dns', dns && (() => dns.stop())],
      ['policy', policy && (() => policy.stop(this.d.callOptions()))],
      ['backend', () => plugins.backend.instance.stop(this.d.callOptions())],
    ];
    for (const [name, stop] of steps) {
      if (!stop) continue;
      try {
        await stop();
      } catch (err) {
        this.d.logger.error({ plugin: name, err: toRustynetError(err).message }, 'plugin stop failed');
      }
    }
    this.run = undefined;
    await path?.reset('data plane stopped').catch((e: unknown) => this.d.logger.error({ err: String(e) }, 'path reset failed'));
    this.d.reconciler.reset();
    this.d.metrics.peers.set(0);
  }

  /**
   * Between applies: re-applies the policy when the backend's tunnel interfaces changed (one
   * `stats()` call, only with a policy plugin), and restarts DNS when the node's assigned mesh
   * addresses changed or DNS failed before. Never throws.
   */
  async syncDrift(netmap: Netmap): Promise<void> {
    if (!this.run) return;
    if (this.d.plugins.policy) {
      try {
        if (await this.d.reconciler.syncPolicy(netmap, this.d.config.node, 'backend')) {
          this.d.logger.info(
            { interfaces: this.d.reconciler.actual.policy?.interfaces },
            'policy re-applied for the changed tunnel interfaces',
          );
        }
        this.policySync.ok = true;
      } catch (err) {
        const e = toRustynetError(err, 'POLICY_FAILED');
        this.policySync = {
          ok: false,
          lastError: { code: e.code, message: e.message, at: new Date(this.d.clock.now()).toISOString() },
          failures: this.policySync.failures + 1,
        };
        this.d.metrics.policySyncFailures.inc();
        this.d.logger.error(
          { code: e.code, err: e.message },
          'policy re-apply for changed tunnel interfaces failed; the previous policy stays, retrying on the next cycle',
        );
      }
    }
    await this.d.dns?.sync();
  }

  /** True when a failed relay start is due to be retried. */
  relayRetryDue(): boolean {
    return this.d.relay?.retryDue() ?? false;
  }

  /** Retries a failed relay start (see `RelayClient.retryStart`). */
  async retryRelay(): Promise<void> {
    await this.d.relay?.retryStart(this.run?.relays, this.d.config.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS);
  }

  /**
   * Where the local backend receives `peer`'s datagrams, for the relay to deliver to: the peer's
   * own local port when the backend listens per peer, else its listen port (`127.0.0.1:<port>`).
   */
  async backendEndpoint(peer: NodeId): Promise<Endpoint | undefined> {
    let port = this.run?.listenPort ?? undefined;
    try {
      const stats = await this.d.plugins.backend.instance.stats(this.d.callOptions());
      port = stats.peers.find((p) => p.id === peer)?.localPort ?? stats.listenPort ?? port;
    } catch {
      // keep the listen port learnt at start
    }
    return port ? { host: '127.0.0.1', port } : undefined;
  }

  /** The policy plugin's state for status (null without one). */
  policyStatus(): PolicyStatus | null {
    if (!this.d.plugins.policy) return null;
    return { interfaces: [...(this.d.reconciler.actual.policy?.interfaces ?? [])], ...this.policySync };
  }
}
