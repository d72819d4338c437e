/**
 * @packageDocumentation
 * `@rustynet/relay`: the Rustynet relay.
 *
 * - {@link createPlugin}: the relay client plugin (kind `relay`) the daemon loads. It registers
 *   the node with a relay server and gives the backend one loopback UDP endpoint per relayed peer.
 * - {@link createRelayServer}: the relay server (`rustynet relay serve`), which forwards the
 *   backends' already-encrypted datagrams between registered nodes.
 * - The wire protocol codec (`protocol`), documented in `docs/relay.md`.
 */
import type { PluginContext, RelayPlugin } from '@rustynet/plugin-api';
import { RelayClient } from './client/plugin.js';
import { DEFAULT_RELAY_LIMITS } from './server/core.js';

export { RelayClient, DEFAULT_CLIENT_OPTIONS, relayClientConfigSchema, CLIENT_DROP_REASONS } from './client/plugin.js';
export type { RelayClientOptions, ClientDropReason } from './client/plugin.js';
export { createRelayServer } from './server/server.js';
export type { RelayServer, RelayServerOptions, RelayServerStats, RelayNetmapSource, VerifySignedNetmap } from './server/server.js';
export { RelayCore, DEFAULT_RELAY_LIMITS, DROP_REASONS, parseIdentityKeys, resolveLimits } from './server/core.js';
export type { RelayLimits, RelayCounters, DropReason, RelayCoreOptions, SendFn } from './server/core.js';
export { TokenBucket } from './token-bucket.js';
export * as protocol from './protocol.js';
export * as identity from './identity.js';
export * as allocation from './allocation.js';
export * as kernelRules from './server/kernel-rules.js';
export * as kernelRulesNetdev from './server/kernel-rules-netdev.js';
export { ipRouter, type RelayRouter, type RelayRoute } from './server/kernel-router.js';
export { KernelForwarder, nftRunner, type NftRunner, type KernelForwarderOptions } from './server/kernel-forwarder.js';
export type { KernelPathStats } from './server/kernel-path.js';
export { loadOrCreateRelayIdentity, type RelayIdentityKey } from './server/identity-key-file.js';
export { RELAY_IDENTITY_REASON } from './client/identity-handshake.js';

/**
 * The `limits` of {@link createRelayServer} the conformance kit may set (its "server kit limits",
 * docs/conformance.md, Relay): every key of `RelayLimits`, so the kit may, e.g., shorten
 * `sessionTimeoutMs` to test session expiry.
 */
export const relayServerKitLimits: readonly string[] = Object.freeze(Object.keys(DEFAULT_RELAY_LIMITS));

/**
 * Entry point named in `rustynet-plugin.json`: creates the relay client plugin.
 * Does not touch the system (sockets are opened by `start` and `openPath`).
 * Options arrive validated by the loader against the manifest's `configSchema`.
 */
export function createPlugin(context: PluginContext): RelayPlugin {
  return new RelayClient(context);
}
