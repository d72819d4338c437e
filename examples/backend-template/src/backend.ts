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
import { BackendBase } from '@rustynet/plugin-kit';
import type { DataPlane } from './data-plane.js';
import { generateKeyPair, readPublicKey } from './keys.js';
import { validateEndpoint, validatePeerBatch, validateRouteChange, validateStartConfig } from './validate.js';

/** Keep equal to `capabilities` in rustynet-plugin.json (`backend.manifest.capabilities-match`). */
export const CAPABILITIES: Readonly<BackendCapabilities> = Object.freeze({
  roaming: false,
  ipv6: false,
  exitNode: false,
  lanRoutes: false,
  udpTransport: true,
  handshakeStats: false,
  maxPeers: 1000,
  allowedIpsUpdate: true,
});

/** What a running backend holds; `undefined` while stopped (the base class keeps it). */
interface Running {
  config: BackendStartConfig;
  interfaces: string[];
  peers: Map<NodeId, PeerConfig>;
  routes: Map<string, Route>;
}

/**
 * A backend moves encrypted packets between this node and its peers. The packets are the
 * {@link DataPlane}'s job; this class validates input and keeps the peer and route tables.
 *
 * The contract's bookkeeping comes from `BackendBase` (@rustynet/plugin-kit), so this class
 * only implements the protected `_` methods:
 * - `start` -> `_start` (returns the running state) and `stop` -> `_stop`: the base answers
 *   `ALREADY_RUNNING` to a second start, makes `stop` idempotent, and allows start after stop.
 * - `applyPeers`, `updatePeerEndpoint`, `applyRoutes`, `stats` -> `_applyPeers(state, ...)` ...:
 *   the base answers `NOT_RUNNING` before start and after stop, and passes the running state.
 * - Every call is serialised (the host may call concurrently), and an aborted signal or a passed
 *   `timeoutMs` becomes `ABORTED` / `TIMEOUT` before your method runs. Long work should pass
 *   `scope.runOptions()` to `context.runner.run` so commands respect the deadline too.
 *
 * Your rules (core/plugin-api `plugins/backend.ts`):
 * - Validate a whole batch before changing anything: bad input fails with the documented code
 *   and changes nothing.
 * - Batch: one `applyPeers` with N peers must not cost N process spawns.
 * - Private keys never appear on a command line, in a child's environment or in logs.
 * - `_stop` removes every device, route, address, process, socket and file the backend made.
 *   If it throws, the backend stays running (stop can be retried).
 */
export class TemplateBackend extends BackendBase<Running> {
  constructor(
    private readonly context: PluginContext,
    private readonly plane: DataPlane,
  ) {
    super({ clock: context.clock, label: context.pluginName });
  }

  /** Run-time capabilities; must equal the manifest's. */
  capabilities(): BackendCapabilities {
    return { ...CAPABILITIES };
  }

  /** @throws RustynetError `KEY_INVALID` if keys exist in `directory`. */
  protected override _generateKeyPair(directory: string): Promise<BackendKeyPair> {
    return generateKeyPair(directory);
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
    await this.plane.setPeers([...next.values()], batch.remove);
    st.peers = next;
  }

  /** @throws RustynetError `UNKNOWN_PEER`, `INVALID_INPUT`, `UNSUPPORTED` (no roaming). */
  protected override async _updatePeerEndpoint(st: Running, peer: NodeId, endpoint: Endpoint): Promise<void> {
    if (!CAPABILITIES.roaming) throw new RustynetError('UNSUPPORTED', 'this backend does not claim roaming');
    const p = st.peers.get(peer);
    if (!p) throw new RustynetError('UNKNOWN_PEER', `unknown peer ${peer}`, { field: 'peer' });
    const ep = validateEndpoint(endpoint, 'endpoint');
    const updated = { ...p, endpoint: ep };
    await this.plane.setEndpoint(updated);
    st.peers.set(peer, updated);
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
    const peers = await this.plane.counters([...st.peers.values()]);
    return { interfaces: [...st.interfaces], peers, listenPort: st.config.listenPort };
  }
}
