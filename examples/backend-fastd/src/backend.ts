import {
  RustynetError,
  type BackendCapabilities,
  type BackendKeyPair,
  type BackendRuntimeStats,
  type BackendStartConfig,
  type Endpoint,
  type NodeId,
  type PeerBatch,
  type PeerConfig,
  type PluginContext,
  type Route,
  type RouteChange,
} from '@rustynet/plugin-api';
import { BackendBase, checkPeerConflicts } from '@rustynet/plugin-kit';
import type { FastdPlane } from './data-plane.js';
import { generateKeyPair, readPublicKey } from './keys.js';
import { validatePeerBatch, validateRouteChange, validateStartConfig } from './validate.js';

/** Keep equal to `capabilities` in rustynet-plugin.json (`backend.manifest.capabilities-match`). */
export const CAPABILITIES: Readonly<BackendCapabilities> = Object.freeze({
  roaming: false,
  ipv6: false,
  exitNode: false,
  lanRoutes: true,
  udpTransport: true,
  handshakeStats: false,
  maxPeers: 250,
  // allowed IPs live in our routes and source filter, not in fastd: a change touches no session
  allowedIpsUpdate: true,
  // fastd v22 sends its keepalives on a fixed, compiled-in interval: no per-peer keepalive (README)
  persistentKeepalive: false,
  // fastd holds back a new session with a peer for 15 s after the last one and an unconnected
  // peer retries every 17.5-22.5 s: traffic is back 15-35 s after a restart or re-add (README)
  sessionReestablishSeconds: 40,
});

/** What a running backend holds; `undefined` while stopped (the base class keeps it). */
interface Running {
  config: BackendStartConfig;
  interfaces: string[];
  peers: Map<NodeId, PeerConfig>;
  routes: Map<string, Route>;
}

/**
 * The fastd backend: input validation and the peer and route tables; the packets are
 * {@link FastdPlane}'s (one fastd per node, a tun device per peer). The contract's bookkeeping (state checks,
 * serialised calls, `ABORTED` / `TIMEOUT`) comes from `BackendBase` (@rustynet/plugin-kit).
 */
export class FastdBackend extends BackendBase<Running> {
  constructor(
    private readonly context: PluginContext,
    private readonly plane: FastdPlane,
  ) {
    super({ clock: context.clock, label: context.pluginName });
  }

  /** Run-time capabilities; must equal the manifest's. */
  capabilities(): BackendCapabilities {
    return { ...CAPABILITIES };
  }

  /** @throws RustynetError `KEY_INVALID` if keys exist in `directory`. */
  protected override _generateKeyPair(directory: string): Promise<BackendKeyPair> {
    return generateKeyPair(this.context.runner, directory);
  }

  /** @throws RustynetError `KEY_INVALID` when missing, malformed or not 0600. */
  protected override _publicKey(directory: string): Promise<string> {
    return readPublicKey(directory);
  }

  /** @throws RustynetError `INVALID_INPUT`, `KEY_INVALID`, `UNSUPPORTED`, `BACKEND_FAILED`. */
  protected override async _start(config: BackendStartConfig): Promise<Running> {
    validateStartConfig(config, CAPABILITIES.ipv6);
    await readPublicKey(config.keyDirectory);
    let interfaces: string[];
    try {
      interfaces = await this.plane.up(config);
    } catch (err) {
      await this.plane.down().catch(() => undefined);
      throw err;
    }
    this.context.logger.info({ interfaceName: config.interfaceName }, 'backend started');
    return { config: structuredClone(config), interfaces, peers: new Map(), routes: new Map() };
  }

  protected override async _stop(): Promise<void> {
    await this.plane.down();
  }

  /** @throws RustynetError `INVALID_INPUT`, `DUPLICATE_PEER`, `UNKNOWN_PEER`, `UNSUPPORTED`, `BACKEND_FAILED`. */
  protected override async _applyPeers(st: Running, batch: PeerBatch): Promise<void> {
    validatePeerBatch(batch, new Set(st.peers.keys()), { ipv6: CAPABILITIES.ipv6, maxPeers: CAPABILITIES.maxPeers });
    const next = new Map(st.peers);
    for (const id of batch.remove) next.delete(id);
    for (const p of batch.upsert) next.set(p.id, structuredClone(p));
    checkPeerConflicts(batch.upsert, next);
    if (batch.upsert.length === 0 && batch.remove.length === 0) return;
    await this.plane.setPeers([...next.values()]);
    st.peers = next;
  }

  /**
   * fastd reads a peer's `remote` from its peer file, and a changed file resets the peer's
   * session: this backend does not claim `roaming`.
   * @throws RustynetError `UNSUPPORTED` always.
   */
  protected override _updatePeerEndpoint(_st: Running, _peer: NodeId, _endpoint: Endpoint): Promise<void> {
    return Promise.reject(
      new RustynetError('UNSUPPORTED', 'the fastd backend does not claim roaming (a changed remote resets the session)'),
    );
  }

  /** @throws RustynetError `INVALID_INPUT`, `UNKNOWN_PEER`, `UNSUPPORTED`, `BACKEND_FAILED`. */
  protected override async _applyRoutes(st: Running, change: RouteChange): Promise<void> {
    validateRouteChange(change, new Set(st.peers.keys()), CAPABILITIES);
    const key = (r: Route): string => `${r.peer} ${r.destination}`;
    const remove = change.remove.filter((r) => st.routes.has(key(r)));
    await this.plane.routes(change.add, remove);
    for (const r of remove) st.routes.delete(key(r));
    for (const r of change.add) st.routes.set(key(r), { ...r });
  }

  /** @throws RustynetError `BACKEND_FAILED`. */
  protected override async _stats(st: Running): Promise<BackendRuntimeStats> {
    const peers = await this.plane.stats([...st.peers.values()]);
    return { interfaces: [...st.interfaces, ...this.plane.deviceNames()], peers, listenPort: this.plane.listenPort };
  }
}
