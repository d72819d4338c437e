import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  RustynetError,
  SUPPORTED_API_VERSIONS,
  negotiateApiVersion,
  type Plugin,
  type PluginContext,
  type PluginKind,
  type PluginManifest,
} from '@rustynet/plugin-api';
import { createPluginContext, type HostServices } from '../container/containers.js';
import { DaemonHooks } from '../hooks/daemon-hooks.js';
import { createAjv, errorField, formatAjvErrors } from '../util/ajv.js';
import { readManifest } from './manifest.js';

/** A plugin loaded, validated and constructed (not started). */
export interface LoadedPlugin {
  manifest: PluginManifest;
  /** The negotiated API version. */
  apiVersion: string;
  /** The plugin's directory (holding `rustynet-plugin.json`). */
  dir: string;
  instance: Plugin;
  context: PluginContext;
}

/** Options of {@link loadPlugin}. */
export interface LoadPluginOptions {
  services: HostServices;
  /** The plugin's options; validated against the manifest's `configSchema` (defaults applied). */
  options?: Record<string, unknown>;
  /** Where package names are resolved from (default `process.cwd()`). */
  cwd?: string;
  /** Refuse a plugin of another kind. */
  expectKind?: PluginKind;
  /** The daemon's hooks; a standalone {@link DaemonHooks} is created when absent. */
  hooks?: DaemonHooks;
  /** API versions the host serves (default `SUPPORTED_API_VERSIONS`). */
  hostApiVersions?: readonly string[];
}

/**
 * Validates `options` against a plugin's `configSchema` (ajv, formats, defaults filled in).
 * @returns a validated copy.
 * @throws RustynetError `CONFIG_INVALID` naming the plugin and the field (`options.<field>`).
 */
export function validatePluginOptions(manifest: PluginManifest, options: Record<string, unknown> | undefined): Record<string, unknown> {
  const copy = structuredClone<Record<string, unknown>>(options ?? {});
  if (!manifest.configSchema) return copy;
  let validate;
  try {
    validate = createAjv({ useDefaults: true }).compile(manifest.configSchema);
  } catch (err) {
    throw new RustynetError('MANIFEST_INVALID', `plugin ${manifest.name}: configSchema does not compile: ${(err as Error).message}`, {
      plugin: manifest.name,
      field: 'configSchema',
      cause: err,
    });
  }
  if (!validate(copy)) {
    const first = validate.errors?.[0];
    throw new RustynetError('CONFIG_INVALID', `plugin ${manifest.name}: options ${formatAjvErrors(validate.errors)}`, {
      plugin: manifest.name,
      ...(first && { field: errorField(first, 'options') }),
    });
  }
  return copy;
}

/**
 * Loads a plugin: resolve (package name or path) -> read + validate `rustynet-plugin.json` ->
 * negotiate the API version -> validate options -> `import()` the entry -> `createPlugin(context)`
 * with a context built for the plugin alone (`createPluginContext`).
 *
 * @throws RustynetError `PLUGIN_NOT_FOUND`, `MANIFEST_INVALID`, `API_VERSION_MISMATCH` (both
 *   version lists in the message), `CONFIG_INVALID`, `PLUGIN_LOAD_FAILED` (entry fails to import,
 *   lacks `createPlugin`, `createPlugin` throws, wrong kind).
 */
export async function loadPlugin(spec: string, opts: LoadPluginOptions): Promise<LoadedPlugin> {
  const { manifest, dir } = await readManifest(spec, opts.cwd);
  const where = `plugin ${manifest.name} (${dir})`;
  if (opts.expectKind !== undefined && manifest.kind !== opts.expectKind) {
    throw new RustynetError('PLUGIN_LOAD_FAILED', `${where} is a ${manifest.kind} plugin; a ${opts.expectKind} plugin is required here`, {
      plugin: manifest.name,
      field: 'kind',
    });
  }
  const hostVersions = opts.hostApiVersions ?? SUPPORTED_API_VERSIONS;
  const apiVersion = negotiateApiVersion(hostVersions, manifest.apiVersions);
  if (apiVersion === undefined) {
    throw new RustynetError(
      'API_VERSION_MISMATCH',
      `${where} implements API versions [${manifest.apiVersions.join(', ')}], this host supports [${hostVersions.join(', ')}]: none in common`,
      { plugin: manifest.name, field: 'apiVersions', details: { plugin: manifest.apiVersions, host: [...hostVersions] } },
    );
  }
  const options = validatePluginOptions(manifest, opts.options);

  const entryPath = join(dir, manifest.entry);
  let mod: { createPlugin?: unknown };
  try {
    mod = (await import(pathToFileURL(entryPath).href)) as { createPlugin?: unknown };
  } catch (err) {
    throw new RustynetError('PLUGIN_LOAD_FAILED', `${where}: entry ${entryPath} failed to load: ${(err as Error).message ?? String(err)}`, {
      plugin: manifest.name,
      cause: err,
    });
  }
  if (typeof mod.createPlugin !== 'function') {
    throw new RustynetError('PLUGIN_LOAD_FAILED', `${where}: entry ${entryPath} does not export a createPlugin function`, {
      plugin: manifest.name,
      field: 'createPlugin',
    });
  }

  const hooks = opts.hooks ?? new DaemonHooks({ logger: opts.services.logger });
  const context = createPluginContext(opts.services, { name: manifest.name, apiVersion, options, hooks: hooks.forPlugin(manifest.name) });
  let instance: Plugin;
  try {
    instance = await (mod.createPlugin as (c: PluginContext) => Plugin | Promise<Plugin>)(context);
  } catch (err) {
    throw new RustynetError('PLUGIN_LOAD_FAILED', `${where}: createPlugin threw: ${(err as Error).message ?? String(err)}`, {
      plugin: manifest.name,
      cause: err,
    });
  }
  if (typeof instance !== 'object' || instance === null || instance.kind !== manifest.kind) {
    throw new RustynetError(
      'PLUGIN_LOAD_FAILED',
      `${where}: createPlugin returned kind ${JSON.stringify((instance as { kind?: unknown } | null)?.kind)}, manifest says ${manifest.kind}`,
      { plugin: manifest.name, field: 'kind' },
    );
  }
  opts.services.logger.debug({ plugin: manifest.name, version: manifest.version, apiVersion, dir }, 'plugin loaded');
  return { manifest, apiVersion, dir, instance, context };
}
