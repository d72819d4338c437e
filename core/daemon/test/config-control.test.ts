import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isRustynetError } from '@rustynet/plugin-api';
import { Daemon, loadDaemonConfig, validateDaemonConfig, type DaemonConfig, type NetmapSource } from '../src/index.js';
import { tmpDir } from './helpers.js';

const good: DaemonConfig = {
  node: 'a',
  stateDir: '/var/lib/rustynet/a',
  socket: '/run/rustynet/a.sock',
  controlPlaneKey: Buffer.alloc(32, 7).toString('base64'),
  identityKeyFile: '/etc/rustynet/identity.key',
  netmap: {
    control: {
      url: 'https://control.example:4242',
      authKeyFile: '/etc/rustynet/authkey',
      endpoints: [{ host: '198.18.0.2', port: 51820 }],
    },
    pollIntervalMs: 1000,
  },
  backend: { plugin: '@acme/backend-x', interfaceName: 'rn0', keyDirectory: '/k' },
};

function errorOf(fn: () => unknown): { code: string; field: string | undefined } {
  try {
    fn();
  } catch (err) {
    expect(isRustynetError(err), String(err)).to.equal(true);
    const e = err as { code: string; field?: string };
    return { code: e.code, field: e.field };
  }
  return expect.fail('expected an error');
}

const noSource: NetmapSource = {
  description: 'test',
  fetch: () => Promise.resolve({ changed: false }),
  invalidate: () => undefined,
};

describe('daemon config: netmap.control', () => {
  it('accepts a control-plane source', () => {
    expect(validateDaemonConfig(structuredClone(good))).to.deep.equal(good);
  });

  it('names the bad field', () => {
    const noKey = { ...good, netmap: { control: { url: 'https://control.example:4242' } } };
    expect(errorOf(() => validateDaemonConfig(noKey))).to.deep.equal({ code: 'CONFIG_INVALID', field: 'netmap.control.authKeyFile' });
    const badUrl = { ...good, netmap: { control: { url: 'ftp://x', authKeyFile: '/k' } } };
    expect(errorOf(() => validateDaemonConfig(badUrl)).field).to.equal('netmap.control.url');
    const { identityKeyFile: _drop, ...noIdentity } = good;
    expect(errorOf(() => validateDaemonConfig(noIdentity))).to.deep.equal({ code: 'CONFIG_INVALID', field: 'identityKeyFile' });
  });

  it('takes further control-plane instances in urls, and names a bad one', () => {
    const two = structuredClone(good);
    if ('control' in two.netmap) two.netmap.control.urls = ['https://control-2.example:4242'];
    expect(validateDaemonConfig(structuredClone(two))).to.deep.equal(two);
    const bad = { ...good, netmap: { control: { url: 'https://a:1', authKeyFile: '/k', urls: ['ftp://b'] } } };
    expect(errorOf(() => validateDaemonConfig(bad)).field).to.match(/^netmap\.control\.urls/);
  });

  it('the daemon needs the source from its embedder (rustynetd)', () => {
    expect(errorOf(() => new Daemon(structuredClone(good)))).to.deep.equal({ code: 'CONFIG_INVALID', field: 'netmap.control' });
    expect(() => new Daemon(structuredClone(good), { netmapSource: noSource })).not.to.throw();
  });

  it('loadDaemonConfig resolves the auth key and CA files against the config file', async () => {
    const dir = tmpDir();
    const file = join(dir, 'd.json');
    const cfg = { ...good, netmap: { control: { url: 'https://c.example', authKeyFile: 'authkey', caFile: 'ca.pem' } } };
    writeFileSync(file, JSON.stringify(cfg));
    const loaded = await loadDaemonConfig(file);
    expect('control' in loaded.netmap && loaded.netmap.control).to.include({
      authKeyFile: join(dir, 'authkey'),
      caFile: join(dir, 'ca.pem'),
    });
  });
});
