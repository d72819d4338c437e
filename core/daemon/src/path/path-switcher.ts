import {
  DEFAULT_CALL_TIMEOUT_MS,
  formatEndpoint,
  type CallOptions,
  type Endpoint,
  type NetmapNode,
  type NodeId,
  type PeerPath,
} from '@rustynet/plugin-api';
import { toRustynetError } from '../util/errors.js';
import type { EndpointDrift } from './endpoint-settle.js';
import {
  DEFAULT_PROBE_INTERVAL_MS,
  MAX_SWITCH_BACKOFF_MS,
  type PathControllerOptions,
  type PathMetrics,
  type PathSwitch,
  type PeerState,
} from './path-types.js';
import { tracePathSwitch, type PathSwitchTrace } from './path-tracing.js';

/** What the switcher reads of the controller's state (see `PathController`). */
export interface SwitchView {
  /** The peer's state if `gen` is still the current generation and the peer is on `path`. */
  current(id: NodeId, gen: number, path: PeerPath): PeerState | undefined;
  /** True while the controller runs (between `start` and `stop`). */
  running(): boolean;
  /** The controller's generation (bumped when the data plane stops or the controller stops). */
  generation(): number;
  /** True when peers may be switched to the relay. */
  switchingEnabled(): boolean;
  /** Refreshes the `rustynet_path_peers` gauge. */
  updateGauge(): void;
  /** A switch to `path` set `expected` in place of `stale` (see `EndpointSettle`). */
  settled(id: NodeId, path: PeerPath, expected: Endpoint, stale: ReadonlyArray<Endpoint | undefined>): void;
}

/**
 * Carries out one peer's switch between the direct path and the relay: relay path, backend
 * endpoint (`updatePeerEndpoint`), the reconciler's record, then log, metric and audit. A failed
 * switch changes nothing and is reported as `false`; the controller schedules the retry.
 */
export class PathSwitcher {
  constructor(
    private readonly opts: PathControllerOptions,
    private readonly m: PathMetrics | undefined,
    private readonly view: SwitchView,
  ) {}

  /** Deadline of each plugin call. */
  callOpts(): CallOptions {
    return this.opts.callOptions?.() ?? { timeoutMs: DEFAULT_CALL_TIMEOUT_MS };
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    return this.opts.serial ? this.opts.serial(fn) : fn();
  }

  /**
   * Starts `id`'s switch to `to` in the daemon's serialiser (marks it `switching` until done); a
   * failed switch is retried after `intervalMs · 2^failures` (at most {@link MAX_SWITCH_BACKOFF_MS}).
   * @param gen the controller's generation when the switch was decided.
   */
  start(id: NodeId, s: PeerState, to: PeerPath, gen: number, reason: string): Promise<void> {
    s.switching = true;
    const run = (): Promise<boolean> => (to === 'relay' ? this.toRelay(id, gen, reason) : this.toDirect(id, gen, reason, false));
    const intervalMs = this.opts.intervalMs ?? DEFAULT_PROBE_INTERVAL_MS;
    return this.serial(run)
      .then((ok) => {
        if (ok) {
          s.failedSwitches = 0;
          s.nextAttemptAt = 0;
        } else if (gen === this.view.generation()) {
          s.failedSwitches++;
          s.nextAttemptAt = this.opts.clock.now() + Math.min(MAX_SWITCH_BACKOFF_MS, intervalMs * 2 ** s.failedSwitches);
        }
      })
      .catch((err: unknown) => this.opts.logger?.error({ peer: id, err: toRustynetError(err).message }, 'path switch failed'))
      .finally(() => {
        s.switching = false;
      });
  }

  /** Runs {@link repair} in the daemon's serialiser; never rejects. */
  runRepair(d: EndpointDrift, gen: number): Promise<void> {
    return this.serial(() => this.repair(d, gen)).catch((err: unknown) =>
      this.opts.logger?.error({ peer: d.peer, err: toRustynetError(err).message }, 'endpoint repair failed'),
    );
  }

  /** Logs, counts and reports (audit) one switch; an `onSwitch` failure is logged. */
  async record(s: PathSwitch, t?: PathSwitchTrace): Promise<void> {
    t?.switched(s.endpoint);
    this.opts.logger?.info({ peer: s.peer, from: s.from, to: s.to, reason: s.reason, endpoint: s.endpoint }, 'peer path switched');
    this.m?.switches.inc({ to: s.to });
    this.view.updateGauge();
    try {
      await this.opts.onSwitch?.(s);
    } catch (err) {
      this.opts.logger?.error({ peer: s.peer, err: toRustynetError(err).message }, 'recording a path switch failed');
    }
  }

  /** Closes a relay path; a failure is logged. */
  async closePath(id: NodeId): Promise<void> {
    await this.opts.relay
      ?.closePath(id, this.callOpts())
      .catch((err: unknown) => this.opts.logger?.warn({ peer: id, err: toRustynetError(err).message }, 'relay closePath failed'));
  }

  private async resolve(endpoint: Endpoint | undefined, node: NetmapNode, path: PeerPath): Promise<Endpoint | undefined> {
    if (!this.opts.resolveEndpoint) return endpoint;
    return this.opts.resolveEndpoint(endpoint, { peer: node, path });
  }

  private fail(id: NodeId, to: PeerPath, err: unknown, step: string, t?: PathSwitchTrace): false {
    const e = toRustynetError(err);
    t?.failed(e, step);
    this.m?.failures.inc({ to });
    this.opts.logger?.warn({ peer: id, to, step, code: e.code, err: e.message }, 'path switch failed; peer keeps its path');
    return false;
  }

  /** @returns true when switched (or nothing to do), false when it failed (nothing changed). Span `path.switch`. */
  toRelay(id: NodeId, gen: number, reason: string): Promise<boolean> {
    return tracePathSwitch(id, 'direct', 'relay', reason, (t) => this.switchToRelay(id, gen, reason, t));
  }

  private async switchToRelay(id: NodeId, gen: number, reason: string, t: PathSwitchTrace): Promise<boolean> {
    const s = this.view.current(id, gen, 'direct');
    const relay = this.opts.relay;
    if (!s || !relay || !this.view.running() || !this.view.switchingEnabled()) return true;
    const backendEndpoint = await this.opts.backendEndpoint(id);
    if (!backendEndpoint) return this.fail(id, 'relay', new Error('the backend reports no listen port'), 'backendEndpoint', t);
    let local: Endpoint;
    try {
      local = await relay.openPath({ peer: id, backendEndpoint }, this.callOpts());
    } catch (err) {
      return this.fail(id, 'relay', err, 'relay.openPath', t);
    }
    try {
      const ep = (await this.resolve(local, s.node, 'relay')) ?? local;
      if (!this.view.current(id, gen, 'direct')) throw new Error('peer changed during the switch');
      await this.opts.backend.updatePeerEndpoint(id, ep, this.callOpts());
      s.path = 'relay';
      s.relayEndpoint = local;
      s.misses = 0;
      s.successes = 0;
      this.opts.onEndpointChanged?.(id, ep);
      // No settle check here: a roam back to the direct endpoint means direct datagrams arrive
      // (or the peer already switched back), and the next datagram through the relay undoes it.
      await this.record({ peer: id, from: 'direct', to: 'relay', reason, endpoint: formatEndpoint(ep) }, t);
      return true;
    } catch (err) {
      await relay.closePath(id, this.callOpts()).catch(() => undefined);
      return this.fail(id, 'relay', err, 'backend.updatePeerEndpoint', t);
    }
  }

  /**
   * Points the backend back at the peer's direct endpoint, then closes its relay path.
   * @param force also while the controller is stopped (a relay restart lost the path).
   * @returns true when switched (or nothing to do), false when it failed (nothing changed). Span `path.switch`.
   */
  toDirect(id: NodeId, gen: number, reason: string, force: boolean): Promise<boolean> {
    return tracePathSwitch(id, 'relay', 'direct', reason, (t) => this.switchToDirect(id, gen, reason, force, t));
  }

  private async switchToDirect(id: NodeId, gen: number, reason: string, force: boolean, t: PathSwitchTrace): Promise<boolean> {
    const s = this.view.current(id, gen, 'relay');
    if (!s || (!this.view.running() && !force)) return true;
    const direct = s.node.endpoints[0];
    try {
      const ep = (await this.resolve(direct, s.node, 'direct')) ?? direct;
      if (!ep) throw new Error('peer has no direct endpoint');
      if (!this.view.current(id, gen, 'relay')) return true;
      await this.opts.backend.updatePeerEndpoint(id, ep, this.callOpts());
      s.path = 'direct';
      const relayed = s.relayEndpoint;
      delete s.relayEndpoint;
      s.misses = 0;
      s.successes = 0;
      this.opts.onEndpointChanged?.(id, ep);
      this.view.settled(id, 'direct', ep, [relayed]);
      await this.record({ peer: id, from: 'relay', to: 'direct', reason, endpoint: formatEndpoint(ep) }, t);
    } catch (err) {
      return this.fail(id, 'direct', err, 'backend.updatePeerEndpoint', t);
    }
    await this.closePath(id);
    return true;
  }

  /**
   * Points the backend back at the endpoint a switch set, after it roamed to one the switch
   * replaced (see `EndpointSettle`); nothing when the peer changed path or generation since. A
   * failure is logged; the next round checks again.
   */
  async repair(d: EndpointDrift, gen: number): Promise<void> {
    if (!this.view.current(d.peer, gen, d.path)) return;
    this.opts.logger?.warn(
      { peer: d.peer, path: d.path, seen: d.seen, endpoint: formatEndpoint(d.expected) },
      'backend roamed back to the endpoint a path switch replaced (a late datagram of the old path): re-applying',
    );
    this.m?.repairs.inc({ path: d.path });
    try {
      await this.opts.backend.updatePeerEndpoint(d.peer, d.expected, this.callOpts());
    } catch (err) {
      this.opts.logger?.warn({ peer: d.peer, err: toRustynetError(err).message }, 're-applying the endpoint failed');
    }
  }

  /**
   * Re-opens the relay path of a relayed peer after a relay restart and points the backend at it
   * when the local endpoint moved; a peer whose path cannot be re-opened returns to direct.
   */
  async reopen(id: NodeId, s: PeerState, gen: number): Promise<void> {
    try {
      const backendEndpoint = await this.opts.backendEndpoint(id);
      if (!backendEndpoint || !this.opts.relay) throw new Error('no relay or backend endpoint');
      const local = await this.opts.relay.openPath({ peer: id, backendEndpoint }, this.callOpts());
      const ep = (await this.resolve(local, s.node, 'relay')) ?? local;
      if (!s.relayEndpoint || formatEndpoint(local) !== formatEndpoint(s.relayEndpoint)) {
        await this.opts.backend.updatePeerEndpoint(id, ep, this.callOpts());
        this.opts.onEndpointChanged?.(id, ep);
        this.view.settled(id, 'relay', ep, [s.relayEndpoint]);
      }
      s.relayEndpoint = local;
    } catch (err) {
      this.opts.logger?.warn({ peer: id, err: toRustynetError(err).message }, 'relay path could not be re-opened after a relay restart');
      await this.toDirect(id, gen, 'relay path lost at relay restart', true);
    }
  }
}
