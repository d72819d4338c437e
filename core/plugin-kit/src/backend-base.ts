/**
 * The base class of backend plugins: the {@link BackendPlugin} contract's state machine, call
 * serialisation and abort/deadline mapping, with protected `_` methods for the data plane.
 */
import type {
  BackendCapabilities,
  BackendKeyPair,
  BackendPlugin,
  BackendRuntimeStats,
  BackendStartConfig,
  CallOptions,
  Endpoint,
  NodeId,
  PeerBatch,
  RouteChange,
} from '@rustynet/plugin-api';
import type { CallScope } from './call-scope.js';
import { PluginLifecycle, type LifecycleOptions } from './lifecycle.js';

/** Options of the {@link BackendBase} constructor. */
export interface BackendBaseOptions extends LifecycleOptions {
  /**
   * When true, `stats` runs at once instead of waiting behind queued calls (a slow `applyPeers`
   * must not stall the path controller's health reads); `_stats` must then only read. Default false.
   */
  concurrentStats?: boolean;
}

/**
 * A backend on {@link PluginLifecycle}. Subclasses implement `capabilities` and the protected
 * `_` methods; the public methods of {@link BackendPlugin} come from here:
 *
 * | public                   | state checked      | calls                          |
 * |--------------------------|--------------------|--------------------------------|
 * | `start`                  | `ALREADY_RUNNING`  | `_start(config, scope)`        |
 * | `stop`                   | idempotent         | `_stop(state, scope)`          |
 * | `applyPeers`             | `NOT_RUNNING`      | `_applyPeers(state, batch, scope)` |
 * | `updatePeerEndpoint`     | `NOT_RUNNING`      | `_updatePeerEndpoint(state, peer, endpoint, scope)` |
 * | `applyRoutes`            | `NOT_RUNNING`      | `_applyRoutes(state, change, scope)` |
 * | `stats`                  | `NOT_RUNNING`      | `_stats(state, scope)` (queued unless `concurrentStats`) |
 * | `generateKeyPair`        | none               | `_generateKeyPair(directory, scope)` |
 * | `publicKey`              | none               | `_publicKey(directory, scope)` |
 *
 * Every call is serialised and checks its signal and deadline first (`ABORTED`, `TIMEOUT`).
 * `_applyPeers` and `_applyRoutes` must validate the whole input before changing anything.
 *
 * @typeParam TState what a running backend holds (device, peers, routes, ...).
 */
export abstract class BackendBase<TState> extends PluginLifecycle<TState, BackendStartConfig> implements BackendPlugin {
  /** Always `backend`. */
  readonly kind = 'backend' as const;
  private readonly concurrentStats: boolean;

  protected constructor(options: BackendBaseOptions) {
    super(options);
    this.concurrentStats = options.concurrentStats === true;
  }

  /** Run-time capabilities; must equal the manifest's. */
  abstract capabilities(): BackendCapabilities;

  /** @see BackendPlugin.start */
  start(config: BackendStartConfig, options?: CallOptions): Promise<void> {
    return this.runStart(config, options);
  }

  /** @see BackendPlugin.generateKeyPair */
  generateKeyPair(directory: string, options?: CallOptions): Promise<BackendKeyPair> {
    return this.serial(options, (scope) => this._generateKeyPair(directory, scope));
  }

  /** @see BackendPlugin.publicKey */
  publicKey(directory: string, options?: CallOptions): Promise<string> {
    return this.serial(options, (scope) => this._publicKey(directory, scope));
  }

  /** @see BackendPlugin.applyPeers */
  applyPeers(batch: PeerBatch, options?: CallOptions): Promise<void> {
    return this.whileRunning(options, (state, scope) => this._applyPeers(state, batch, scope));
  }

  /** @see BackendPlugin.updatePeerEndpoint */
  updatePeerEndpoint(peer: NodeId, endpoint: Endpoint, options?: CallOptions): Promise<void> {
    return this.whileRunning(options, (state, scope) => this._updatePeerEndpoint(state, peer, endpoint, scope));
  }

  /** @see BackendPlugin.applyRoutes */
  applyRoutes(change: RouteChange, options?: CallOptions): Promise<void> {
    return this.whileRunning(options, (state, scope) => this._applyRoutes(state, change, scope));
  }

  /** @see BackendPlugin.stats */
  stats(options?: CallOptions): Promise<BackendRuntimeStats> {
    const work = (state: TState, scope: CallScope): Promise<BackendRuntimeStats> => this._stats(state, scope);
    return this.concurrentStats ? this.unqueued(options, work) : this.whileRunning(options, work);
  }

  /** Writes a new key pair into `directory`. @throws `KEY_INVALID` if keys exist, `BACKEND_FAILED`. */
  protected abstract _generateKeyPair(directory: string, scope: CallScope): Promise<BackendKeyPair>;
  /** Reads the public key in `directory`. @throws `KEY_INVALID` when missing, malformed or not 0600. */
  protected abstract _publicKey(directory: string, scope: CallScope): Promise<string>;
  /** Applies one peer batch, validated as a whole first. */
  protected abstract _applyPeers(state: TState, batch: PeerBatch, scope: CallScope): Promise<void>;
  /** Changes one peer's endpoint. @throws `UNSUPPORTED` without roaming, `UNKNOWN_PEER`. */
  protected abstract _updatePeerEndpoint(state: TState, peer: NodeId, endpoint: Endpoint, scope: CallScope): Promise<void>;
  /** Applies a route change, validated as a whole first. */
  protected abstract _applyRoutes(state: TState, change: RouteChange, scope: CallScope): Promise<void>;
  /** Reads counters and handshakes from the data plane. */
  protected abstract _stats(state: TState, scope: CallScope): Promise<BackendRuntimeStats>;
}
