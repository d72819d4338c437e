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
import type { PathControllerOptions, PathMetrics, PathSwitch, PeerState } from './path-types.js';
import { tracePathSwitch, type PathSwitchTrace } from './path-tracing.js';

/** What the switcher reads of the controller's state (see `PathController`). */
export interface SwitchView {
  /** The peer's state if `gen` is still the current generation and the peer is on `path`. */
  current(id: NodeId, gen: number, path: PeerPath): PeerState | undefined;
  /** True while the controller runs (between `start` and `stop`). */
  running(): boolean;
  /** True when peers may be switched to the relay. */
  switchingEnabled(): boolean;
  /** Refreshes the `rustynet_path_peers` gauge. */
  updateGauge(): void;
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
      delete s.relayEndpoint;
      s.misses = 0;
      s.successes = 0;
      this.opts.onEndpointChanged?.(id, ep);
      await this.record({ peer: id, from: 'relay', to: 'direct', reason, endpoint: formatEndpoint(ep) }, t);
    } catch (err) {
      return this.fail(id, 'direct', err, 'backend.updatePeerEndpoint', t);
    }
    await this.closePath(id);
    return true;
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
      }
      s.relayEndpoint = local;
    } catch (err) {
      this.opts.logger?.warn({ peer: id, err: toRustynetError(err).message }, 'relay path could not be re-opened after a relay restart');
      await this.toDirect(id, gen, 'relay path lost at relay restart', true);
    }
  }
}
