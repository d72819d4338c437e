/**
 * THE PART YOU WRITE. Everything the kit checks about state and input is already handled by
 * `backend.ts`; this file is where your tunnel moves packets. Each method receives validated
 * input. Run external tools ONLY through `context.runner` (argument arrays, never a shell), pass
 * private keys by file path or stdin, keep files in `context.state.dir`.
 *
 * Until you implement it, every method fails with `UNSUPPORTED` "not implemented", and
 * `rustynet plugin test .` tells you which contract tests that breaks.
 */
import {
  RustynetError,
  type BackendStartConfig,
  type PeerConfig,
  type PeerStats,
  type PluginContext,
  type Route,
} from '@rustynet/plugin-api';

/** What `backend.ts` needs from your data plane. */
export interface DataPlane {
  /**
   * Creates the tunnel device(s) named `config.interfaceName`, sets addresses, MTU, listen port
   * and loads the private key from `config.keyDirectory`. Must leave nothing behind when it throws.
   * @returns the names of the devices created (reported by `stats().interfaces`).
   */
  up(config: BackendStartConfig): Promise<string[]>;
  /** Removes every device, process, socket, route and file `up` and later calls made. Idempotent. */
  down(): Promise<void>;
  /**
   * Makes the data plane's peer set equal to `peers` (one call for the whole batch: no process
   * spawn per peer). `removed` lists the ids that were dropped.
   */
  setPeers(peers: PeerConfig[], removed: string[]): Promise<void>;
  /** Changes one peer's endpoint (only called when you claim `roaming`). */
  setEndpoint(peer: PeerConfig): Promise<void>;
  /** Removes then adds kernel routes through your device(s) (one batch, e.g. `ip -batch -`). */
  routes(add: Route[], remove: Route[]): Promise<void>;
  /** Per-peer counters from the data plane itself (never estimated). */
  counters(peers: PeerConfig[]): Promise<PeerStats[]>;
}

function todo(what: string): Promise<never> {
  return Promise.reject(new RustynetError('UNSUPPORTED', `not implemented yet: ${what} (see data-plane.ts)`));
}

/** Creates your data plane. Replace the TODOs. */
export function createDataPlane(context: PluginContext): DataPlane {
  void context;
  return {
    up: () => todo('create the tunnel device'),
    down: async () => {
      /* TODO: remove what up() made; must be idempotent */
    },
    setPeers: () => todo('configure peers'),
    setEndpoint: () => todo('change a peer endpoint'),
    routes: (add, remove) => (add.length || remove.length ? todo('apply routes') : Promise.resolve()),
    counters: (peers) => Promise.resolve(peers.map((p) => ({ id: p.id, lastHandshakeAt: null, rxBytes: 0, txBytes: 0 }))),
  };
}
