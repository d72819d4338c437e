import type { Logger } from '@rustynet/plugin-api';
import type { Registry } from 'prom-client';
import { startOpsHttpServer, type OpsHttpServer, type HealthVerdict } from '../api/ops-http.js';
import type { MetricsConfig } from '../config/schema.js';
import { DEFAULT_PEER_LABEL_LIMIT, PeerMetrics } from './peer-metrics.js';
import type { NodeState } from './ingest.js';
import type { DaemonStatus, DataPlaneHealth } from './status-types.js';

/** What the probes read: a cheap view of the daemon's state (no backend call). */
export type ProbeView = Pick<DaemonStatus, 'node' | 'state' | 'dataPlane'> & {
  netmap: { version: number; expired?: boolean } | null;
};

/** The {@link ProbeView} of a node from its in-memory state (the probes never wait on a plugin). */
export function probeViewOf(node: string, state: NodeState, health: DataPlaneHealth | undefined, now: number = Date.now()): ProbeView {
  const m = state.current?.trusted.netmap;
  return {
    node,
    state: state.state,
    netmap: m ? { version: m.version, expired: Date.parse(m.expiresAt) <= now } : null,
    ...(health && { dataPlane: health }),
  };
}

/** What the daemon's scrape and probes read. */
export interface DaemonOpsSources {
  registry: Registry;
  /** The status document (peers for the per-peer metrics). */
  status(): Promise<DaemonStatus>;
  /** The probes' view (in memory, so a hung backend cannot fail a liveness check). */
  probe(): ProbeView;
  /** Called before each scrape (refreshes gauges kept by timers, e.g. the netmap expiry). */
  beforeScrape?: () => void;
  /** False once the daemon is stopping or stopped. */
  alive(): boolean;
  config: MetricsConfig | undefined;
}

/** Liveness: the daemon runs and did not fail (a `down` node is alive: an operator took it down). */
export function healthOf(s: ProbeView, alive: boolean): HealthVerdict {
  const ok = alive && s.state !== 'failed';
  return { ok, detail: { node: s.node, state: s.state, dataPlane: s.dataPlane?.state ?? null } };
}

/**
 * Readiness: the tunnel is up with an applied, unexpired netmap and the data plane is not being
 * restored. `down`, `starting`, `expired` and `failed` are not ready.
 */
export function readinessOf(s: ProbeView, alive: boolean): HealthVerdict {
  const expired = s.netmap?.expired === true;
  const restoring = s.dataPlane?.state === 'restoring';
  const ok = alive && s.state === 'up' && s.netmap !== null && !expired && !restoring;
  return {
    ok,
    detail: { node: s.node, state: s.state, netmapVersion: s.netmap?.version ?? null, expired, dataPlane: s.dataPlane?.state ?? null },
  };
}

/**
 * The daemon's metrics exposition and probes: the same text at the local API's `GET /metrics` and
 * the optional TCP listener (`metrics.listen`).
 */
export class DaemonOps {
  private readonly peers: PeerMetrics;
  private server: OpsHttpServer | undefined;

  constructor(private readonly src: DaemonOpsSources) {
    this.peers = new PeerMetrics(src.registry, src.config?.peerLabelLimit ?? DEFAULT_PEER_LABEL_LIMIT);
  }

  /** Prometheus text (per-peer series refreshed from a fresh status first). */
  async metrics(): Promise<{ contentType: string; body: string }> {
    this.src.beforeScrape?.();
    const s = await this.src.status();
    this.peers.update(s.peers, Date.now());
    return { contentType: this.src.registry.contentType, body: await this.src.registry.metrics() };
  }

  /** The bound address of the TCP listener, if one runs. */
  get address(): { host: string; port: number } | undefined {
    return this.server?.address;
  }

  /**
   * Starts the TCP listener when `metrics.listen` is configured.
   * @throws RustynetError `INVALID_INPUT` (`metrics.listen`) when it cannot bind.
   */
  async start(logger?: Logger): Promise<void> {
    const listen = this.src.config?.listen;
    if (!listen || this.server) return;
    this.server = await startOpsHttpServer(
      listen,
      {
        metrics: () => this.metrics(),
        healthz: () => healthOf(this.src.probe(), this.src.alive()),
        readyz: () => readinessOf(this.src.probe(), this.src.alive()),
      },
      logger,
    );
    logger?.info({ listen: this.server.address }, 'metrics and health listener started');
  }

  /** Stops the TCP listener. Idempotent. */
  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    await s?.close();
  }
}
