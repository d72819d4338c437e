import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { isRustynetError, manifestSchema, type PluginManifest } from '@rustynet/plugin-api';
import { CERT_FILE, generateKeyPair, KEY_FILE, loadKeyPair } from '../src/keys.js';
import { CAPABILITIES, FINGERPRINT_PATTERN, PROTOCOL } from '../src/rules.js';
import { optionsSchema, resolveOptions } from '../src/options.js';
import { createPlugin } from '../src/index.js';
import { FakeRunner } from './support/fake-runner.js';
import { makeContext } from './support/context.js';

const pkgDir = fileURLToPath(new URL('../../', import.meta.url));
const manifest = JSON.parse(readFileSync(join(pkgDir, 'rustynet-plugin.json'), 'utf8')) as PluginManifest;

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return isRustynetError(err) ? err.code : `non-rustynet: ${String(err)}`;
  }
  return undefined;
}

describe('keys', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'rn-ovpn-keys-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes a 0600 EC key and a self-signed certificate; the fingerprint is what openssl computes', async () => {
    const kd = join(dir, 'k');
    const kp = await generateKeyPair(kd);
    expect(kp.files).to.deep.equal([join(kd, KEY_FILE), join(kd, CERT_FILE)]);
    expect(statSync(join(kd, KEY_FILE)).mode & 0o777).to.equal(0o600);
    expect(statSync(kd).mode & 0o777).to.equal(0o700);
    expect(kp.publicKey).to.match(new RegExp(FINGERPRINT_PATTERN));
    const openssl = execFileSync('openssl', ['x509', '-in', join(kd, CERT_FILE), '-noout', '-fingerprint', '-sha256'], {
      encoding: 'utf8',
    });
    expect(openssl.trim().split('=')[1]).to.equal(kp.publicKey);
    const text = execFileSync('openssl', ['x509', '-in', join(kd, CERT_FILE), '-noout', '-text'], { encoding: 'utf8' });
    expect(text).to.include('prime256v1');
    expect((await loadKeyPair(kd)).fingerprint).to.equal(kp.publicKey);
  });

  it('refuses to overwrite, and rejects group/world-readable, missing or mismatched keys with KEY_INVALID', async () => {
    const kd = join(dir, 'k');
    await generateKeyPair(kd);
    expect(await codeOf(generateKeyPair(kd))).to.equal('KEY_INVALID');
    chmodSync(join(kd, KEY_FILE), 0o644);
    expect(await codeOf(loadKeyPair(kd))).to.equal('KEY_INVALID');
    chmodSync(join(kd, KEY_FILE), 0o600);
    expect(await codeOf(loadKeyPair(join(dir, 'missing')))).to.equal('KEY_INVALID');
    const other = join(dir, 'o');
    await generateKeyPair(other);
    copyFileSync(join(other, CERT_FILE), join(kd, CERT_FILE));
    expect(await codeOf(loadKeyPair(kd))).to.equal('KEY_INVALID');
  });

  it('publicKey() works without start', async () => {
    const plugin = createPlugin(makeContext({ runner: new FakeRunner(), stateDir: join(dir, 's') }));
    const kp = await plugin.generateKeyPair(join(dir, 'k'));
    expect(await plugin.publicKey(join(dir, 'k'))).to.equal(kp.publicKey);
  });
});

describe('manifest', () => {
  it('validates against the plugin-api manifest schema', () => {
    const ajv = new Ajv({ strict: false });
    const ok = ajv.validate(manifestSchema, manifest);
    expect(ok, JSON.stringify(ajv.errors)).to.equal(true);
    expect(manifest['entry']).to.equal('./dist/src/index.js');
  });

  it('declares exactly the capabilities reported at run time', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rn-ovpn-m-'));
    try {
      const plugin = createPlugin(makeContext({ runner: new FakeRunner(), stateDir: dir }));
      expect(plugin.capabilities()).to.deep.equal(manifest['capabilities']);
      expect(plugin.capabilities()).to.deep.equal(CAPABILITIES);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('carries the options schema and a peer key schema that accepts generated fingerprints only', async () => {
    expect(manifest['configSchema']).to.deep.equal(JSON.parse(JSON.stringify(optionsSchema)));
    expect(manifest['backend']!.protocol).to.equal(PROTOCOL);
    expect(manifest['backend']!.peerKeySchema.pattern).to.equal(FINGERPRINT_PATTERN);
    const ajv = new Ajv({ strict: false });
    const validate = ajv.compile(manifest['backend']!.peerKeySchema);
    const dir = mkdtempSync(join(tmpdir(), 'rn-ovpn-k-'));
    try {
      const kp = await generateKeyPair(join(dir, 'k'));
      expect(validate(kp.publicKey)).to.equal(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    for (const bad of ['', 'AB', 'ab:'.repeat(31) + 'ab', 'AA:'.repeat(32) + 'AA', 'AA:'.repeat(31) + 'AG', 'YWJj']) {
      expect(validate(bad), bad).to.equal(false);
    }
  });

  it('applies option defaults and rejects bad options with CONFIG_INVALID', () => {
    expect(resolveOptions({}).portSpan).to.equal(1024);
    expect(resolveOptions({ dataCiphers: ['CHACHA20-POLY1305'] }).dataCiphers).to.deep.equal(['CHACHA20-POLY1305']);
    // Types, ranges, enums and unknown keys: the manifest's configSchema, which the daemon's loader
    // applies with ajv (defaults filled in) and turns into CONFIG_INVALID.
    const validate = new Ajv({ strict: false, useDefaults: true }).compile(manifest['configSchema']!);
    for (const bad of [{ portSpan: 5 }, { dataCiphers: ['BF-CBC'] }, { nope: 1 }, { verb: 'loud' }]) {
      expect(validate(bad), JSON.stringify(bad)).to.equal(false);
    }
    // Relations between options, which the schema cannot state: resolveOptions.
    for (const bad of [
      { pingIntervalS: 30, pingRestartS: 10 },
      { restartBackoffMs: 1000, restartBackoffMaxMs: 500 },
    ]) {
      try {
        resolveOptions(bad);
        expect.fail(JSON.stringify(bad));
      } catch (err) {
        expect(isRustynetError(err, 'CONFIG_INVALID'), String(err)).to.equal(true);
      }
    }
  });
});
