/**
 * Manifest checks shared by the policy and dns suites (`<kind>.manifest.*`): the same checks the
 * backend suite makes, for a kind without a `backend` section.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { manifestSchema, type PluginKind, type PluginManifest } from '@rustynet/plugin-api';
import type { PluginHost } from '../../host/plugin-host-client.js';
import type { StepContext } from '../step-context.js';

/**
 * Asserts that the manifest in `dir` matches the manifest schema, has kind `kind`, declares every
 * capability in `capabilityKeys`, that `configSchema` compiles, the entry exists, and that name
 * and version equal `package.json`'s.
 */
export async function checkManifest(t: StepContext, dir: string, m: PluginManifest, kind: PluginKind, capabilityKeys: readonly string[]): Promise<void> {
  t.begin('read rustynet-plugin.json from the plugin directory');
  const raw = JSON.parse(await readFile(join(dir, 'rustynet-plugin.json'), 'utf8')) as unknown;
  t.begin('validate against the manifest schema');
  const ajv = new Ajv({ allErrors: true, strict: false });
  const validate = ajv.compile(manifestSchema);
  t.check(validate(raw), 'manifest does not match the schema', 'no schema errors', validate.errors);
  t.check(m.kind === kind, `manifest kind is not ${kind}`, kind, m.kind);
  if (m.configSchema) {
    t.begin('compile configSchema');
    try {
      new Ajv({ strict: false }).compile(m.configSchema);
    } catch (err) {
      t.fail('configSchema does not compile', 'a valid JSON Schema', (err as Error).message);
    }
  }
  t.begin('entry module exists');
  await t.ok(`stat ${m.entry}`, stat(join(dir, m.entry)));
  t.begin('package.json agrees');
  const pkgText = await readFile(join(dir, 'package.json'), 'utf8').catch(() => undefined);
  if (pkgText !== undefined) {
    const pkg = JSON.parse(pkgText) as { name?: string; version?: string };
    t.equal(m.name, pkg.name, 'manifest name differs from package.json name');
    t.equal(m.version, pkg.version, 'manifest version differs from package.json version');
  }
  t.begin(`every ${kind} capability is declared`);
  const missing = capabilityKeys.filter((k) => !(k in m.capabilities));
  t.check(missing.length === 0, `manifest does not declare every ${kind} capability`, capabilityKeys, { missing });
}

/** Asserts `capabilities()` of `plugin` equals the manifest's. */
export async function checkCapabilities(t: StepContext, plugin: PluginHost, m: PluginManifest, when: string): Promise<void> {
  t.begin(`call capabilities() on ${when}`);
  const caps = await t.ok('capabilities()', plugin.call<Record<string, unknown>>('capabilities'));
  t.equal(caps, m.capabilities, `run-time capabilities of ${when} differ from rustynet-plugin.json`);
}
