import 'reflect-metadata';
import { join } from 'node:path';
import { container as globalContainer, instanceCachingFactory, type DependencyContainer } from 'tsyringe';
import type { Clock, CommandRunner, Logger, PluginContext, PluginHooks, StateStore } from '@rustynet/plugin-api';
import { PrefixedMetrics } from '../services/metrics.js';
import { FileStateStore } from '../services/state-store.js';
import { KeyStore } from '../services/key-store.js';
import type { HostMetrics } from '../services/metrics.js';
import { TOKENS } from './tokens.js';

/** The host's services, as created by `createHostServices`. */
export interface HostServices {
  logger: Logger;
  runner: CommandRunner;
  metrics: HostMetrics;
  clock: Clock;
  /** Root state directory; the core's files live here, plugins' under `plugins/<name>`. */
  stateDir: string;
}

const roots = new WeakMap<HostServices, DependencyContainer>();

/**
 * The root DI container of a {@link HostServices} (created once per services object, as a child
 * of tsyringe's global container so nothing global is modified).
 */
export function rootContainer(services: HostServices): DependencyContainer {
  let root = roots.get(services);
  if (root) return root;
  root = globalContainer.createChildContainer();
  root.register(TOKENS.Logger, { useValue: services.logger });
  root.register(TOKENS.CommandRunner, { useValue: services.runner });
  root.register(TOKENS.Metrics, { useValue: services.metrics });
  root.register(TOKENS.Clock, { useValue: services.clock });
  root.register(TOKENS.StateDir, { useValue: services.stateDir });
  root.register(TOKENS.StateStore, { useValue: new FileStateStore(join(services.stateDir, 'daemon')) });
  root.register(TOKENS.KeyStore, { useValue: new KeyStore() });
  roots.set(services, root);
  return root;
}

/** Directory-safe form of a plugin name: `@acme/backend-x` -> `acme__backend-x`. */
export function sanitizePluginName(name: string): string {
  return name.replace(/^@/, '').replace(/\//g, '__').replace(/[^A-Za-z0-9._-]/g, '_');
}

/** State directory of a plugin: `<stateDir>/plugins/<sanitized-name>`. */
export function pluginStateDir(stateDir: string, pluginName: string): string {
  return join(stateDir, 'plugins', sanitizePluginName(pluginName));
}

/**
 * Builds a plugin's own child container. It holds only the plugin's context services: a logger
 * bound to the plugin name, the shared command runner and clock, the `rustynet_plugin_`-prefixed
 * metrics view, a state store in the plugin's own directory, its validated options and its
 * {@link PluginHooks} view. The key store and the root state store are shadowed, so resolving
 * them from the plugin container fails.
 */
export function createPluginContainer(
  services: HostServices,
  plugin: { name: string; apiVersion: string; options: Readonly<Record<string, unknown>>; hooks: PluginHooks },
): DependencyContainer {
  const root = rootContainer(services);
  const child = root.createChildContainer();
  const hostLogger = root.resolve(TOKENS.Logger);
  const hostMetrics = root.resolve(TOKENS.Metrics);
  child.register(TOKENS.PluginName, { useValue: plugin.name });
  child.register(TOKENS.ApiVersion, { useValue: plugin.apiVersion });
  child.register(TOKENS.PluginOptions, { useValue: Object.freeze({ ...plugin.options }) });
  child.register(TOKENS.PluginHooks, { useValue: plugin.hooks });
  child.register(TOKENS.Logger, { useValue: hostLogger.child({ plugin: plugin.name }) });
  child.register(TOKENS.Metrics, { useValue: new PrefixedMetrics(hostMetrics) });
  child.register(TOKENS.StateStore, { useValue: new FileStateStore(pluginStateDir(services.stateDir, plugin.name)) });
  child.register(TOKENS.KeyStore, {
    useFactory: () => {
      throw new Error('the key store is not available to plugins');
    },
  });
  child.register(TOKENS.PluginContext, {
    useFactory: instanceCachingFactory<PluginContext>((c) =>
      Object.freeze({
        pluginName: c.resolve(TOKENS.PluginName),
        apiVersion: c.resolve(TOKENS.ApiVersion),
        options: c.resolve(TOKENS.PluginOptions),
        logger: c.resolve(TOKENS.Logger),
        runner: c.resolve(TOKENS.CommandRunner),
        metrics: c.resolve(TOKENS.Metrics),
        clock: c.resolve(TOKENS.Clock),
        state: c.resolve(TOKENS.StateStore) as StateStore,
        hooks: c.resolve(TOKENS.PluginHooks),
      }),
    ),
  });
  return child;
}
