import {
  DEFAULT_CALL_TIMEOUT_MS,
  formatEndpoint,
  type BackendPlugin,
  type CallOptions,
  type Clock,
  type Counter,
  type Endpoint,
  type Gauge,
  type Logger,
  type Metrics,
  type NetmapNode,
  type NodeId,
  type PeerEndpointContext,
  type PeerPath,
  type RelayPlugin,
} from '@rustynet/plugin-api';
import { toRustynetError } from '../util/errors.js';
import type { PeerPathSource } from './path-source.js';
import type { ProbePeer, ProbeResult } from './prober.js';

/** Default probe interval, ms. */
export const DEFAULT_PROBE_INTERVAL_MS = 500;
/** Default consecutive unanswered probes before a peer goes to the relay. */
export const DEFAULT_FAILURES_TO_RELAY = 3;
/** Default consecutive answered probes before a relayed peer returns to the direct path. */
export const DEFAULT_SUCCESSES_TO_DIRECT = 3;
/** Longest wait between attempts after a failed switch, ms. */
export const MAX_SWITCH_BACKOFF_MS = 30_000;

/** The prober as the controller uses it (see `DirectPathProber`). */
export interface PathProber {
  setPeers(peers: readonly ProbePeer[]): void;
  canProbe(peer: NodeId): boolean;
  ping(peer: NodeId): boolean;
  takeResult(peer: NodeId): { result: ProbeResult; rttMs?: number };
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
  clock: Clock;
  logger?: Logger;
  /** Host metrics: `rustynet_path_switches_total{to}`, `rustynet_path_switch_failures_total{to}`, `rustynet_path_peers{path}`. */
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
}

interface PeerState {
  node: NetmapNode;
  path: PeerPath;
  misses: number;
  successes: number;
  relayEndpoint?: Endpoint;
  lastRttMs?: number;
  switching: boolean;
  failedSwitches: number;
  nextAttemptAt: number;
}

/**
 * Per-peer direct <-> relay state machine, driven by the direct-path prober.
 *
 * Every `intervalMs` ({@link tick}): each probed peer's last PING is scored (answered or not),
 * then a new PING goes out. A direct peer with `failuresToRelay` consecutive unanswered probes
 * goes to the relay: `relay.openPath({peer, backendEndpoint})`, then
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
  private readonly m: { switches: Counter; failures: Counter; peers: Gauge } | undefined;
  private disabled: string | undefined;

  constructor(private readonly opts: PathControllerOptions) {
    this.disabled = opts.disabledReason;
    this.intervalMs = opts.intervalMs ?? DEFAULT_PROBE_INTERVAL_MS;
    this.failuresToRelay = opts.failuresToRelay ?? DEFAULT_FAILURES_TO_RELAY;
    this.successesToDirect = opts.successesToDirect ?? DEFAULT_SUCCESSES_TO_DIRECT;
    const m = opts.metrics;
    this.m = m && {
      switches: m.counter('rustynet_path_switches_total', 'Peer path switches, by the path switched to', ['to']),
      failures: m.counter('rustynet_path_switch_failures_total', 'Path switches that failed (nothing changed), by target path', ['to']),
      peers: m.gauge('rustynet_path_peers', 'Probed peers by current path', ['path']),
    };
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
    return [...this.peers.entries()].map(([peer, s]) => ({
      peer,
      path: s.path,
      misses: s.misses,
      successes: s.successes,
      ...(s.relayEndpoint && { relayEndpoint: { ...s.relayEndpoint } }),
      ...(s.lastRttMs !== undefined && { lastRttMs: s.lastRttMs }),
    }));
  }

  private callOpts(): CallOptions {
    return this.opts.callOptions?.() ?? { timeoutMs: DEFAULT_CALL_TIMEOUT_MS };
  }

  private updateGauge(): void {
    if (!this.m) return;
    let relay = 0;
    for (const s of this.peers.values()) if (s.path === 'relay') relay++;
    this.m.peers.set({ path: 'relay' }, relay);
    this.m.peers.set({ path: 'direct' }, this.peers.size - relay);
  }

  private async record(s: PathSwitch): Promise<void> {
    this.opts.logger?.info({ peer: s.peer, from: s.from, to: s.to, reason: s.reason, endpoint: s.endpoint }, 'peer path switched');
    this.m?.switches.inc({ to: s.to });
    this.updateGauge();
    try {
      await this.opts.onSwitch?.(s);
    } catch (err) {
      this.opts.logger?.error({ peer: s.peer, err: toRustynetError(err).message }, 'recording a path switch failed');
    }
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
        return { id: n.id, identityKey: n.identityKey, ...(n.probePort !== undefined && host !== undefined && { target: { host, port: n.probePort } }) };
      }),
    );
    const managed = new Map(others.filter((n) => isPeer(n) && this.opts.prober.canProbe(n.id)).map((n) => [n.id, n]));
    const left: PathSwitch[] = [];
    for (const [id, s] of this.peers) {
      if (managed.has(id)) continue;
      this.peers.delete(id);
      if (s.path === 'relay') {
        this.closeQueue.add(id);
        const gone = !others.some((n) => n.id === id);
        left.push({ peer: id, from: 'relay', to: 'direct', reason: gone ? 'peer left the netmap' : 'peer is no longer probed', endpoint: null });
      }
    }
    const fresh: NodeId[] = [];
    for (const [id, node] of managed) {
      const s = this.peers.get(id);
      if (s) s.node = node;
      else {
        this.peers.set(id, { node, path: 'direct', misses: 0, successes: 0, switching: false, failedSwitches: 0, nextAttemptAt: 0 });
        fresh.push(id);
      }
    }
    for (const s of left) await this.record(s);
    this.updateGauge();
    if (this.running && this.switchingEnabled) for (const id of fresh) this.opts.prober.ping(id);
  }

  /** Closes the relay paths of peers that stopped being relayed at the last {@link sync}. */
  async afterApply(): Promise<void> {
    const ids = [...this.closeQueue];
    this.closeQueue.clear();
    for (const id of ids) {
      if (this.pathFor(id) === 'relay') continue;
      await this.opts.relay?.closePath(id, this.callOpts()).catch((err: unknown) => this.opts.logger?.warn({ peer: id, err: toRustynetError(err).message }, 'relay closePath failed'));
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
    const relayed = [...this.peers.entries()].filter(([, s]) => s.path === 'relay').map(([id]) => id);
    for (const s of this.peers.values()) {
      s.path = 'direct';
      delete s.relayEndpoint;
      s.misses = 0;
      s.successes = 0;
      s.failedSwitches = 0;
      s.nextAttemptAt = 0;
    }
    for (const peer of relayed) await this.record({ peer, from: 'relay', to: 'direct', reason, endpoint: null });
    this.updateGauge();
  }

  /**
   * The relay plugin was restarted (its paths are gone): re-opens a path for every relayed peer
   * and points the backend at it; a peer whose path cannot be re-opened returns to direct.
   */
  async reopenRelayed(): Promise<void> {
    for (const [id, s] of this.peers) {
      if (s.path !== 'relay') continue;
      try {
        const backendEndpoint = await this.opts.backendEndpoint(id);
        if (!backendEndpoint || !this.opts.relay) throw new Error('no relay or backend endpoint');
        const local = await this.opts.relay.openPath({ peer: id, backendEndpoint }, this.callOpts());
        const ep = (await this.resolve(local, s.node, 'relay')) ?? local;
        if (!s.relayEndpoint || formatEndpoint(local) !== formatEndpoint(s.relayEndpoint)) {
          await this.opts.backend.updatePeerEndpoint(id, ep, this.callOpts());
          this.opts.onEndpointChanged?.(id, ep);
        }
        s.relayEndpoint = local;
      } catch (err) {
        this.opts.logger?.warn({ peer: id, err: toRustynetError(err).message }, 'relay path could not be re-opened after a relay restart');
        await this.toDirect(id, this.generation, 'relay path lost at relay restart', true);
      }
    }
  }

  private async resolve(endpoint: Endpoint | undefined, node: NetmapNode, path: PeerPath): Promise<Endpoint | undefined> {
    if (!this.opts.resolveEndpoint) return endpoint;
    return this.opts.resolveEndpoint(endpoint, { peer: node, path });
  }

  /**
   * One probe round: scores each peer's last PING, starts the switches that are due, sends new
   * PINGs. Resolves when the switches it started have finished (the loop does not wait).
   */
  async tick(): Promise<void> {
    await Promise.all(this.round());
  }

  private round(): Array<Promise<void>> {
    if (!this.switchingEnabled) return [];
    const now = this.opts.clock.now();
    const started: Array<Promise<void>> = [];
    for (const [id, s] of this.peers) {
      const r = this.opts.prober.takeResult(id);
      if (r.result === 'reply') {
        s.successes++;
        s.misses = 0;
        if (r.rttMs !== undefined) s.lastRttMs = r.rttMs;
      } else if (r.result === 'miss') {
        s.misses++;
        s.successes = 0;
      }
      if (!s.switching && now >= s.nextAttemptAt) {
        if (s.path === 'direct' && s.misses >= this.failuresToRelay) {
          started.push(this.startSwitch(id, s, 'relay', `${s.misses} consecutive direct-path probes unanswered`));
        } else if (s.path === 'relay' && s.successes >= this.successesToDirect) {
          started.push(this.startSwitch(id, s, 'direct', `${s.successes} consecutive direct-path probes answered`));
        }
      }
      this.opts.prober.ping(id);
    }
    return started;
  }

  private startSwitch(id: NodeId, s: PeerState, to: PeerPath, reason: string): Promise<void> {
    s.switching = true;
    const gen = this.generation;
    const run = (): Promise<boolean> => (to === 'relay' ? this.toRelay(id, gen, reason) : this.toDirect(id, gen, reason, false));
    const serial = this.opts.serial ?? (<T>(fn: () => Promise<T>) => fn());
    return serial(run)
      .then((ok) => {
        if (ok) {
          s.failedSwitches = 0;
          s.nextAttemptAt = 0;
        } else if (gen === this.generation) {
          s.failedSwitches++;
          s.nextAttemptAt = this.opts.clock.now() + Math.min(MAX_SWITCH_BACKOFF_MS, this.intervalMs * 2 ** s.failedSwitches);
        }
      })
      .catch((err: unknown) => this.opts.logger?.error({ peer: id, err: toRustynetError(err).message }, 'path switch failed'))
      .finally(() => {
        s.switching = false;
      });
  }

  private current(id: NodeId, gen: number, path: PeerPath): PeerState | undefined {
    const s = this.peers.get(id);
    return s && gen === this.generation && s.path === path ? s : undefined;
  }

  private fail(id: NodeId, to: PeerPath, err: unknown, step: string): false {
    const e = toRustynetError(err);
    this.m?.failures.inc({ to });
    this.opts.logger?.warn({ peer: id, to, step, code: e.code, err: e.message }, 'path switch failed; peer keeps its path');
    return false;
  }

  /** @returns true when switched (or nothing to do), false when it failed (nothing changed). */
  private async toRelay(id: NodeId, gen: number, reason: string): Promise<boolean> {
    const s = this.current(id, gen, 'direct');
    if (!s || !this.running || !this.switchingEnabled) return true;
    const backendEndpoint = await this.opts.backendEndpoint(id);
    if (!backendEndpoint) return this.fail(id, 'relay', new Error('the backend reports no listen port'), 'backendEndpoint');
    let local: Endpoint;
    try {
      local = await this.opts.relay!.openPath({ peer: id, backendEndpoint }, this.callOpts());
    } catch (err) {
      return this.fail(id, 'relay', err, 'relay.openPath');
    }
    try {
      const ep = (await this.resolve(local, s.node, 'relay')) ?? local;
      if (!this.current(id, gen, 'direct')) throw new Error('peer changed during the switch');
      await this.opts.backend.updatePeerEndpoint(id, ep, this.callOpts());
      s.path = 'relay';
      s.relayEndpoint = local;
      s.misses = 0;
      s.successes = 0;
      this.opts.onEndpointChanged?.(id, ep);
      await this.record({ peer: id, from: 'direct', to: 'relay', reason, endpoint: formatEndpoint(ep) });
      return true;
    } catch (err) {
      await this.opts.relay!.closePath(id, this.callOpts()).catch(() => undefined);
      return this.fail(id, 'relay', err, 'backend.updatePeerEndpoint');
    }
  }

  private async toDirect(id: NodeId, gen: number, reason: string, force: boolean): Promise<boolean> {
    const s = this.current(id, gen, 'relay');
    if (!s || (!this.running && !force)) return true;
    const direct = s.node.endpoints[0];
    try {
      const ep = (await this.resolve(direct, s.node, 'direct')) ?? direct;
      if (!ep) throw new Error('peer has no direct endpoint');
      if (!this.current(id, gen, 'relay')) return true;
      await this.opts.backend.updatePeerEndpoint(id, ep, this.callOpts());
      s.path = 'direct';
      delete s.relayEndpoint;
      s.misses = 0;
      s.successes = 0;
      this.opts.onEndpointChanged?.(id, ep);
      await this.record({ peer: id, from: 'relay', to: 'direct', reason, endpoint: formatEndpoint(ep) });
    } catch (err) {
      return this.fail(id, 'direct', err, 'backend.updatePeerEndpoint');
    }
    await this.opts.relay?.closePath(id, this.callOpts()).catch((err: unknown) => this.opts.logger?.warn({ peer: id, err: toRustynetError(err).message }, 'relay closePath failed'));
    return true;
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
      this.opts.logger?.info({ reason: this.disabled ?? 'no relay plugin' }, 'path switching disabled: every peer stays on the direct path');
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
        for (const p of this.round()) void p;
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
  }
}
