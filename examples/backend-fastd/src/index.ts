/**
 * @packageDocumentation
 * `rustynet-backend-fastd`: a daemon-style Rustynet backend driving fastd v22 (one `fastd` per
 * node in TUN mode, a tun device per peer, reloaded with SIGHUP), written the way a third party
 * would, against the published `@rustynet/plugin-api` and `@rustynet/plugin-kit` only. See README.md.
 */
import type { BackendPlugin, PluginContext } from '@rustynet/plugin-api';
import { FastdBackend } from './backend.js';
import { FastdPlane } from './data-plane.js';

export { FastdBackend, CAPABILITIES } from './backend.js';
export { PROTOCOL } from './protocol.js';
export { PEER_KEY_PATTERN, SECRET_FILE, PUBLIC_KEY_FILE, peerFileName } from './key-format.js';
export { renderFastdConf, renderPeerFile, CIPHER_NAME, METHOD } from './fastd-config.js';

/** Creates one backend instance; touches nothing on the system until `start`. */
export function createPlugin(context: PluginContext): BackendPlugin {
  return new FastdBackend(context, new FastdPlane(context));
}
