import type {
  BackendPlugin,
  CallOptions,
  Clock,
  Counter,
  Endpoint,
  Gauge,
  Logger,
  Metrics,
  NetmapNode,
  NodeId,
  PeerEndpointContext,
  PeerPath,
  RelayPlugin,
} from '@rustynet/plugin-api';
import type { ProbeOutcome, ProbePeer } from './prober.js';
import type { RttEstimator } from './rtt-estimator.js';
import type { TunnelCounters } from './tunnel-liveness.js';

/** Default probe interval, ms. */
export const DEFAULT_PROBE_INTERVAL_MS = 500;
/** Default consecutive unanswered probes before a peer goes to the relay. */
export const DEFAULT_FAILURES_TO_RELAY = 3;
/** Default consecutive answered probes before a relayed peer returns to the direct path. */
export const DEFAULT_SUCCESSES_TO_DIRECT = 3;
/**
 * Default largest probe time-out, in probe intervals: the time-out adapts to RTT and jitter up to
 * two intervals, so that a blocked path is still detected within `2 * failuresToRelay` rounds.
 */
export const DEFAULT_MAX_PROBE_TIMEOUT_INTERVALS = 2;
/** Longest wait between attempts after a failed switch, ms. */
export const MAX_SWITCH_BACKOFF_MS = 30_000;

/** The prober as the controller uses it (see `DirectPathProber`). */
export interface PathProber {
  setPeers(peers: readonly ProbePeer[]): void;
  canProbe(peer: NodeId): boolean;
  ping(peer: NodeId): boolean;
  /** @param keepWaiting the PING is still within its time-out (see `DirectPathProber.takeResult`). */
  takeResult(peer: NodeId, keepWaiting?: boolean): ProbeOutcome;
  clear(): void;
}

/** One path switch, as logged, audited and passed to {@link PathControllerOptions.onSwitch}. */
export interface PathSwitch {
  peer: NodeId;
  from: PeerPath;
  to: PeerPath;
  reason: string;
  /** The peer endpoint the backend uses after the switch (`host:port`), or null. */
  endpoint: string | null;
}

/** Options of {@link PathController}. */
export interface PathControllerOptions {
  selfId: NodeId;
  prober: PathProber;
  /**
   * The relay prober (`channel: 'relay'`, transport `RelayProbeTransport`): proves the relay path
   * to a peer's daemon before the peer is moved to it. Its targets are set by the controller.
   */
  relayProber: PathProber;
  /**
   * Why switching is impossible (no relay plugin, backend lacks `udpTransport` or `roaming`, no
   * relays), or undefined when it is possible. While set, every peer stays direct and no PING is
   * sent (the prober still answers peers' PINGs).
   */
  disabledReason?: string;
  relay?: Pick<RelayPlugin, 'openPath' | 'closePath'>;
  backend: Pick<BackendPlugin, 'updatePeerEndpoint'>;
  /**
   * Where the local backend receives `peer`'s datagrams, for the relay to deliver to
   * (`127.0.0.1:<port>`: the peer's `localPort` when the backend listens per peer, else its
   * `listenPort`).
   */
  backendEndpoint: (peer: NodeId) => Endpoint | undefined | Promise<Endpoint | undefined>;
  /** The `resolvePeerEndpoint` waterfall, so a switch sets what a reconcile would compute. */
  resolveEndpoint?: (endpoint: Endpoint | undefined, context: PeerEndpointContext) => Promise<Endpoint | undefined>;
  /** Told the endpoint the backend now has for a peer (the reconciler's record). */
  onEndpointChanged?: (peer: NodeId, endpoint: Endpoint) => void;
  /** Runs a switch after every earlier state-changing operation (the daemon's serialiser). */
  serial?: <T>(fn: () => Promise<T>) => Promise<T>;
  /** Called after each switch (audit log). Errors are logged. */
  onSwitch?: (s: PathSwitch) => Promise<void> | void;
  intervalMs?: number;
  failuresToRelay?: number;
  successesToDirect?: number;
  /**
   * Largest probe time-out, ms (default {@link DEFAULT_MAX_PROBE_TIMEOUT_INTERVALS} x `intervalMs`). Each peer's time-out
   * adapts to its measured RTT and jitter (RFC 6298, `RttEstimator`) between `intervalMs` and this.
   */
  maxProbeTimeoutMs?: number;
  /**
   * The backend's per-peer counters and endpoints (`stats().peers`): read while a peer's probes
   * fail, so that a peer whose tunnel still receives data stays direct, and for a few rounds after
   * a switch, to undo a roam back to the replaced endpoint (`EndpointSettle`). Absent: probes
   * alone decide, and nothing is checked after a switch.
   */
  tunnelCounters?: () => Promise<readonly TunnelCounters[]>;
  clock: Clock;
  logger?: Logger;
  /**
   * Host metrics: `rustynet_path_switches_total{to}`, `rustynet_path_switch_failures_total{to}`,
   * `rustynet_path_peers{path}`, `rustynet_path_endpoint_repairs_total{path}`.
   */
  metrics?: Metrics;
  callOptions?: () => CallOptions;
}

/** A peer as the controller sees it (status, tests). */
export interface PeerPathState {
  peer: NodeId;
  path: PeerPath;
  /** Consecutive unanswered / answered probes. */
  misses: number;
  successes: number;
  /** Local relay endpoint while relayed. */
  relayEndpoint?: Endpoint;
  /** Round-trip time of the last answered probe, ms. */
  lastRttMs?: number;
  /**
   * While a direct peer's direct probes fail: whether the last relayed probe was answered (the
   * relay path is proven) or not.
   */
  relayProbe?: 'answered' | 'unanswered';
  /** Smoothed RTT (RFC 6298 SRTT) of the probes, ms, once measured. */
  srttMs?: number;
  /** Current probe time-out, ms. */
  probeTimeoutMs?: number;
}

/** The controller's own record of a managed peer (shared with the switcher). */
export interface PeerState {
  node: NetmapNode;
  path: PeerPath;
  misses: number;
  successes: number;
  relayEndpoint?: Endpoint;
  lastRttMs?: number;
  /** RTT estimator and probe time-out of this peer. */
  rtt: RttEstimator;
  /** True while the tunnel-liveness hold was logged (once per stretch of failed probes). */
  heldDirect?: boolean;
  /** True while the "no relayed probe answered" hold was logged (once per stretch). */
  heldNoPath?: boolean;
  /** True while the last PING is unanswered but within its time-out (not replaced). */
  probePending?: boolean;
  /** Rounds since the outstanding PING was sent. */
  probeRounds?: number;
  switching: boolean;
  failedSwitches: number;
  nextAttemptAt: number;
}

/** The path controller's metrics (`rustynet_path_*`). */
export interface PathMetrics {
  switches: Counter;
  failures: Counter;
  peers: Gauge;
  repairs: Counter;
}

/** Registers the path controller's metrics on the host metrics. */
export function createPathMetrics(m: Metrics): PathMetrics {
  return {
    switches: m.counter('rustynet_path_switches_total', 'Peer path switches, by the path switched to', ['to']),
    failures: m.counter('rustynet_path_switch_failures_total', 'Path switches that failed (nothing changed), by target path', ['to']),
    peers: m.gauge('rustynet_path_peers', 'Probed peers by current path', ['path']),
    repairs: m.counter(
      'rustynet_path_endpoint_repairs_total',
      'Backend endpoints re-applied after the backend roamed back to the one a path switch replaced, by path',
      ['path'],
    ),
  };
}
