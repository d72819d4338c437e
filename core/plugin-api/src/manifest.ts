import type { BackendCapabilities, DnsCapabilities, PolicyCapabilities, RelayCapabilities } from './types/capabilities.js';

/** The four plugin kinds. */
export type PluginKind = 'backend' | 'policy' | 'dns' | 'relay';

/** Name of the manifest file at the root of every plugin package. */
export const MANIFEST_FILE = 'rustynet-plugin.json';

/** A JSON Schema (draft 2020-12) as a plain object. */
export type JsonSchema = Record<string, unknown>;

/**
 * The plugin manifest, `rustynet-plugin.json`, validated by {@link manifestSchema}.
 */
export interface PluginManifest {
  /** Package-style name, e.g. `@acme/backend-foo` or `backend-foo`. */
  name: string;
  /** Semantic version of the plugin. */
  version: string;
  /** Which contract the plugin implements: `backend`, `policy`, `dns` or `relay`. */
  kind: PluginKind;
  /** API versions (`MAJOR.MINOR`) the plugin implements. */
  apiVersions: string[];
  /** Path of the entry module relative to the manifest; it exports `createPlugin`. */
  entry: string;
  /** One line saying what the plugin does. */
  description?: string;
  /** Capabilities the plugin claims; must match what it reports at run time. */
  capabilities: Partial<BackendCapabilities & PolicyCapabilities & DnsCapabilities & RelayCapabilities>;
  /** JSON Schema for the plugin's options in the daemon config. */
  configSchema?: JsonSchema;
  /** Backend plugins only. */
  backend?: {
    /** Protocol id: the key under which nodes carry this backend's key material in the netmap. */
    protocol: string;
    /** JSON Schema of one peer's opaque key material (a string). */
    peerKeySchema: JsonSchema;
  };
}
