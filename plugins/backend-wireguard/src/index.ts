/**
 * @packageDocumentation
 * `@rustynet/backend-wireguard`: the WireGuard reference backend for Rustynet. It drives `wg`
 * (wireguard-tools) and `ip` (iproute2) through the host's CommandRunner, on the kernel
 * WireGuard module when present and on wireguard-go otherwise. See docs/backends/wireguard.md.
 */
import type { BackendPlugin, PluginContext } from '@rustynet/plugin-api';
import { WireguardBackend } from './plugin.js';

/**
 * Creates one backend instance. Touches nothing on the system (that happens in `start`).
 * @throws RustynetError `CONFIG_INVALID` when `context.options` does not match the manifest's
 *   `configSchema`.
 */
export function createPlugin(context: PluginContext): BackendPlugin {
  return new WireguardBackend(context);
}

export { WireguardBackend } from './plugin.js';
export { CAPABILITIES, PROTOCOL, WG_KEY_PATTERN } from './capabilities.js';
export { DEFAULT_OPTIONS, parseOptions, type UserspaceMode, type WireguardOptions } from './options.js';
export { derivePublicKey, PRIVATE_KEY_FILE, PUBLIC_KEY_FILE } from './keys.js';
export { parseWgDump, type DumpPeer, type WgDump } from './wg-dump.js';
