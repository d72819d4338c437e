import { join } from 'node:path';
import type { Clock, CommandRunner, Logger, PluginContext, PluginHooks } from '@rustynet/plugin-api';
import { FileStateStore } from '../services/state-store.js';
import { PrefixedMetrics, type HostMetrics } from '../services/metrics.js';

/** The host's services, as created by `createHostServices`. */
export interface HostServices {
  logger: Logger;
  runner: CommandRunner;
  metrics: HostMetrics;
  clock: Clock;
  /** Root state directory; the core's files live here, plugins' under `plugins/<name>`. */
  stateDir: string;
}

/** Directory-safe form of a plugin name: `@acme/backend-x` -> `acme__backend-x`. */
export function sanitizePluginName(name: string): string {
  return name
    .replace(/^@/, '')
    .replace(/\//g, '__')
    .replace(/[^A-Za-z0-9._-]/g, '_');
}

/** State directory of a plugin: `<stateDir>/plugins/<sanitized-name>`. */
export function pluginStateDir(stateDir: string, pluginName: string): string {
  return join(stateDir, 'plugins', sanitizePluginName(pluginName));
}

/** What one plugin is given besides the host services. */
export interface PluginGrant {
  name: string;
  /** The negotiated API version. */
  apiVersion: string;
  /** The plugin's validated options (frozen into the context). */
  options: Readonly<Record<string, unknown>>;
  /** The plugin's view of the daemon's hooks (taps carry its name). */
  hooks: PluginHooks;
}

/**
 * Builds a plugin's own context, and with it the plugin's whole view of the host: a logger bound
 * to the plugin name, the shared command runner and clock, the `rustynet_plugin_`-prefixed
 * metrics view, a state store in the plugin's own directory, its validated options and its
 * {@link PluginHooks} view. Nothing else is reachable from it: not the key store, not the core's
 * state store, not another plugin's context. The context and its options are frozen.
 */
export function createPluginContext(services: HostServices, plugin: PluginGrant): PluginContext {
  return Object.freeze({
    pluginName: plugin.name,
    apiVersion: plugin.apiVersion,
    options: Object.freeze({ ...plugin.options }),
    logger: services.logger.child({ plugin: plugin.name }),
    runner: services.runner,
    metrics: new PrefixedMetrics(services.metrics),
    clock: services.clock,
    state: new FileStateStore(pluginStateDir(services.stateDir, plugin.name)),
    hooks: plugin.hooks,
  });
}
