import type { PluginContext } from '../context.js';
import type { PluginKind } from '../manifest.js';
import type { BackendPlugin } from './backend.js';
import type { DnsPlugin } from './dns.js';
import type { PolicyPlugin } from './policy.js';
import type { RelayPlugin } from './relay.js';

/** Any plugin instance. Discriminate on `kind`. */
export type Plugin = BackendPlugin | PolicyPlugin | DnsPlugin | RelayPlugin;

/** Maps a kind to its plugin interface. */
export interface PluginByKind {
  /** A backend plugin. */
  backend: BackendPlugin;
  /** A policy plugin. */
  policy: PolicyPlugin;
  /** A DNS plugin. */
  dns: DnsPlugin;
  /** A relay client plugin. */
  relay: RelayPlugin;
}

/**
 * What a plugin's entry module (the manifest's `entry`) must export.
 *
 * `createPlugin` is called once per instance with a fresh context. It must not touch the
 * system (no devices, processes or sockets): that happens in `start`.
 */
export interface PluginModule<K extends PluginKind = PluginKind> {
  /** Creates one plugin instance for `context`; called once per instance the host needs. */
  createPlugin(context: PluginContext): PluginByKind[K] | Promise<PluginByKind[K]>;
}
