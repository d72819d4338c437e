import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isRustynetError } from '@rustynet/plugin-api';
import { daemonConfigSchema, loadDaemonConfig, validateDaemonConfig, type DaemonConfig } from '../src/index.js';
import { validateManifestObject } from '../src/loader/manifest.js';
import { fakeBackendManifest, tmpDir } from './helpers.js';

const good: DaemonConfig = {
  node: 'a',
  stateDir: '/var/lib/rustynet/a',
  socket: '/run/rustynet/a.sock',
  controlPlaneKey: Buffer.alloc(32, 7).toString('base64'),
  identityKeyFile: '/etc/rustynet/identity.key',
  netmap: { file: '/etc/rustynet/netmap.json', pollIntervalMs: 1000 },
  backend: { plugin: '@acme/backend-x', interfaceName: 'rn0', keyDirectory: '/k', listenPort: 51820, mtu: 1420, options: {} },
  plugins: [{ plugin: '@rustynet/policy-nftables', options: {} }],
  log: { level: 'info', file: '/var/log/rustynet.log' },
};

function fieldOf(value: unknown): string | undefined {
  try {
    validateDaemonConfig(value);
  } catch (err) {
    expect(isRustynetError(err, 'CONFIG_INVALID'), String(err)).to.equal(true);
    return (err as { field?: string }).field;
  }
  return expect.fail('expected CONFIG_INVALID');
}

describe('daemon config schema', () => {
  it('accepts the brief example and a url source', () => {
    expect(validateDaemonConfig(structuredClone(good))).to.deep.equal(good);
    expect(() => validateDaemonConfig({ ...good, netmap: { url: 'http://198.18.0.1:8080/netmap', pollIntervalMs: 500 } })).not.to.throw();
    expect(daemonConfigSchema.required).to.include('backend');
  });

  it('names the bad field', () => {
    expect(fieldOf({ ...good, backend: { ...good.backend, interfaceName: 'much-too-long-name0' } })).to.equal('backend.interfaceName');
    const noIf = structuredClone(good) as unknown as { backend: Record<string, unknown> };
    delete noIf.backend.interfaceName;
    expect(fieldOf(noIf)).to.equal('backend.interfaceName');
    expect(fieldOf({ ...good, node: 'Bad Node' })).to.equal('node');
    expect(fieldOf({ ...good, controlPlaneKey: 'short' })).to.equal('controlPlaneKey');
    expect(fieldOf({ ...good, extra: 1 })).to.equal('extra');
    expect(fieldOf({ ...good, plugins: [{ options: {} }] })).to.equal('plugins[0].plugin');
    expect(fieldOf({ ...good, netmap: { file: '/x', url: 'http://x' } })).to.match(/^netmap/);
  });

  it('loadDaemonConfig resolves relative paths against the config file', async () => {
    const dir = tmpDir();
    const cfg = {
      ...good,
      stateDir: 'state',
      socket: 'a.sock',
      identityKeyFile: 'id.key',
      netmap: { file: 'netmap.json' },
      backend: { ...good.backend, plugin: './plugins/x', keyDirectory: 'keys' },
      log: { file: 'd.log' },
    };
    writeFileSync(join(dir, 'c.json'), JSON.stringify(cfg));
    const loaded = await loadDaemonConfig(join(dir, 'c.json'));
    expect(loaded.stateDir).to.equal(join(dir, 'state'));
    expect(loaded.socket).to.equal(join(dir, 'a.sock'));
    expect(loaded.netmap).to.deep.equal({ file: join(dir, 'netmap.json') });
    expect(loaded.backend.plugin).to.equal(join(dir, 'plugins/x'));
    expect(loaded.backend.keyDirectory).to.equal(join(dir, 'keys'));
    expect(loaded.plugins![0].plugin).to.equal('@rustynet/policy-nftables');
    writeFileSync(join(dir, 'bad.json'), '{');
    await loadDaemonConfig(join(dir, 'bad.json')).then(
      () => expect.fail('should throw'),
      (err: unknown) => expect(isRustynetError(err, 'CONFIG_INVALID')).to.equal(true),
    );
  });
});

describe('manifest schema (via the loader)', () => {
  it('accepts the fake backend manifest and names bad fields', () => {
    expect(() => validateManifestObject(fakeBackendManifest(), '/m.json')).not.to.throw();
    try {
      validateManifestObject(fakeBackendManifest({ kind: 'router' }), '/m.json');
      expect.fail('should throw');
    } catch (err) {
      expect(isRustynetError(err, 'MANIFEST_INVALID')).to.equal(true);
      expect((err as Error).message).to.include('/m.json: kind: must be one of "backend"');
      expect((err as { field?: string }).field).to.equal('kind');
    }
  });
});
