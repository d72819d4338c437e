/**
 * The daemon's metrics and health listener (`metrics.listen`) with an in-test backend: probes
 * follow the life cycle (up, down, stopped), per-peer series honour the label cap, and a port
 * already in use fails `start` with a named error and leaves no socket behind.
 */
import { expect } from 'chai';
import { existsSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Daemon, generateEd25519KeyPair, signNetmap, type DaemonConfig } from '../src/index.js';
import { FAKE_BACKEND_SOURCE, fakeBackendManifest, makeNetmap, testServices, tmpDir, writePluginFixture } from './helpers.js';

async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: r.status, body: await r.text() };
}

describe('Daemon metrics and health listener', function () {
  this.timeout(20000);
  const dir = tmpDir('rn-dops-');
  const cp = generateEd25519KeyPair();
  let config: DaemonConfig;
  let daemon: Daemon;
  let port = 0;

  before(async () => {
    const backendDir = writePluginFixture(join(dir, 'fake-backend'), fakeBackendManifest(), FAKE_BACKEND_SOURCE);
    writeFileSync(join(dir, 'netmap.json'), JSON.stringify(signNetmap(makeNetmap(4, 1), cp.privateKeyPem)));
    config = {
      node: 'n0',
      stateDir: join(dir, 'state'),
      socket: join(dir, 'd.sock'),
      controlPlaneKey: cp.publicKeyB64,
      netmap: { file: join(dir, 'netmap.json'), pollIntervalMs: 3_600_000 },
      backend: { plugin: backendDir, interfaceName: `ro${randomBytes(3).toString('hex')}`, keyDirectory: join(dir, 'keys') },
      metrics: { listen: { port: 0 }, peerLabelLimit: 2 },
    };
    daemon = new Daemon(config, { services: testServices(config.stateDir) });
    await daemon.start();
    port = daemon.opsAddress?.port ?? 0;
  });

  after(async () => {
    await daemon?.stop();
  });

  it('listens on loopback and answers /healthz and /readyz 200 while up', async () => {
    expect(daemon.opsAddress?.host).to.equal('127.0.0.1');
    expect(port).to.be.greaterThan(0);
    const h = await get(port, '/healthz');
    expect(h.status).to.equal(200);
    expect(JSON.parse(h.body)).to.include({ status: 'ok', node: 'n0', state: 'up' });
    const r = await get(port, '/readyz');
    expect(r.status).to.equal(200);
    expect(JSON.parse(r.body)).to.include({ netmapVersion: 1, expired: false });
  });

  it('/metrics has the daemon metrics and per-peer series capped at peerLabelLimit', async () => {
    const { status, body } = await get(port, '/metrics');
    expect(status).to.equal(200);
    expect(body).to.match(/^rustynet_peers 3$/m);
    expect(body).to.match(/^rustynet_netmap_version 1$/m);
    expect(body).to.include('rustynet_peer_rx_bytes{peer="n1"} 10');
    expect(body).to.include('rustynet_peer_rx_bytes{peer="n2"} 10');
    expect(body).not.to.include('rustynet_peer_rx_bytes{peer="n3"}');
    expect(body).to.include('rustynet_peer_rx_bytes{peer="_other"} 10');
    expect(body).to.include('rustynet_peer_path{peer="n1",path="direct"} 1');
    expect(body).to.match(/^rustynet_peer_label_overflow 1$/m);
    expect(body).to.match(/^rustynet_peer_handshake_age_seconds\{peer="n1"\} \d+/m);
  });

  it('down: /readyz 503 and /healthz still 200; up: ready again', async () => {
    await daemon.down();
    expect((await get(port, '/readyz')).status).to.equal(503);
    expect((await get(port, '/healthz')).status).to.equal(200);
    expect(await get(port, '/metrics')).to.have.property('status', 200);
    await daemon.up();
    expect((await get(port, '/readyz')).status).to.equal(200);
  });

  it('a port already in use fails start naming metrics.listen, and nothing is left listening', async () => {
    const other: DaemonConfig = {
      ...config,
      stateDir: join(dir, 'state2'),
      socket: join(dir, 'd2.sock'),
      backend: { ...config.backend, interfaceName: `rp${randomBytes(3).toString('hex')}` },
      metrics: { listen: { host: '127.0.0.1', port } },
    };
    const d2 = new Daemon(other, { services: testServices(other.stateDir) });
    const err = await d2.start().then(
      () => undefined,
      (e: unknown) => e as { code?: string; field?: string },
    );
    await d2.stop();
    expect(err).to.include({ code: 'INVALID_INPUT', field: 'metrics.listen' });
    expect(existsSync(other.socket), 'local API socket left behind').to.equal(false);
    // The first daemon's listener is untouched.
    expect((await get(port, '/healthz')).status).to.equal(200);
  });

  it('after stop the listener is closed', async () => {
    const p = port;
    await daemon.stop();
    const refused = await fetch(`http://127.0.0.1:${p}/healthz`).then(
      () => false,
      () => true,
    );
    expect(refused).to.equal(true);
  });
});
