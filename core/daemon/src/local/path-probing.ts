import { RustynetError, type Endpoint, type Logger, type Netmap, type NetmapNode, type NodeId } from '@rustynet/plugin-api';
import type { DaemonConfig } from '../config/schema.js';
import type { HostServices } from '../container/containers.js';
import type { DaemonHooks } from '../hooks/daemon-hooks.js';
import { PathController, type PathSwitch } from '../path/path-controller.js';
import { DIRECT_PATHS, type PeerPathSource } from '../path/path-source.js';
import { UdpProbeTransport, type ProbeTransport } from '../path/probe-transport.js';
import { DirectPathProber } from '../path/prober.js';
import { RelayProbeTransport } from '../path/relay-probe-transport.js';
import type { PeerPathInfo, PeerPaths } from '../reconciler/plan.js';
import type { PluginSet } from './plugin-set.js';

/** Binds the probe socket (default: UDP on `0.0.0.0:<pathProbe.port>`); tests pass fakes. */
export type ProbeTransportFactory = (opts: { host: string; port: number; logger: Logger }) => Promise<ProbeTransport>;

/** What path probing needs from the rest of the daemon (data and ports, no daemon callbacks). */
export interface PathProbingDeps {
  config: DaemonConfig;
  services: HostServices;
  plugins: PluginSet;
  hooks: DaemonHooks;
  /** Signs probes with the node's identity key. */
  sign: (data: Uint8Array) => Uint8Array;
  /** Where the local backend receives a peer's datagrams (see `PathControllerOptions.backendEndpoint`). */
  backendEndpoint: (peer: NodeId) => Promise<Endpoint | undefined>;
  /** The reconciler's record of an endpoint changed by a switch. */
  onEndpointChanged: (peer: NodeId, endpoint: Endpoint) => void;
  /** The daemon's serialiser. */
  serial: <T>(fn: () => Promise<T>) => Promise<T>;
  /** Records a switch (audit). */
  onSwitch: (sw: PathSwitch) => Promise<void>;
  callTimeoutMs: () => number;
  bind?: ProbeTransportFactory;
}

/** Deadline of the backend `stats()` read the path controller makes while a peer's probes fail, ms. */
const TUNNEL_STATS_TIMEOUT_MS = 2_000;

/**
 * Direct-path probing (with `pathProbe` configured): the probe socket, which answers peers'
 * PINGs for the daemon's whole life (also while down), the prober and the path controller.
 * Switching needs a relay plugin and a backend claiming `udpTransport` and `roaming`; without
 * them peers stay direct and no PINGs are sent.
 */
export class PathProbing {
  /** Closes the probe socket and the relay probe channel (idempotent); the daemon calls it at stop. */
  readonly transport: Pick<ProbeTransport, 'close'>;

  private constructor(
    udp: ProbeTransport,
    /** The probe channel through the relay plugin. */
    relay: ProbeTransport,
    readonly controller: PathController,
    /** The prober (diagnostic PINGs: `rustynet ping`). */
    readonly prober: DirectPathProber,
    /** Why switching is impossible whatever the netmap says, or undefined. */
    readonly switchingUnsupported: string | undefined,
  ) {
    this.transport = {
      close: async () => {
        await relay.close();
        await udp.close();
      },
    };
  }

  /**
   * Binds the probe socket and builds the controller; undefined without `pathProbe`.
   * @throws RustynetError `CONFIG_INVALID` (no `identityKeyFile`), `BACKEND_FAILED` (the port
   *   cannot be bound).
   */
  static async create(deps: PathProbingDeps): Promise<PathProbing | undefined> {
    const { config: cfg, services, plugins } = deps;
    const probe = cfg.pathProbe;
    if (!probe) return undefined;
    if (cfg.identityKeyFile === undefined) {
      throw new RustynetError('CONFIG_INVALID', 'pathProbe needs identityKeyFile (probes are signed with the identity key)', {
        field: 'identityKeyFile',
      });
    }
    const logger = services.logger.child({ component: 'path', node: cfg.node });
    const bind = deps.bind ?? ((o) => UdpProbeTransport.bind(o));
    const transport = await bind({ host: '0.0.0.0', port: probe.port, logger });
    const prober = new DirectPathProber({
      selfId: cfg.node,
      sign: deps.sign,
      clock: services.clock,
      transport,
      ...(probe.maxClockSkewMs !== undefined && { maxSkewMs: probe.maxClockSkewMs }),
      logger,
      metrics: services.metrics,
    });
    // Relayed probes: the relay plugin's probe channel carries them to peers' daemons (and theirs
    // to this one, answered here even while switching is off).
    const relayTransport = new RelayProbeTransport(plugins.relay?.instance);
    const relayProber = new DirectPathProber({
      selfId: cfg.node,
      sign: deps.sign,
      clock: services.clock,
      transport: relayTransport,
      channel: 'relay',
      ...(probe.maxClockSkewMs !== undefined && { maxSkewMs: probe.maxClockSkewMs }),
      logger,
      metrics: services.metrics,
    });
    const caps = plugins.switchCaps;
    const unsupported = !plugins.relay
      ? 'no relay plugin is loaded'
      : !caps.udpTransport || !caps.roaming
        ? `backend ${plugins.backend.loaded.manifest.name} does not claim ${[!caps.udpTransport && 'udpTransport', !caps.roaming && 'roaming'].filter(Boolean).join(' and ')}`
        : !relayTransport.available
          ? `relay plugin ${plugins.relay.loaded.manifest.name} has no probe channel (sendProbe, onProbe): relay paths cannot be proven`
          : undefined;
    const controller = new PathController({
      selfId: cfg.node,
      prober,
      relayProber,
      ...(unsupported !== undefined && { disabledReason: unsupported }),
      ...(plugins.relay && { relay: plugins.relay.instance }),
      backend: plugins.backend.instance,
      backendEndpoint: deps.backendEndpoint,
      resolveEndpoint: (ep, ctx) => deps.hooks.runResolvePeerEndpoint(ep, ctx),
      onEndpointChanged: deps.onEndpointChanged,
      serial: deps.serial,
      onSwitch: deps.onSwitch,
      ...(probe.intervalMs !== undefined && { intervalMs: probe.intervalMs }),
      ...(probe.failuresToRelay !== undefined && { failuresToRelay: probe.failuresToRelay }),
      ...(probe.successesToDirect !== undefined && { successesToDirect: probe.successesToDirect }),
      clock: services.clock,
      logger,
      metrics: services.metrics,
      callOptions: () => ({ timeoutMs: deps.callTimeoutMs() }),
      // A peer whose tunnel still receives data stays direct while its daemon ignores probes.
      tunnelCounters: async () =>
        (await plugins.backend.instance.stats({ timeoutMs: Math.min(deps.callTimeoutMs(), TUNNEL_STATS_TIMEOUT_MS) })).peers,
    });
    logger.info({ port: probe.port, switching: unsupported ?? 'enabled' }, 'path probing on (direct, and through the relay)');
    return new PathProbing(transport, relayTransport, controller, prober, unsupported);
  }
}

/**
 * Each peer's path for the desired state, as data: from the test/embedding override (no relay
 * endpoints), else the path controller's snapshot (relay endpoint while relayed), else all direct.
 */
export function peerPathsFor(netmap: Netmap, override: PeerPathSource | undefined, controller: PathController | undefined): PeerPaths {
  const out = new Map<NodeId, PeerPathInfo>();
  if (override) {
    for (const n of netmap.nodes) out.set(n.id, { path: override.pathFor(n.id) });
    return out;
  }
  for (const s of controller?.snapshot() ?? []) {
    out.set(s.peer, s.path === 'relay' && s.relayEndpoint ? { path: 'relay', relayEndpoint: s.relayEndpoint } : { path: s.path });
  }
  return out;
}

/** The source of each peer's path shown in status: the override, the path controller, or all direct. */
export function pathSourceOf(override: PeerPathSource | undefined, controller: PathController | undefined): PeerPathSource {
  return override ?? controller ?? DIRECT_PATHS;
}

/** Warns when this node's netmap entry disagrees with the probe configuration. */
export function checkSelfProbe(self: NetmapNode, probePort: number | undefined, identityKey: () => string, logger: Logger): void {
  if (probePort === undefined) {
    if (self.probePort !== undefined)
      logger.warn(
        { probePort: self.probePort },
        'the netmap advertises a probePort for this node but pathProbe is not configured: peers will see their probes unanswered and relay',
      );
    return;
  }
  if (self.probePort !== probePort) {
    logger.warn(
      { probePort: self.probePort ?? null, configured: probePort },
      "this node's netmap probePort differs from pathProbe.port: peers probe the wrong port",
    );
  }
  try {
    if (identityKey() !== self.identityKey)
      logger.warn("this node's netmap identityKey is not the key in identityKeyFile: peers will drop its probes");
  } catch {
    /* no identity loaded: start() refused already */
  }
}
