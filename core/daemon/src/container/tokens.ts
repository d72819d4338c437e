import 'reflect-metadata';
import type { InjectionToken } from 'tsyringe';
import type { Clock, CommandRunner, Logger, Metrics, PluginContext, PluginHooks, StateStore } from '@rustynet/plugin-api';
import type { HostMetrics } from '../services/metrics.js';
import type { KeyStore } from '../services/key-store.js';

/** DI tokens (tsyringe) of the daemon's services and of a plugin's context services. */
export const TOKENS = {
  /** Logger (pino, redacting). In a plugin container: the child logger bound to the plugin. */
  Logger: Symbol.for('rustynet.Logger') as InjectionToken<Logger>,
  /** Host metrics (prom-client). In a plugin container: the `rustynet_plugin_` prefixed view. */
  Metrics: Symbol.for('rustynet.Metrics') as InjectionToken<Metrics | HostMetrics>,
  CommandRunner: Symbol.for('rustynet.CommandRunner') as InjectionToken<CommandRunner>,
  Clock: Symbol.for('rustynet.Clock') as InjectionToken<Clock>,
  /** The core's own state store (root) or the plugin's private store (plugin container). */
  StateStore: Symbol.for('rustynet.StateStore') as InjectionToken<StateStore>,
  /** Identity key holder; registered in the root container only, never in a plugin's. */
  KeyStore: Symbol.for('rustynet.KeyStore') as InjectionToken<KeyStore>,
  /** Root state directory (root container only). */
  StateDir: Symbol.for('rustynet.StateDir') as InjectionToken<string>,
  /** Plugin container: the plugin's manifest name. */
  PluginName: Symbol.for('rustynet.PluginName') as InjectionToken<string>,
  /** Plugin container: negotiated API version. */
  ApiVersion: Symbol.for('rustynet.ApiVersion') as InjectionToken<string>,
  /** Plugin container: validated options. */
  PluginOptions: Symbol.for('rustynet.PluginOptions') as InjectionToken<Readonly<Record<string, unknown>>>,
  /** Plugin container: the {@link PluginHooks} view. */
  PluginHooks: Symbol.for('rustynet.PluginHooks') as InjectionToken<PluginHooks>,
  /** Plugin container: the assembled {@link PluginContext}. */
  PluginContext: Symbol.for('rustynet.PluginContext') as InjectionToken<PluginContext>,
} as const;
