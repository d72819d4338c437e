/**
 * `rustynetd` stopped halfway through `rotate-keys`: at the next start, recoverRotation asks
 * the control plane which identity it knows and installs or discards the staged keys. Real
 * control server (SQLite), real key files; no namespaces.
 */
import { expect } from 'chai';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminClient, ControlClient, startControlServer, type RunningControlServer } from '@rustynet/control';
import { daemonModule, type DaemonConfig, type DaemonModule } from '../src/daemon-api.js';
import { ROTATING_SUFFIX, recoverRotation } from '../src/rotate-keys.js';

describe('rotate-keys: recovery of a rotation stopped halfway', function () {
  this.timeout(20_000);
  let dir: string;
  let server: RunningControlServer;
  let d: DaemonModule;
  let config: DaemonConfig;
  let pemA: string;
  let pemB: string;
  const logs: string[] = [];

  beforeEach(async () => {
    d = await daemonModule();
    dir = await mkdtemp(join(tmpdir(), 'rn-rot-'));
    server = await startControlServer({ listen: '127.0.0.1:0', dataDir: join(dir, 'control') });
    const { key } = (await new AdminClient(server.adminSocket).call('POST', '/admin/v1/keys', {})) as { key: string };
    pemA = d.generateEd25519KeyPair().privateKeyPem;
    pemB = d.generateEd25519KeyPair().privateKeyPem;
    await new ControlClient({ url: server.url, identityKeyPem: pemA }).enrol({ authKey: key, name: 'alpha', keys: { p: 'old' } });
    const keyDir = join(dir, 'keys', 'p');
    await mkdir(keyDir, { recursive: true, mode: 0o700 });
    await writeFile(join(keyDir, 'key'), 'old', { mode: 0o600 });
    await mkdir(`${keyDir}${ROTATING_SUFFIX}`, { mode: 0o700 });
    await writeFile(join(`${keyDir}${ROTATING_SUFFIX}`, 'key'), 'new', { mode: 0o600 });
    await d.writeKeyFile(join(dir, 'keys', 'identity.key'), pemA);
    await d.writeKeyFile(join(dir, 'keys', `identity.key${ROTATING_SUFFIX}`), pemB);
    config = { identityKeyFile: join(dir, 'keys', 'identity.key'), backend: { keyDirectory: keyDir } } as unknown as DaemonConfig;
    logs.length = 0;
  });

  afterEach(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('installs the staged keys when the control plane accepted them before the stop', async () => {
    const client = new ControlClient({ url: server.url, identityKeyPem: pemA });
    await new ControlClient({ url: server.url, identityKeyPem: pemA }).rotateKeys(pemB, { p: 'new' });
    const recorded: string[] = [];
    const done = await recoverRotation(
      config,
      d,
      client,
      async (k) => void recorded.push(k),
      (l) => logs.push(l),
    );
    expect(done).to.equal(true);
    expect(await readFile(config.identityKeyFile!, 'utf8')).to.equal(pemB);
    expect(await readFile(join(config.backend.keyDirectory, 'key'), 'utf8')).to.equal('new');
    expect((await readdir(join(dir, 'keys'))).sort()).to.deep.equal(['identity.key', 'p']);
    expect(recorded).to.deep.equal([client.identityKey]);
    expect(await client.poll(0, { waitMs: 0 })).to.not.equal(null);
  });

  it('discards the staged keys when the control plane never accepted them', async () => {
    const client = new ControlClient({ url: server.url, identityKeyPem: pemA });
    const idA = client.identityKey;
    const done = await recoverRotation(
      config,
      d,
      client,
      () => Promise.resolve(),
      (l) => logs.push(l),
    );
    expect(done).to.equal(false);
    expect(client.identityKey).to.equal(idA);
    expect(await readFile(config.identityKeyFile!, 'utf8')).to.equal(pemA);
    expect(await readFile(join(config.backend.keyDirectory, 'key'), 'utf8')).to.equal('old');
    expect((await readdir(join(dir, 'keys'))).sort()).to.deep.equal(['identity.key', 'p']);
    expect(logs.join('\n')).to.match(/discarding/);
  });

  it('keeps everything as it is while the control plane cannot be asked', async () => {
    const client = new ControlClient({ url: 'http://127.0.0.1:9', identityKeyPem: pemA, requestTimeoutMs: 1_000 });
    const done = await recoverRotation(
      config,
      d,
      client,
      () => Promise.resolve(),
      (l) => logs.push(l),
    );
    expect(done).to.equal(false);
    expect(await readFile(config.identityKeyFile!, 'utf8')).to.equal(pemA);
    expect((await readdir(join(dir, 'keys'))).sort()).to.deep.equal([
      'identity.key',
      `identity.key${ROTATING_SUFFIX}`,
      'p',
      `p${ROTATING_SUFFIX}`,
    ]);
  });
});
