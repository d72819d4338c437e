/**
 * @packageDocumentation
 * `@rustynet-example/backend-tinc`: a daemon-style Rustynet backend driving tinc 1.0 (one
 * `tincd` per node, reloaded with SIGHUP), written the way a third party would, against the
 * published `@rustynet/plugin-api` and `@rustynet/plugin-kit` only. See README.md.
 */
import type { BackendPlugin, PluginContext } from '@rustynet/plugin-api';
import { TincBackend } from './backend.js';
import { TincPlane } from './data-plane.js';

export { TincBackend, CAPABILITIES } from './backend.js';
export { PROTOCOL } from './protocol.js';
export { PEER_KEY_PATTERN, PRIVATE_KEY_FILE, PUBLIC_KEY_FILE, tincName, pemToPeerKey, peerKeyToPem } from './key-format.js';
export { renderTincConf, renderPeerHost, renderSelfHost, CIPHER_NAME } from './tinc-config.js';
export { connectionStates } from './daemon.js';

/** Creates one backend instance; touches nothing on the system until `start`. */
export function createPlugin(context: PluginContext): BackendPlugin {
  return new TincBackend(context, new TincPlane(context));
}
