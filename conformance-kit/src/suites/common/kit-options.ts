/**
 * Suite-provided plugin options ("kit options"). Some tests need a plugin configured in a way
 * the default options do not give (a short keepalive, a TTL, a forwarder address). The kit sets
 * such an option only under a **standard name** listed in docs/conformance.md ("Kit options"),
 * and only when the plugin's manifest `configSchema` declares a top-level property of that name;
 * the loader validates the value against the schema like any other option. A plugin without the
 * property gets the test SKIPPED with the reason {@link kitOptionSkip} returns, never passed.
 */
import type { PluginManifest } from '@rustynet/plugin-api';

/** Whether the manifest's `configSchema` declares the top-level option `name`. */
export function declaresOption(manifest: PluginManifest, name: string): boolean {
  const schema: unknown = manifest.configSchema;
  if (typeof schema !== 'object' || schema === null) return false;
  const props: unknown = Reflect.get(schema, 'properties');
  return typeof props === 'object' && props !== null && Object.prototype.hasOwnProperty.call(props, name);
}

/**
 * Skip reason when the plugin cannot take the kit options `names` (not declared in its
 * `configSchema`), else undefined.
 */
export function kitOptionSkip(manifest: PluginManifest, names: readonly string[]): string | undefined {
  const missing = names.filter((n) => !declaresOption(manifest, n));
  return missing.length === 0
    ? undefined
    : `the plugin's configSchema declares no ${missing.map((n) => `\`${n}\``).join(', ')}: the kit cannot set this standard kit option (docs/conformance.md, Kit options)`;
}
