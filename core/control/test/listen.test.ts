import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRustynetError } from '@rustynet/plugin-api';
import { ControlClient, startControlServer } from '../src/index.js';
import { createKey, startHarness } from './helpers.js';
import { generateEd25519KeyPair } from '@rustynet/daemon';

describe('control: listeners', function () {
  this.timeout(20_000);
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rn-control-listen-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses plain HTTP on a non-loopback address without insecureListen, and creates nothing', async () => {
    const err = await startControlServer({ listen: '0.0.0.0:0', dataDir: join(dir, 'data') }).catch((e: unknown) => e);
    expect(isRustynetError(err, 'INVALID_INPUT')).to.equal(true);
    expect(spawnSync('ls', [join(dir, 'data')]).status).to.not.equal(0);
  });

  it('refuses a config whose relays would make invalid netmaps', async () => {
    const relays = [
      { id: 'r1', endpoint: { host: '198.18.0.1', port: 3478 } },
      { id: 'r1', endpoint: { host: '198.18.0.2', port: 3478 } },
    ];
    const err = await startControlServer({ listen: '127.0.0.1:0', dataDir: join(dir, 'data'), relays }).catch((e: unknown) => e);
    expect(isRustynetError(err, 'INVALID_INPUT')).to.equal(true);
    expect(String(err)).to.contain('duplicate relay id');
  });

  it('serves HTTPS with --tls-cert/--tls-key; the client pins the CA', async function () {
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    const r = spawnSync('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ]);
    if (r.status !== 0) this.skip();
    const h = await startHarness({ listen: '127.0.0.1:0', tlsCertFile: cert, tlsKeyFile: key }, join(dir, 'data'));
    try {
      expect(h.server.url).to.match(/^https:/);
      const authKey = await createKey(h.admin);
      const c = new ControlClient({ url: h.server.url, identityKeyPem: generateEd25519KeyPair().privateKeyPem, ca: await readFile(cert) });
      const e = await c.enrol({ authKey, name: 'tls', keys: {} });
      expect(e.node.id).to.equal('tls');
      expect(await c.poll(0)).to.not.equal(null);
    } finally {
      await h.stop();
    }
  });
});
