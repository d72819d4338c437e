/**
 * Manifest checks shared by every suite (`<kind>.manifest.*`): schema, kind, configSchema,
 * entry, package.json, declared capabilities, run-time capabilities. The backend suite adds its
 * `backend` section checks between these steps; the policy, dns and relay suites use
 * {@link checkManifest} and {@link checkCapabilities} as they are.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { manifestSchema, type PluginKind, type PluginManifest } from '@rustynet/plugin-api';
import type { PluginHost } from '../../host/plugin-host-client.js';
import type { StepContext } from '../step-context.js';

/** Reads `rustynet-plugin.json` from `dir` and asserts it matches the manifest schema. */
export async function checkManifestSchema(t: StepContext, dir: string): Promise<void> {
  t.begin('read rustynet-plugin.json from the plugin directory');
  const raw = JSON.parse(await readFile(join(dir, 'rustynet-plugin.json'), 'utf8')) as unknown;
  t.begin('validate against the manifest schema');
  const ajv = new Ajv({ allErrors: true, strict: false });
  const validate = ajv.compile(manifestSchema);
  t.check(validate(raw), 'manifest does not match the schema', 'no schema errors', validate.errors);
}

/** Asserts the manifest's kind is `kind` (within the current step). */
export function checkKind(t: StepContext, m: PluginManifest, kind: PluginKind): void {
  t.check(m.kind === kind, `manifest kind is not ${kind}`, kind, m.kind);
}

/**
 * Asserts that `schema` compiles as a JSON Schema (step `compile <what>`).
 * @param allErrors - the ajv `allErrors` option (it changes only the failure message).
 */
export function checkSchemaCompiles(t: StepContext, what: string, schema: Record<string, unknown>, allErrors: boolean): void {
  t.begin(`compile ${what}`);
  try {
    new Ajv({ ...(allErrors && { allErrors }), strict: false }).compile(schema);
  } catch (err) {
    t.fail(`${what} does not compile`, 'a valid JSON Schema', (err as Error).message);
  }
}

/** Asserts the manifest's entry module exists in `dir`. */
export async function checkEntry(t: StepContext, dir: string, m: PluginManifest): Promise<void> {
  t.begin('entry module exists');
  await t.ok(`stat ${m.entry}`, stat(join(dir, m.entry)));
}

/** Asserts name and version equal `package.json`'s in `dir` (when there is one). */
export async function checkPackageJson(t: StepContext, dir: string, m: PluginManifest): Promise<void> {
  t.begin('package.json agrees');
  const pkgText = await readFile(join(dir, 'package.json'), 'utf8').catch(() => undefined);
  if (pkgText !== undefined) {
    const pkg = JSON.parse(pkgText) as { name?: string; version?: string };
    t.equal(m.name, pkg.name, 'manifest name differs from package.json name');
    t.equal(m.version, pkg.version, 'manifest version differs from package.json version');
  }
}

/** Asserts the manifest declares every capability in `capabilityKeys`. */
export function checkCapabilityKeys(t: StepContext, m: PluginManifest, kind: PluginKind, capabilityKeys: readonly string[]): void {
  t.begin(`every ${kind} capability is declared`);
  const missing = capabilityKeys.filter((k) => !(k in m.capabilities));
  t.check(missing.length === 0, `manifest does not declare every ${kind} capability`, capabilityKeys, { missing });
}

/**
 * Asserts that the manifest in `dir` matches the manifest schema, has kind `kind`, declares every
 * capability in `capabilityKeys`, that `configSchema` compiles, the entry exists, and that name
 * and version equal `package.json`'s.
 */
export async function checkManifest(
  t: StepContext,
  dir: string,
  m: PluginManifest,
  kind: PluginKind,
  capabilityKeys: readonly string[],
): Promise<void> {
  await checkManifestSchema(t, dir);
  checkKind(t, m, kind);
  if (m.configSchema) checkSchemaCompiles(t, 'configSchema', m.configSchema, false);
  await checkEntry(t, dir, m);
  await checkPackageJson(t, dir, m);
  checkCapabilityKeys(t, m, kind, capabilityKeys);
}

/** Asserts `capabilities()` of `plugin` equals the manifest's. */
export async function checkCapabilities(t: StepContext, plugin: PluginHost, m: PluginManifest, when: string): Promise<void> {
  t.begin(`call capabilities() on ${when}`);
  const caps = await t.ok('capabilities()', plugin.call<Record<string, unknown>>('capabilities'));
  t.equal(caps, m.capabilities, `run-time capabilities of ${when} differ from rustynet-plugin.json`);
}
