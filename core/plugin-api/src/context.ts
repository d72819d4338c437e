import type { PluginHooks } from './hooks.js';
import type { Clock } from './services/clock.js';
import type { CommandRunner } from './services/command-runner.js';
import type { Logger } from './services/logger.js';
import type { Metrics } from './services/metrics.js';
import type { StateStore } from './services/state-store.js';

/**
 * What a plugin is given when it is created. The host builds it from a child DI container per
 * plugin: a plugin sees these services and nothing else of the host.
 */
export interface PluginContext {
  /** The plugin's manifest name. */
  readonly pluginName: string;
  /** The API version negotiated with the host. */
  readonly apiVersion: string;
  /** The plugin's options from the host config, already validated against `configSchema`. */
  readonly options: Readonly<Record<string, unknown>>;
  /** A structured logger already bound to the plugin's name; never log key material. */
  readonly logger: Logger;
  /** Runs external programs (argument arrays, never a shell); the only way a plugin may start a process. */
  readonly runner: CommandRunner;
  /** Prometheus-style metrics registry; names are prefixed by the host. */
  readonly metrics: Metrics;
  /** The clock to read time and sleep by (tests may substitute a fake one). */
  readonly clock: Clock;
  /** A store and directory private to this plugin. */
  readonly state: StateStore;
  /** The daemon's named hooks; tap them with a name (see {@link PluginHooks}). */
  readonly hooks: PluginHooks;
}
