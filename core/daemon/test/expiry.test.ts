import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Netmap } from '@rustynet/plugin-api';
import { Daemon, generateEd25519KeyPair, localApiRequest, signNetmap, type DaemonStatus } from '../src/index.js';
import { FAKE_BACKEND_SOURCE, fakeBackendManifest, makeNetmap, testServices, tmpDir, writePluginFixture } from './helpers.js';

type FakeCall = { method: string; arg: unknown };
const backendCalls = (ifname: string): FakeCall[] =>
  ((globalThis as Record<string, unknown>).__fakeBackendCalls as Record<string, FakeCall[]> | undefined)?.[ifname] ?? [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Daemon: netmap expiry while running', function () {
  this.timeout(20000);
  const dir = tmpDir('rn-exp-');
  const cp = generateEd25519KeyPair();
  const ifname = `rx${randomBytes(3).toString('hex')}`;
  const netmapFile = join(dir, 'netmap.json');
  const socket = join(dir, 'd.sock');
  const stateDir = join(dir, 'state');
  let daemon: Daemon;

  function publish(nm: Netmap): void {
    writeFileSync(netmapFile, JSON.stringify(signNetmap(nm, cp.privateKeyPem)));
  }
  function expiring(version: number, ms: number): Netmap {
    const nm = makeNetmap(3, version);
    nm.expiresAt = new Date(Date.now() + ms).toISOString();
    return nm;
  }
  async function status(): Promise<DaemonStatus> {
    return (await localApiRequest(socket, 'GET', '/v1/status')).json as DaemonStatus;
  }
  async function metric(name: string): Promise<number> {
    const body = (await localApiRequest(socket, 'GET', '/metrics')).body;
    const line = body.split('\n').find((l) => l.startsWith(`${name} `));
    return Number(line?.split(' ')[1]);
  }

  before(async () => {
    const backendDir = writePluginFixture(join(dir, 'fake-backend'), fakeBackendManifest(), FAKE_BACKEND_SOURCE);
    publish(expiring(1, 1500));
    daemon = new Daemon(
      {
        node: 'n0',
        stateDir,
        socket,
        controlPlaneKey: cp.publicKeyB64,
        netmap: { file: netmapFile, pollIntervalMs: 200, expiryWarningSeconds: 1 },
        backend: { plugin: backendDir, interfaceName: ifname, keyDirectory: join(dir, 'keys') },
      },
      { services: testServices(stateDir) },
    );
    await daemon.start();
  });

  after(async () => {
    await daemon?.stop();
  });

  it('shows the time left as a gauge while the map is valid', async () => {
    expect((await status()).state).to.equal('up');
    const left = await metric('rustynet_netmap_expiry_seconds');
    expect(left).to.be.greaterThan(0).and.at.most(1.5);
  });

  it('fails closed at expiresAt: data plane stopped, status expired, audit record', async () => {
    await sleep(1800);
    const s = await status();
    expect(s.state).to.equal('expired');
    expect(s.netmap?.expired).to.equal(true);
    expect(s.peers).to.deep.equal([]);
    expect(backendCalls(ifname).at(-1)?.method).to.equal('stop');
    expect(await metric('rustynet_netmap_expiry_seconds')).to.equal(0);
    const types = readFileSync(join(stateDir, 'audit.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { type: string }).type);
    expect(types).to.include('netmap.expired');
  });

  it('a reload of the same, expired map is rejected and keeps it closed', async () => {
    const r = await localApiRequest(socket, 'POST', '/v1/netmap/reload');
    expect((r.json as { result: string }).result).to.equal('rejected');
    expect((await status()).state).to.equal('expired');
  });

  it('a fresh map resumes everything', async () => {
    publish(expiring(2, 3600_000));
    await sleep(600);
    const s = await status();
    expect(s.state).to.equal('up');
    expect(s.netmap).to.deep.include({ version: 2, expired: false });
    expect(s.peers.map((p) => p.id).sort()).to.deep.equal(['n1', 'n2']);
    expect(await metric('rustynet_netmap_expiry_seconds')).to.be.greaterThan(3500);
  });
});
