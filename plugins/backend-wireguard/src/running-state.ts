/** What a running WireGuard backend holds, shared by the plugin and its route and stats code. */
import type { Logger, NodeId, PeerConfig } from '@rustynet/plugin-api';
import type { CallScope } from '@rustynet/plugin-kit';
import type { Device } from './device.js';
import type { WireguardOptions } from './options.js';
import type { Tools } from './tools.js';
import type { PeerIndex, ValidRoute, ValidStartConfig } from './validate.js';

/** Time allowed to clean up after a failed call, independent of the failed call's deadline, in ms. */
export const CLEANUP_TIMEOUT_MS = 15_000;

/** The state of a started backend. */
export interface RunningState {
  config: ValidStartConfig;
  device: Device;
  publicKey: string;
  peers: Map<NodeId, PeerConfig>;
  /** Key and allowed-IP indexes of `peers` (a batch is validated against them). */
  index: PeerIndex;
  /** Routes this backend installed in the main table, by prefix key. */
  routes: Map<string, ValidRoute>;
  /** Exit-node (default) routes installed with policy routing, by address family. */
  exitRoutes: Map<4 | 6, ValidRoute>;
  /** Whether `wg set <if> fwmark <table>` was done. */
  fwmarkSet: boolean;
}

/** What the route and stats code needs from the plugin instance. */
export interface BackendDeps {
  tools: Tools;
  options: WireguardOptions;
  logger: Logger;
  /** A fresh scope of {@link CLEANUP_TIMEOUT_MS} for cleanup after a failure. */
  cleanupScope(): CallScope;
}
