/**
 * @packageDocumentation
 * `@rustynet/backend-openvpn`: the OpenVPN 2.6 reference backend. A mesh of point-to-point TLS
 * tunnels, one supervised `openvpn` process and tun device per peer, peers pinned by
 * `--peer-fingerprint`. Design, limits and interop config: docs/backends/openvpn.md.
 */
import type { BackendPlugin, PluginContext } from '@rustynet/plugin-api';
import { OpenVpnBackend } from './backend.js';

export { OpenVpnBackend } from './backend.js';
export {
  CAPABILITIES,
  FINGERPRINT_PATTERN,
  PROTOCOL,
  DEFAULT_BASE_PORT,
  DEFAULT_PORT_SPAN,
  tlsRole,
  localPort,
  remotePort,
  sendPort,
  isProxyEndpoint,
  portOffset,
  deviceName,
} from './rules.js';
export { renderInstanceConfig, type InstanceConfig } from './config.js';
export { parseState, parseStatus, queryManagement, type ManagementState, type ManagementStatus } from './management.js';
export { optionsSchema, resolveOptions, type OpenVpnOptions } from './options.js';
export { KEY_FILE, CERT_FILE } from './keys.js';

/**
 * Plugin entry point. Touches nothing on the system: devices and processes appear in `start` and
 * `applyPeers`.
 * @throws RustynetError `CONFIG_INVALID` when `context.options` is malformed.
 */
export function createPlugin(context: PluginContext): BackendPlugin {
  return new OpenVpnBackend(context);
}
