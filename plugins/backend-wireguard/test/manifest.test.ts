import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { expect } from 'chai';
import { manifestSchema, type PluginManifest } from '@rustynet/plugin-api';
import { CAPABILITIES, PROTOCOL, WG_KEY_PATTERN, createPlugin } from '../src/index.js';
import { DEFAULT_OPTIONS } from '../src/options.js';
import { makeContext } from './support/context.js';
import { FakeRunner } from './support/fake-runner.js';
import { randomPublicKey } from './support/keys.js';

// dist/test/manifest.test.js -> package root
const manifestPath = fileURLToPath(new URL('../../rustynet-plugin.json', import.meta.url));
const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as PluginManifest;

describe('manifest', () => {
  const ajv = new Ajv({ strict: false });
  it('matches the plugin-api manifest schema', () => {
    const ok = ajv.validate(manifestSchema, manifest);
    expect(ok, JSON.stringify(ajv.errors)).to.equal(true);
    expect(manifest.entry).to.equal('./dist/src/index.js');
    expect(manifest.kind).to.equal('backend');
    expect(manifest.backend?.protocol).to.equal(PROTOCOL);
  });
  it('configSchema, as the loader applies it (ajv, defaults), refuses unknown or ill-typed options (CONFIG_INVALID)', () => {
    // The plugin no longer re-checks its options: the daemon's loader validates them against this
    // schema and throws CONFIG_INVALID (core/daemon/src/loader/load-plugin.ts).
    const validate = new Ajv({ strict: false, useDefaults: true }).compile(manifest.configSchema!);
    for (const bad of [
      { userspace: 'sometimes' },
      { colour: 'blue' },
      { exitNodeTable: 254 },
      { userspaceStartTimeoutMs: 99 },
      { wgPath: '' },
    ]) {
      expect(validate(structuredClone(bad)), JSON.stringify(bad)).to.equal(false);
    }
    const filled: Record<string, unknown> = {};
    expect(validate(filled)).to.equal(true);
    expect(filled).to.deep.equal(DEFAULT_OPTIONS);
  });
  it('claims exactly the run-time capabilities', () => {
    expect(manifest.capabilities).to.deep.equal(CAPABILITIES);
    expect(createPlugin(makeContext(new FakeRunner())).capabilities()).to.deep.equal(manifest.capabilities);
  });
  it('peerKeySchema accepts WireGuard keys and nothing else, like the code', () => {
    const schema = manifest.backend!.peerKeySchema;
    expect(schema.pattern).to.equal(WG_KEY_PATTERN.source);
    const validate = ajv.compile(schema);
    for (let i = 0; i < 50; i++) expect(validate(randomPublicKey())).to.equal(true);
    for (const bad of [
      '',
      'abc',
      `${randomPublicKey()}=`,
      randomPublicKey().replace('=', 'A'),
      `${randomPublicKey().slice(0, 42)}B=`,
      42,
    ]) {
      expect(validate(bad), String(bad)).to.equal(false);
    }
  });
  it('configSchema accepts the defaults and rejects unknown options', () => {
    const validate = ajv.compile(manifest.configSchema!);
    expect(validate({ ...DEFAULT_OPTIONS })).to.equal(true);
    expect(validate({})).to.equal(true);
    expect(validate({ userspace: 'maybe' })).to.equal(false);
    expect(validate({ extra: 1 })).to.equal(false);
  });
});
