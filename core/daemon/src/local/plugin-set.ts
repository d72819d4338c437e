import {
  RustynetError,
  type BackendPlugin,
  type Counter,
  type DnsPlugin,
  type JsonSchema,
  type PolicyPlugin,
  type RelayPlugin,
} from '@rustynet/plugin-api';
import type { DaemonConfig } from '../config/schema.js';
import type { HostServices } from '../container/containers.js';
import type { DaemonHooks } from '../hooks/daemon-hooks.js';
import { loadPlugin, type LoadedPlugin } from '../loader/load-plugin.js';
import type { RouteCapabilities } from '../reconciler/desired-state.js';
import { instrumentBackend } from '../services/instrument.js';
import type { PluginInfo } from './status-types.js';

/** A loaded plugin and its instance, typed by kind. */
export interface KindPlugin<P> {
  loaded: LoadedPlugin;
  instance: P;
}

/** What a backend claims for path switching (both are needed to relay a peer). */
export interface SwitchCapabilities {
  udpTransport: boolean;
  roaming: boolean;
}

/** The capabilities a plugin reports at run time, else (when the report throws) its manifest's claim. */
function capabilitiesOf(p: LoadedPlugin): Partial<Record<string, unknown>> {
  try {
    return { ...p.manifest.capabilities, ...p.instance.capabilities() };
  } catch {
    return { ...p.manifest.capabilities };
  }
}

/** The backend's route-relevant capabilities (absent = not stated). */
function routeCapabilities(caps: Partial<Record<string, unknown>>): RouteCapabilities {
  const out: RouteCapabilities = {};
  for (const k of ['exitNode', 'lanRoutes', 'ipv6', 'routesByAllowedIps'] as const) {
    const v = caps[k];
    if (typeof v === 'boolean') out[k] = v;
  }
  return out;
}

/** Options of {@link PluginSet.load}. */
export interface PluginSetOptions {
  services: HostServices;
  hooks: DaemonHooks;
  /** Where package-name specs are resolved from (default `process.cwd()`). */
  cwd?: string;
  /** Counts backend calls (`rustynet_backend_calls_total`); the backend is wrapped with it. */
  backendCalls: Counter;
}

/**
 * The daemon's plugins, one per kind: the backend (required, wrapped to count its calls) and at
 * most one policy, DNS and relay plugin. The backend's protocol, key schema and capabilities are
 * read once, at load.
 */
export class PluginSet {
  private constructor(
    readonly backend: KindPlugin<BackendPlugin>,
    readonly policy: KindPlugin<PolicyPlugin> | undefined,
    readonly dns: KindPlugin<DnsPlugin> | undefined,
    readonly relay: KindPlugin<RelayPlugin> | undefined,
    /** The backend's protocol id (`manifest.backend.protocol`): the netmap key it uses. */
    readonly protocol: string,
    /** The backend's `peerKeySchema` (validates peers' opaque key material). */
    readonly peerKeySchema: JsonSchema,
    /** The backend's route-relevant capabilities, as at load. */
    readonly routeCaps: RouteCapabilities,
    /** The backend's path-switching prerequisites, as at load. */
    readonly switchCaps: SwitchCapabilities,
  ) {}

  /**
   * Loads the backend (`config.backend`), then each entry of `config.plugins` through the loader.
   * @throws RustynetError `MANIFEST_INVALID` (backend section missing), `CONFIG_INVALID` (a second
   *   plugin of a kind; a relay plugin without `identityKeyFile`), any loader error.
   */
  static async load(cfg: DaemonConfig, opts: PluginSetOptions): Promise<PluginSet> {
    const common = { services: opts.services, hooks: opts.hooks, ...(opts.cwd !== undefined && { cwd: opts.cwd }) };
    const loadedBackend = await loadPlugin(cfg.backend.plugin, { ...common, expectKind: 'backend', options: cfg.backend.options ?? {} });
    const section = loadedBackend.manifest.backend;
    if (!section)
      throw new RustynetError('MANIFEST_INVALID', `plugin ${loadedBackend.manifest.name}: backend section missing`, { field: 'backend' });
    const backend = { loaded: loadedBackend, instance: instrumentBackend(loadedBackend.instance as BackendPlugin, opts.backendCalls) };
    const caps = capabilitiesOf(loadedBackend);
    const byKind: { policy?: KindPlugin<PolicyPlugin>; dns?: KindPlugin<DnsPlugin>; relay?: KindPlugin<RelayPlugin> } = {};
    for (const [i, entry] of (cfg.plugins ?? []).entries()) {
      const loaded = await loadPlugin(entry.plugin, { ...common, options: entry.options ?? {} });
      const kind = loaded.manifest.kind;
      if (kind === 'backend' || byKind[kind] !== undefined) {
        throw new RustynetError(
          'CONFIG_INVALID',
          `plugins[${i}]: ${loaded.manifest.name} is a second ${kind} plugin; one of each kind is allowed (backend in "backend")`,
          {
            field: `plugins[${i}].plugin`,
          },
        );
      }
      if (kind === 'policy') byKind.policy = { loaded, instance: loaded.instance as PolicyPlugin };
      else if (kind === 'dns') byKind.dns = { loaded, instance: loaded.instance as DnsPlugin };
      else byKind.relay = { loaded, instance: loaded.instance as RelayPlugin };
    }
    if (byKind.relay && cfg.identityKeyFile === undefined) {
      throw new RustynetError(
        'CONFIG_INVALID',
        `relay plugin ${byKind.relay.loaded.manifest.name} needs identityKeyFile (it signs relay challenges)`,
        {
          field: 'identityKeyFile',
        },
      );
    }
    return new PluginSet(
      backend,
      byKind.policy,
      byKind.dns,
      byKind.relay,
      section.protocol,
      section.peerKeySchema,
      routeCapabilities(caps),
      {
        udpTransport: caps.udpTransport === true,
        roaming: caps.roaming === true,
      },
    );
  }

  /** Loaded plugins, backend first, then policy, DNS, relay. */
  get all(): LoadedPlugin[] {
    return [this.backend.loaded, this.policy?.loaded, this.dns?.loaded, this.relay?.loaded].filter(
      (p): p is LoadedPlugin => p !== undefined,
    );
  }

  /** The DNS plugin's `port` option (default 53). */
  get dnsPort(): number {
    const port = this.dns?.loaded.context.options.port;
    return typeof port === 'number' ? port : 53;
  }

  /** Loaded plugins with their run-time capabilities (asked anew each call). */
  infos(): PluginInfo[] {
    return this.all.map((p) => {
      let capabilities: Record<string, unknown>;
      try {
        capabilities = { ...p.instance.capabilities() };
      } catch {
        capabilities = { ...p.manifest.capabilities };
      }
      return { name: p.manifest.name, version: p.manifest.version, kind: p.manifest.kind, apiVersion: p.apiVersion, capabilities };
    });
  }
}
