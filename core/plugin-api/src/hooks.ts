import type { Endpoint } from './types/endpoint.js';
import type { Netmap, NetmapNode } from './types/netmap.js';

/**
 * A named hook a plugin can tap, webpack-tapable style. Every tap carries a name; the daemon
 * prefixes it with the plugin's name, records it on its timeline, and runs it under a deadline.
 * A tap that throws or passes its deadline is reported by name and never stops the daemon.
 */
export interface TappableHook<Args extends unknown[], R> {
  /** Registers `fn` under `name` (the plugin's name, shown in the hook timeline and in `HOOK_FAILED`). */
  tapPromise(name: string, fn: (...args: Args) => Promise<R>): void;
}

/** Path a peer's traffic takes. */
export type PeerPath = 'direct' | 'relay';

/** What {@link PluginHooks.resolvePeerEndpoint} taps receive besides the endpoint. */
export interface PeerEndpointContext {
  /** The peer whose endpoint is being resolved. */
  peer: NetmapNode;
  /** The path the path controller has chosen for the peer. */
  path: PeerPath;
}

/** Summary passed to {@link PluginHooks.applied} after a netmap was applied. */
export interface ApplySummary {
  /** Version of the netmap that was applied. */
  netmapVersion: number;
  /** Number of peers added or changed in the backend. */
  peersUpserted: number;
  /** Number of peers removed from the backend. */
  peersRemoved: number;
  /** Number of routes added. */
  routesAdded: number;
  /** Number of routes removed. */
  routesRemoved: number;
  /** Milliseconds the apply took. */
  durationMs: number;
}

/**
 * The hooks the daemon offers to plugins.
 *
 * - `netmapAccepted`: after the trust checks passed, before anything is applied. A tap may veto
 *   the map by resolving to a reason string; a tap that throws also vetoes (fail closed).
 * - `resolvePeerEndpoint`: a waterfall; each tap may return a different endpoint for the peer
 *   (the relay plugin substitutes its local relay endpoint). A tap that throws is skipped.
 * - `applied`: after a successful apply.
 * - `shutdown`: before the daemon stops its plugins.
 */
export interface PluginHooks {
  /** Called with a verified netmap before it is applied; a tap that throws vetoes it (`NETMAP_VETOED`). */
  netmapAccepted: TappableHook<[netmap: Netmap], string | void>;
  /** Lets a tap substitute the endpoint used for a peer (the relay plugin returns its local proxy). */
  resolvePeerEndpoint: TappableHook<[endpoint: Endpoint | undefined, context: PeerEndpointContext], Endpoint | undefined>;
  /** Called after a netmap was applied in full, with a summary of the changes. */
  applied: TappableHook<[summary: ApplySummary], void>;
  /** Called once when the daemon stops, before plugins are stopped. */
  shutdown: TappableHook<[], void>;
}
