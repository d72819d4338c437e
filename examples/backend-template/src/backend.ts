import {
  RustynetError,
  type BackendCapabilities,
  type BackendKeyPair,
  type BackendPlugin,
  type BackendRuntimeStats,
  type BackendStartConfig,
  type CallOptions,
  type Endpoint,
  type NodeId,
  type PeerBatch,
  type PeerConfig,
  type PluginContext,
  type Route,
  type RouteChange,
} from '@rustynet/plugin-api';
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

interface Running {
  config: BackendStartConfig;
  interfaces: string[];
  peers: Map<NodeId, PeerConfig>;
  routes: Map<string, Route>;
}

/**
 * A backend moves encrypted packets between this node and its peers. This class implements the
 * contract's state machine and input rules (the `backend.state.*` and `backend.bad-input.*`
 * conformance tests); the packets are the {@link DataPlane}'s job.
 *
 * Contract (core/plugin-api `plugins/backend.ts`):
 * - Every method but `capabilities`, `generateKeyPair`, `publicKey` and `stop` fails with
 *   `NOT_RUNNING` before `start` and after `stop`; a second `start` fails with `ALREADY_RUNNING`;
 *   `stop` is idempotent; `start` after `stop` works.
 * - Calls are batched: one `applyPeers` with N peers must not cost N process spawns.
 * - Bad input fails with the documented code and changes nothing.
 * - Private keys never appear on a command line, in a child's environment or in logs.
 * - `stop` removes every device, route, address, process, socket and file the backend made.
 */
export class TemplateBackend implements BackendPlugin {
  readonly kind = 'backend' as const;
  private running: Running | undefined;
  /** Serializes calls: the host may call concurrently. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly context: PluginContext, private readonly plane: DataPlane) {}

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private need(): Running {
    if (!this.running) throw new RustynetError('NOT_RUNNING', `${this.context.pluginName} is not running`);
    return this.running;
  }

  /** Run-time capabilities; must equal the manifest's. */
  capabilities(): BackendCapabilities {
    return { ...CAPABILITIES };
  }

  /** @throws RustynetError `KEY_INVALID` if keys exist in `directory`. */
  generateKeyPair(directory: string, _options?: CallOptions): Promise<BackendKeyPair> {
    return generateKeyPair(directory);
  }

  /** @throws RustynetError `KEY_INVALID` when missing, malformed or not 0600. */
  publicKey(directory: string, _options?: CallOptions): Promise<string> {
    return readPublicKey(directory);
  }

  /** @throws RustynetError `ALREADY_RUNNING`, `INVALID_INPUT`, `KEY_INVALID`, `UNSUPPORTED`, `BACKEND_FAILED`. */
  start(config: BackendStartConfig, _options?: CallOptions): Promise<void> {
    return this.serial(async () => {
      if (this.running) throw new RustynetError('ALREADY_RUNNING', `${this.context.pluginName} is already running`);
      validateStartConfig(config, CAPABILITIES.ipv6);
      await readPublicKey(config.keyDirectory);
      let interfaces: string[];
      try {
        interfaces = await this.plane.up(config);
      } catch (err) {
        await this.plane.down().catch(() => undefined);
        throw err;
      }
      this.running = { config: structuredClone(config), interfaces, peers: new Map(), routes: new Map() };
      this.context.logger.info({ interfaceName: config.interfaceName }, 'backend started');
    });
  }

  /** Idempotent; never throws `NOT_RUNNING`. */
  stop(_options?: CallOptions): Promise<void> {
    return this.serial(async () => {
      await this.plane.down();
      this.running = undefined;
    });
  }

  /** @throws RustynetError `NOT_RUNNING`, `INVALID_INPUT`, `DUPLICATE_PEER`, `UNKNOWN_PEER`, `UNSUPPORTED`, `BACKEND_FAILED`. */
  applyPeers(batch: PeerBatch, _options?: CallOptions): Promise<void> {
    return this.serial(async () => {
      const st = this.need();
      validatePeerBatch(batch, new Set(st.peers.keys()), { ipv6: CAPABILITIES.ipv6, maxPeers: CAPABILITIES.maxPeers });
      const next = new Map(st.peers);
      for (const id of batch.remove) next.delete(id);
      for (const p of batch.upsert) next.set(p.id, structuredClone(p));
      await this.plane.setPeers([...next.values()], batch.remove);
      st.peers = next;
    });
  }

  /** @throws RustynetError `NOT_RUNNING`, `UNKNOWN_PEER`, `INVALID_INPUT`, `UNSUPPORTED` (no roaming). */
  updatePeerEndpoint(peer: NodeId, endpoint: Endpoint, _options?: CallOptions): Promise<void> {
    return this.serial(async () => {
      const st = this.need();
      if (!CAPABILITIES.roaming) throw new RustynetError('UNSUPPORTED', 'this backend does not claim roaming');
      const p = st.peers.get(peer);
      if (!p) throw new RustynetError('UNKNOWN_PEER', `unknown peer ${peer}`, { field: 'peer' });
      const ep = validateEndpoint(endpoint, 'endpoint');
      const updated = { ...p, endpoint: ep };
      await this.plane.setEndpoint(updated);
      st.peers.set(peer, updated);
    });
  }

  /** @throws RustynetError `NOT_RUNNING`, `INVALID_INPUT`, `UNKNOWN_PEER`, `UNSUPPORTED`, `BACKEND_FAILED`. */
  applyRoutes(change: RouteChange, _options?: CallOptions): Promise<void> {
    return this.serial(async () => {
      const st = this.need();
      validateRouteChange(change, new Set(st.peers.keys()), CAPABILITIES);
      const key = (r: Route): string => `${r.peer} ${r.destination}`;
      const remove = change.remove.filter((r) => st.routes.has(key(r)));
      await this.plane.routes(change.add, remove);
      for (const r of remove) st.routes.delete(key(r));
      for (const r of change.add) st.routes.set(key(r), { ...r });
    });
  }

  /** @throws RustynetError `NOT_RUNNING`, `BACKEND_FAILED`. */
  stats(_options?: CallOptions): Promise<BackendRuntimeStats> {
    return this.serial(async () => {
      const st = this.need();
      const peers = await this.plane.counters([...st.peers.values()]);
      return { interfaces: [...st.interfaces], peers, listenPort: st.config.listenPort };
    });
  }
}
