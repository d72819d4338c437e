import { expect } from 'chai';
import { mkdirSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isRustynetError, type BackendPlugin } from '@rustynet/plugin-api';
import { loadPlugin, readManifest } from '../src/index.js';
import { DaemonHooks } from '../src/hooks/daemon-hooks.js';
import { FAKE_BACKEND_SOURCE, fakeBackendManifest, testServices, tmpDir, writePluginFixture } from './helpers.js';

async function expectError(
  p: Promise<unknown>,
  code: string,
  ...fragments: string[]
): Promise<Error & { code: string; field?: string; plugin?: string }> {
  try {
    await p;
  } catch (err) {
    expect(isRustynetError(err), String(err)).to.equal(true);
    const e = err as Error & { code: string; field?: string; plugin?: string };
    expect(e.code, e.message).to.equal(code);
    for (const f of fragments) expect(e.message).to.include(f);
    return e;
  }
  return expect.fail(`expected ${code}`);
}

describe('plugin loader', () => {
  const services = testServices();

  it('PLUGIN_NOT_FOUND for a missing path and a missing package', async () => {
    await expectError(loadPlugin('./does-not-exist', { services, cwd: tmpDir() }), 'PLUGIN_NOT_FOUND', 'does-not-exist');
    await expectError(loadPlugin('@nobody/no-such-plugin', { services, cwd: tmpDir() }), 'PLUGIN_NOT_FOUND', '@nobody/no-such-plugin');
    const empty = tmpDir();
    await expectError(loadPlugin(empty, { services }), 'PLUGIN_NOT_FOUND', 'rustynet-plugin.json');
  });

  it('MANIFEST_INVALID names the manifest path and the field', async () => {
    const dir = writePluginFixture(join(tmpDir(), 'bad'), fakeBackendManifest({ apiVersions: ['one'] }), FAKE_BACKEND_SOURCE);
    const e = await expectError(
      readManifest(dir),
      'MANIFEST_INVALID',
      `${dir}/rustynet-plugin.json`,
      'apiVersions[0]: does not have the required form',
    );
    expect(e.field).to.equal('apiVersions[0]');
    const dir2 = writePluginFixture(join(tmpDir(), 'bad2'), { ...fakeBackendManifest(), entry: undefined }, FAKE_BACKEND_SOURCE);
    const e2 = await expectError(readManifest(dir2), 'MANIFEST_INVALID', 'entry: is required but missing');
    expect(e2.field).to.equal('entry');
    const dir3 = writePluginFixture(join(tmpDir(), 'bad3'), '{ not json', FAKE_BACKEND_SOURCE);
    await expectError(readManifest(dir3), 'MANIFEST_INVALID', 'not valid JSON');
    const dir4 = writePluginFixture(join(tmpDir(), 'bad4'), fakeBackendManifest({ backend: undefined }), FAKE_BACKEND_SOURCE);
    await expectError(readManifest(dir4), 'MANIFEST_INVALID', 'backend');
    const dir5 = writePluginFixture(join(tmpDir(), 'bad5'), fakeBackendManifest({ entry: './../../etc/x.mjs' }), FAKE_BACKEND_SOURCE);
    await expectError(readManifest(dir5), 'MANIFEST_INVALID', '/entry');
  });

  it('MANIFEST_INVALID names capabilities.sessionReestablishSeconds beyond its maximum of 60 s', async () => {
    const manifest = fakeBackendManifest();
    const m = { ...manifest, capabilities: { ...(manifest as { capabilities: object }).capabilities, sessionReestablishSeconds: 61 } };
    const dir = writePluginFixture(join(tmpDir(), 'slow'), m, FAKE_BACKEND_SOURCE);
    const e = await expectError(
      readManifest(dir),
      'MANIFEST_INVALID',
      `${dir}/rustynet-plugin.json`,
      'capabilities.sessionReestablishSeconds',
      '60',
    );
    expect(e.field).to.equal('capabilities.sessionReestablishSeconds');
  });

  it('MANIFEST_INVALID lists every schema error, in words', async () => {
    const manifest = fakeBackendManifest({ kind: 'tunnel', version: 7, extra: true });
    const dir = writePluginFixture(join(tmpDir(), 'many'), manifest, FAKE_BACKEND_SOURCE);
    const e = await expectError(
      readManifest(dir),
      'MANIFEST_INVALID',
      'problems: ',
      'kind: must be one of ',
      'version: must be a string',
      'extra: is not a known field',
    );
    const errors = ((e as { details?: Record<string, unknown> }).details?.['errors'] ?? []) as { field: string; message: string }[];
    expect(errors.map((x) => x.field)).to.include.members(['kind', 'version', 'extra']);
    expect(e.message).to.not.match(/must have required property|must match pattern/);
  });

  it('API_VERSION_MISMATCH names both version lists', async () => {
    const dir = writePluginFixture(join(tmpDir(), 'api'), fakeBackendManifest({ apiVersions: ['2.0', '3.1'] }), FAKE_BACKEND_SOURCE);
    const e = await expectError(loadPlugin(dir, { services }), 'API_VERSION_MISMATCH', '[2.0, 3.1]', '[1.0]', 'fake-backend');
    expect(e.plugin).to.equal('fake-backend');
  });

  it('picks the highest common API version', async () => {
    const dir = writePluginFixture(
      join(tmpDir(), 'multi'),
      fakeBackendManifest({ apiVersions: ['0.9', '1.0', '1.1'] }),
      FAKE_BACKEND_SOURCE,
    );
    const p = await loadPlugin(dir, { services, hostApiVersions: ['0.9', '1.0'] });
    expect(p.apiVersion).to.equal('1.0');
  });

  it('PLUGIN_LOAD_FAILED when createPlugin is missing, the entry throws, or the kind differs', async () => {
    const d1 = writePluginFixture(join(tmpDir(), 'nocreate'), fakeBackendManifest(), 'export const x = 1;\n');
    await expectError(loadPlugin(d1, { services }), 'PLUGIN_LOAD_FAILED', 'createPlugin');
    const d2 = writePluginFixture(join(tmpDir(), 'throws'), fakeBackendManifest(), 'throw new Error("boom at import");\n');
    await expectError(loadPlugin(d2, { services }), 'PLUGIN_LOAD_FAILED', 'boom at import');
    const d3 = writePluginFixture(
      join(tmpDir(), 'kind'),
      fakeBackendManifest(),
      'export function createPlugin() { return { kind: "dns" }; }\n',
    );
    await expectError(loadPlugin(d3, { services }), 'PLUGIN_LOAD_FAILED', 'kind');
    const d4 = writePluginFixture(join(tmpDir(), 'missing-entry'), fakeBackendManifest({ entry: './nope.mjs' }));
    await expectError(loadPlugin(d4, { services }), 'PLUGIN_LOAD_FAILED', 'nope.mjs');
    const d5 = writePluginFixture(join(tmpDir(), 'expect'), fakeBackendManifest(), FAKE_BACKEND_SOURCE);
    await expectError(loadPlugin(d5, { services, expectKind: 'policy' }), 'PLUGIN_LOAD_FAILED', 'policy');
  });

  it('CONFIG_INVALID names the plugin and the option', async () => {
    const dir = writePluginFixture(join(tmpDir(), 'opts'), fakeBackendManifest(), FAKE_BACKEND_SOURCE);
    const e = await expectError(
      loadPlugin(dir, { services, options: { label: 5 } }),
      'CONFIG_INVALID',
      'fake-backend',
      '/label must be string',
    );
    expect(e.field).to.equal('options.label');
    await expectError(loadPlugin(dir, { services, options: { other: true } }), 'CONFIG_INVALID', 'other');
  });

  it('loads a good plugin with its own context (child container)', async () => {
    const stateDir = tmpDir();
    const svc = testServices(stateDir);
    const hooks = new DaemonHooks();
    const dir = writePluginFixture(join(tmpDir(), 'good'), fakeBackendManifest({ name: '@acme/fake-backend' }), FAKE_BACKEND_SOURCE);
    const p = await loadPlugin(dir, { services: svc, hooks, expectKind: 'backend' });
    expect(p.manifest.name).to.equal('@acme/fake-backend');
    expect(p.apiVersion).to.equal('1.0');
    expect(p.dir).to.equal(dir);
    expect((p.instance as BackendPlugin).capabilities().maxPeers).to.equal(10000);
    expect(p.context.pluginName).to.equal('@acme/fake-backend');
    expect(p.context.options).to.deep.equal({ label: 'fake' });
    expect(p.context.state.dir).to.equal(join(stateDir, 'plugins', 'acme__fake-backend'));
    await p.context.state.write('k', { a: 1 });
    expect(statSync(p.context.state.dir).mode & 0o777).to.equal(0o700);
    expect(statSync(join(p.context.state.dir, 'k.json')).mode & 0o777).to.equal(0o600);
    expect(hooks.applied.taps.map((t) => t.name)).to.deep.equal(['@acme/fake-backend/count']);
    expect(Object.keys(p.context).sort()).to.deep.equal([
      'apiVersion',
      'clock',
      'hooks',
      'logger',
      'metrics',
      'options',
      'pluginName',
      'runner',
      'state',
    ]);
    await hooks.runApplied({ netmapVersion: 1, peersUpserted: 0, peersRemoved: 0, routesAdded: 0, routesRemoved: 0, durationMs: 1 });
    const text = await svc.metrics.registry.metrics();
    expect(text).to.include('rustynet_plugin_fake_applied_total 1');
  });

  it('resolves a plugin by package name from cwd', async () => {
    const root = tmpDir();
    const pkgDir = join(root, 'node_modules', '@acme', 'backend-pkg');
    mkdirSync(pkgDir, { recursive: true });
    writeFileSync(join(pkgDir, 'package.json'), JSON.stringify({ name: '@acme/backend-pkg', version: '1.0.0', type: 'module' }));
    writePluginFixture(pkgDir, fakeBackendManifest({ name: '@acme/backend-pkg' }), FAKE_BACKEND_SOURCE);
    const p = await loadPlugin('@acme/backend-pkg', { services, cwd: root });
    expect(p.dir).to.equal(pkgDir);
  });
});
