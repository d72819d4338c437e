import type { Endpoint, NetmapNode, NodeId, PeerPath } from '@rustynet/plugin-api';
import { toRustynetError } from '../util/errors.js';
import type { PeerPathSource } from './path-source.js';
import { PathSwitcher } from './path-switcher.js';
import { RelayProof } from './relay-proof.js';
import { scoreProbe } from './probe-score.js';
import { RttEstimator } from './rtt-estimator.js';
import { TunnelLiveness } from './tunnel-liveness.js';
import { DEFAULT_SETTLE_ROUNDS, EndpointSettle, type EndpointDrift } from './endpoint-settle.js';
import {
  DEFAULT_FAILURES_TO_RELAY,
  DEFAULT_MAX_PROBE_TIMEOUT_INTERVALS,
  DEFAULT_PROBE_INTERVAL_MS,
  DEFAULT_SUCCESSES_TO_DIRECT,
  createPathMetrics,
  type PathControllerOptions,
  type PathMetrics,
  type PathSwitch,
  type PeerPathState,
  type PeerState,
} from './path-types.js';

// The controller's options, defaults and shapes (the public ones are re-exported by the package index).
export * from './path-types.js';

/**
 * Per-peer direct <-> relay state machine, driven by the direct-path prober.
 *
 * Every `intervalMs` ({@link tick}): each probed peer's last PING is scored (answered or not),
 * then a new PING goes out. A direct peer with `failuresToRelay` consecutive unanswered probes
 * goes to the relay once a PING sent through the relay to the peer's daemon was answered
 * ({@link RelayProof}; if neither path answers, it stays direct): `relay.openPath(...)`, then
 * `backend.updatePeerEndpoint(peer, <local relay endpoint>)`. Probing of the direct path goes on;
 * after `successesToDirect` consecutive answers: `backend.updatePeerEndpoint(peer, <direct
 * endpoint>)`, then `relay.closePath(peer)`. Each switch is logged (info: peer, from, to,
 * reason), counted (`rustynet_path_switches_total{to}`) and reported to `onSwitch` (audit). A
 * failed switch changes nothing and is retried with exponential back-off (up to 30 s).
 *
 * Peers are the netmap nodes handed to {@link sync} that are backend peers and have a probe
 * target (`probePort` and an endpoint); every other peer is direct.
 */
export class PathController implements PeerPathSource {
  private peers = new Map<NodeId, PeerState>();
  private closeQueue = new Set<NodeId>();
  private generation = 0;
  private running = false;
  private abort: AbortController | undefined;
  private loop: Promise<void> | undefined;
  private readonly intervalMs: number;
  private readonly failuresToRelay: number;
  private readonly successesToDirect: number;
  private readonly m: PathMetrics | undefined;
  private readonly switcher: PathSwitcher;
  private disabled: string | undefined;
  private readonly maxProbeTimeoutMs: number;
  private readonly liveness = new TunnelLiveness();
  private readonly settle: EndpointSettle;
  private readonly relayProof: RelayProof;
  /** True while a round reads the backend's counters (a slow read skips rounds, never stacks them). */
  private roundBusy = false;

  constructor(private readonly opts: PathControllerOptions) {
    this.disabled = opts.disabledReason;
    this.intervalMs = opts.intervalMs ?? DEFAULT_PROBE_INTERVAL_MS;
    this.failuresToRelay = opts.failuresToRelay ?? DEFAULT_FAILURES_TO_RELAY;
    this.successesToDirect = opts.successesToDirect ?? DEFAULT_SUCCESSES_TO_DIRECT;
    this.maxProbeTimeoutMs = Math.max(this.intervalMs, opts.maxProbeTimeoutMs ?? DEFAULT_MAX_PROBE_TIMEOUT_INTERVALS * this.intervalMs);
    this.m = opts.metrics && createPathMetrics(opts.metrics);
    this.settle = new EndpointSettle(DEFAULT_SETTLE_ROUNDS * this.intervalMs);
    this.relayProof = new RelayProof(opts.relayProber, Math.ceil(this.maxProbeTimeoutMs / this.intervalMs));
    this.switcher = new PathSwitcher(opts, this.m, {
      current: (id, gen, path) => this.current(id, gen, path),
      running: () => this.running,
      generation: () => this.generation,
      switchingEnabled: () => this.switchingEnabled,
      updateGauge: () => this.updateGauge(),
      settled: (id, path, expected, stale) => this.settle.switched(id, path, expected, stale, this.opts.clock.now()),
    });
    this.updateGauge();
  }

  /** True when peers may be switched to the relay. */
  get switchingEnabled(): boolean {
    return this.disabled === undefined && this.opts.relay !== undefined;
  }

  /**
   * Disables switching with a reason (e.g. the relay could not start), or enables it again with
   * `undefined`. Peers already relayed stay so until {@link reopenRelayed} or a switch back.
   */
  setDisabled(reason: string | undefined): void {
    if (reason !== this.disabled) {
      if (reason !== undefined) this.opts.logger?.warn({ reason }, 'path switching disabled: peers stay on (or return to) the direct path');
      else this.opts.logger?.info('path switching enabled');
    }
    this.disabled = reason;
  }

  /** The path chosen for `peer` (`direct` for any peer the controller does not manage). */
  pathFor(peer: NodeId): PeerPath {
    return this.peers.get(peer)?.path ?? 'direct';
  }

  /** The local relay endpoint the backend should use for `peer`, while it is relayed. */
  relayEndpointFor(peer: NodeId): Endpoint | undefined {
    const s = this.peers.get(peer);
    return s?.path === 'relay' && s.relayEndpoint ? { ...s.relayEndpoint } : undefined;
  }

  /** State of every managed peer. */
  snapshot(): PeerPathState[] {
    return [...this.peers.entries()].map(([peer, s]) => {
      const relayProbe = this.relayProof.state(peer);
      return {
        peer,
        path: s.path,
        misses: s.misses,
        successes: s.successes,
        ...(s.relayEndpoint && { relayEndpoint: { ...s.relayEndpoint } }),
        ...(s.lastRttMs !== undefined && { lastRttMs: s.lastRttMs }),
        ...(s.rtt.smoothedMs !== undefined && { srttMs: s.rtt.smoothedMs }),
        probeTimeoutMs: s.rtt.timeoutMs(),
        ...(relayProbe !== undefined && { relayProbe }),
      };
    });
  }

  private updateGauge(): void {
    if (!this.m) return;
    let relay = 0;
    for (const s of this.peers.values()) if (s.path === 'relay') relay++;
    this.m.peers.set({ path: 'relay' }, relay);
    this.m.peers.set({ path: 'direct' }, this.peers.size - relay);
  }

  /**
   * Takes a new netmap (call it before the reconciler computes the desired state, inside the
   * daemon's serialiser). `nodes` are all netmap nodes; `isPeer` tells which are backend peers.
   * Relayed peers that left the netmap or lost their probe target become direct (their relay
   * paths are closed by {@link afterApply}, once the backend no longer uses them).
   */
  async sync(nodes: readonly NetmapNode[], isPeer: (node: NetmapNode) => boolean): Promise<void> {
    const others = nodes.filter((n) => n.id !== this.opts.selfId);
    this.opts.prober.setPeers(
      others.map((n) => {
        const host = n.endpoints[0]?.host;
        return {
          id: n.id,
          identityKey: n.identityKey,
          ...(n.probePort !== undefined && host !== undefined && { target: { host, port: n.probePort } }),
        };
      }),
    );
    this.relayProof.setPeers(others);
    const managed = new Map(others.filter((n) => isPeer(n) && this.opts.prober.canProbe(n.id)).map((n) => [n.id, n]));
    const left: PathSwitch[] = [];
    for (const [id, s] of this.peers) {
      if (managed.has(id)) continue;
      this.peers.delete(id);
      this.liveness.forget(id);
      this.settle.forget(id);
      this.relayProof.forget(id);
      if (s.path === 'relay') {
        this.closeQueue.add(id);
        const gone = !others.some((n) => n.id === id);
        left.push({
          peer: id,
          from: 'relay',
          to: 'direct',
          reason: gone ? 'peer left the netmap' : 'peer is no longer probed',
          endpoint: null,
        });
      }
    }
    const fresh: NodeId[] = [];
    for (const [id, node] of managed) {
      const s = this.peers.get(id);
      if (s) s.node = node;
      else {
        this.peers.set(id, {
          node,
          path: 'direct',
          misses: 0,
          successes: 0,
          rtt: new RttEstimator({ minMs: this.intervalMs, maxMs: this.maxProbeTimeoutMs }),
          switching: false,
          failedSwitches: 0,
          nextAttemptAt: 0,
        });
        fresh.push(id);
      }
    }
    for (const s of left) await this.switcher.record(s);
    this.updateGauge();
    if (this.running && this.switchingEnabled) for (const id of fresh) this.opts.prober.ping(id);
  }

  /** Closes the relay paths of peers that stopped being relayed at the last {@link sync}. */
  async afterApply(): Promise<void> {
    const ids = [...this.closeQueue];
    this.closeQueue.clear();
    for (const id of ids) {
      if (this.pathFor(id) === 'relay') continue;
      await this.switcher.closePath(id);
    }
  }

  /**
   * The data plane stopped (backend and relay gone): every peer becomes direct without any
   * call, pending switches are abandoned.
   */
  async reset(reason: string): Promise<void> {
    this.generation++;
    this.closeQueue.clear();
    this.opts.prober.clear();
    this.liveness.clear();
    this.settle.clear();
    this.relayProof.clear();
    const relayed = [...this.peers.entries()].filter(([, s]) => s.path === 'relay').map(([id]) => id);
    for (const s of this.peers.values()) {
      s.path = 'direct';
      delete s.relayEndpoint;
      s.misses = 0;
      s.successes = 0;
      s.failedSwitches = 0;
      s.nextAttemptAt = 0;
    }
    for (const peer of relayed) await this.switcher.record({ peer, from: 'relay', to: 'direct', reason, endpoint: null });
    this.updateGauge();
  }

  /**
   * The relay plugin was restarted (its paths are gone): re-opens a path for every relayed peer
   * and points the backend at it; a peer whose path cannot be re-opened returns to direct.
   */
  async reopenRelayed(): Promise<void> {
    for (const [id, s] of this.peers) {
      if (s.path === 'relay') await this.switcher.reopen(id, s, this.generation);
    }
  }

  /**
   * One probe round: scores each peer's last PING against its adaptive time-out, reads the
   * backend's counters for peers whose probes fail, starts the switches that are due, sends new
   * PINGs. Resolves when the switches it started have finished (the loop does not wait).
   */
  async tick(): Promise<void> {
    await Promise.all(await this.round());
  }

  private async round(): Promise<Array<Promise<void>>> {
    if (!this.switchingEnabled || this.roundBusy) return [];
    this.roundBusy = true;
    try {
      for (const [id, s] of this.peers) {
        this.score(id, s);
        if (s.path === 'direct' && s.misses > 0) this.relayProof.score(id);
        else this.relayProof.forget(id);
      }
      const drifts = await this.readTunnels();
      const now = this.opts.clock.now();
      const started = drifts
        .filter((d) => this.peers.get(d.peer)?.switching === false)
        .map((d) => this.switcher.runRepair(d, this.generation));
      for (const [id, s] of this.peers) {
        if (!s.switching && now >= s.nextAttemptAt) {
          if (s.path === 'direct' && s.misses >= this.failuresToRelay) {
            if (this.tunnelAlive(id, now)) this.holdDirect(id, s);
            else if (!this.relayProof.proven(id)) this.holdNoPath(id, s);
            else
              started.push(
                this.switcher.start(
                  id,
                  s,
                  'relay',
                  this.generation,
                  `${s.misses} consecutive direct-path probes unanswered, a relayed probe answered`,
                ),
              );
          } else if (s.path === 'relay' && s.successes >= this.successesToDirect) {
            started.push(this.switcher.start(id, s, 'direct', this.generation, `${s.successes} consecutive direct-path probes answered`));
          }
        }
        if (!s.probePending && this.opts.prober.ping(id)) s.probeRounds = 0;
        if (s.path === 'direct' && s.misses > 0) this.relayProof.ping(id);
      }
      return started;
    } finally {
      this.roundBusy = false;
    }
  }

  /** Scores `id`'s last PING (see {@link scoreProbe}); tracks the tunnel while probes fail. */
  private score(id: NodeId, s: PeerState): void {
    scoreProbe(this.opts.prober, id, s, this.intervalMs);
    if (s.misses === 0) {
      this.liveness.forget(id);
      s.heldDirect = false;
      s.heldNoPath = false;
    } else if (s.path === 'direct') this.liveness.watch(id);
  }

  /**
   * Reads the backend's counters (one `stats()` call) when some direct peer's probes fail or some
   * peer settles after a switch. @returns the peers whose backend roamed back to a replaced endpoint.
   */
  private async readTunnels(): Promise<EndpointDrift[]> {
    const read = this.opts.tunnelCounters;
    if (!read || (this.liveness.watched.length === 0 && !this.settle.active)) return [];
    try {
      const counters = await read();
      const now = this.opts.clock.now();
      this.liveness.observe(counters, now);
      return this.settle.check(counters, now);
    } catch (err) {
      this.opts.logger?.debug({ err: toRustynetError(err).message }, 'backend counters unavailable; probes alone decide');
      return [];
    }
  }

  /** True when `id`'s tunnel received data within the stretch its probes failed in. */
  private tunnelAlive(id: NodeId, now: number): boolean {
    return this.liveness.alive(id, now, this.failuresToRelay * this.intervalMs);
  }

  private holdDirect(id: NodeId, s: PeerState): void {
    if (s.heldDirect) return;
    s.heldDirect = true;
    this.opts.logger?.warn(
      { peer: id, misses: s.misses },
      "peer's daemon does not answer probes but its tunnel still receives data: staying direct",
    );
  }

  /** Neither path answers (a dead or unregistered peer daemon, or both paths broken): stay. */
  private holdNoPath(id: NodeId, s: PeerState): void {
    if (s.heldNoPath) return;
    s.heldNoPath = true;
    this.opts.logger?.warn(
      { peer: id, misses: s.misses, relayProbe: this.relayProof.state(id) ?? 'pending' },
      'direct-path probes unanswered and no relayed probe answered: staying direct',
    );
  }

  private current(id: NodeId, gen: number, path: PeerPath): PeerState | undefined {
    const s = this.peers.get(id);
    return s && gen === this.generation && s.path === path ? s : undefined;
  }

  /**
   * Starts the controller and its probe loop (a round every `intervalMs`, first one after
   * `intervalMs`). With `{ timer: false }` no loop runs: the caller drives rounds with
   * {@link tick} (tests, embedding). Idempotent.
   */
  start(opts: { timer?: boolean } = {}): void {
    if (this.running) return;
    this.running = true;
    if (!this.switchingEnabled) {
      this.opts.logger?.info(
        { reason: this.disabled ?? 'no relay plugin' },
        'path switching disabled: every peer stays on the direct path',
      );
    }
    if (opts.timer === false) return;
    const abort = new AbortController();
    this.abort = abort;
    this.loop = (async () => {
      while (!abort.signal.aborted) {
        try {
          await this.opts.clock.sleep(this.intervalMs, abort.signal);
        } catch {
          break;
        }
        if (abort.signal.aborted) break;
        void this.round().then((ps) => {
          for (const p of ps) void p;
        });
      }
    })();
  }

  /**
   * Stops the probe loop; switches not yet run are abandoned. Never waits for a switch (it may
   * be queued behind the caller in the daemon's serialiser). Idempotent.
   */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.generation++;
    this.abort?.abort();
    await this.loop;
    this.loop = undefined;
    this.opts.prober.clear();
    this.relayProof.clear();
    this.settle.clear();
  }
}
