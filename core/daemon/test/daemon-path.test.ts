import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { isRustynetError, type Netmap } from '@rustynet/plugin-api';
import {
  Daemon,
  generateEd25519KeyPair,
  localApiRequest,
  signNetmap,
  writeKeyFile,
  type DaemonConfig,
  type DaemonStatus,
} from '../src/index.js';
import { DirectPathProber } from '../src/path/prober.js';
import { FAKE_BACKEND_SOURCE, fakeBackendManifest, makeNetmap, testServices, tmpDir, writePluginFixture } from './helpers.js';
import { FakeNet, ManualClock, identity } from './path-fakes.js';

const RELAY_SOURCE = `
export function createPlugin() {
  const log = (globalThis.__pathRelayCalls ??= []);
  let port = 40000;
  return {
    kind: 'relay',
    capabilities: () => ({ ipv6: false, maxDatagram: 1500 }),
    async start(cfg) { log.push({ m: 'start', relays: cfg.relays.map((r) => r.id) }); },
    async stop() { log.push({ m: 'stop' }); },
    async openPath(req) { log.push({ m: 'openPath', a: req }); return { host: '127.0.0.1', port: ++port }; },
    async closePath(peer) { log.push({ m: 'closePath', a: peer }); },
    async status() { return []; },
    sendProbe(peer, payload) { return globalThis.__pathRelayProbe?.(peer, payload) ?? false; },
    onProbe(handler) { globalThis.__pathRelayProbeHandler = handler; },
  };
}
`;

const PROBE_PORT = 41641;

describe('Daemon path controller (fake backend, fake relay, in-memory underlay)', function () {
  this.timeout(30000);
  const g = globalThis as Record<string, unknown>;

  it('switches a blocked peer to the relay and back; status, metrics, audit, and re-applies respect the path', async () => {
    g.__pathRelayCalls = [];
    const dir = tmpDir('rn-dpath-');
    const cp = generateEd25519KeyPair();
    const self = generateEd25519KeyPair();
    await writeKeyFile(join(dir, 'id.key'), self.privateKeyPem);
    const id1 = identity();
    const clock = new ManualClock(Date.now());
    const nm: Netmap = makeNetmap(3, 1, clock.now());
    nm.nodes[0].identityKey = self.publicKeyB64;
    nm.nodes[0].probePort = PROBE_PORT;
    nm.nodes[1].identityKey = id1.publicKeyB64;
    nm.nodes[1].probePort = PROBE_PORT;
    nm.relays = [{ id: 'r1', endpoint: { host: '198.18.0.100', port: 3478 } }];
    const write = (m: Netmap): void => writeFileSync(join(dir, 'netmap.json'), JSON.stringify(signNetmap(m, cp.privateKeyPem)));
    write(nm);

    const net = new FakeNet();
    const peer1 = new DirectPathProber({
      selfId: 'n1',
      sign: id1.sign,
      clock,
      transport: net.attach({ host: '198.18.0.2', port: PROBE_PORT }),
    });
    peer1.setPeers([{ id: 'n0', identityKey: self.publicKeyB64 }]);
    // The relay's probe channel: the fake relay plugin hands n0's probes to n1's relay-channel
    // responder, and its answers back to the daemon's handler.
    const relayNet = new FakeNet();
    const n1Relayed = new DirectPathProber({
      selfId: 'n1',
      sign: id1.sign,
      clock,
      channel: 'relay',
      transport: relayNet.attach({ host: 'n1', port: 0 }),
    });
    n1Relayed.setPeers([{ id: 'n0', identityKey: self.publicKeyB64 }]);
    relayNet
      .attach({ host: 'n0', port: 0 })
      .onMessage((data, from) => (g.__pathRelayProbeHandler as ((f: string, p: Buffer) => void) | undefined)?.(from.host, data));
    g.__pathRelayProbe = (peer: string, payload: Uint8Array): boolean => {
      relayNet.deliver(payload, { host: 'n0', port: 0 }, { host: peer, port: 0 });
      return true;
    };

    const ifname = `rp${randomBytes(3).toString('hex')}`;
    const config: DaemonConfig = {
      node: 'n0',
      stateDir: join(dir, 'state'),
      socket: join(dir, 's.sock'),
      controlPlaneKey: cp.publicKeyB64,
      identityKeyFile: join(dir, 'id.key'),
      netmap: { file: join(dir, 'netmap.json'), pollIntervalMs: 3_600_000 },
      backend: {
        plugin: writePluginFixture(join(dir, 'b'), fakeBackendManifest(), FAKE_BACKEND_SOURCE),
        interfaceName: ifname,
        keyDirectory: join(dir, 'k'),
      },
      plugins: [
        {
          plugin: writePluginFixture(
            join(dir, 'relay'),
            {
              name: 'fake-relay',
              version: '0.1.0',
              kind: 'relay',
              apiVersions: ['1.0'],
              entry: './index.mjs',
              capabilities: { ipv6: false, maxDatagram: 1500 },
            },
            RELAY_SOURCE,
          ),
        },
      ],
      pathProbe: { port: PROBE_PORT },
    };
    const services = { ...testServices(config.stateDir), clock };
    const daemon = new Daemon(config, { services, probeTransport: async ({ port }) => net.attach({ host: '198.18.0.1', port }) });
    await daemon.start();
    const relayCalls = (): Array<{ m: string; a?: unknown }> => g.__pathRelayCalls as Array<{ m: string; a?: unknown }>;
    const backendCalls = (): Array<{ method: string; arg: unknown }> =>
      (g.__fakeBackendCalls as Record<string, Array<{ method: string; arg: unknown }>>)[ifname] ?? [];
    const status = async (): Promise<DaemonStatus> => (await localApiRequest(config.socket, 'GET', '/v1/status')).json as DaemonStatus;
    const metrics = async (): Promise<string> => (await localApiRequest(config.socket, 'GET', '/metrics')).body;
    try {
      const ctl = daemon.pathController!;
      expect(ctl.switchingEnabled).to.equal(true);
      // n2 has no probePort: not managed.
      expect(ctl.snapshot().map((s) => s.peer)).to.deep.equal(['n1']);
      await ctl.tick();
      expect(ctl.snapshot()[0]).to.include({ path: 'direct', successes: 1 });

      net.block('198.18.0.2');
      for (let i = 0; i < 4; i++) await ctl.tick();
      expect(relayCalls().filter((c) => c.m !== 'start')).to.deep.equal([
        { m: 'openPath', a: { peer: 'n1', backendEndpoint: { host: '127.0.0.1', port: 51820 } } },
      ]);
      expect(
        backendCalls()
          .filter((c) => c.method === 'updatePeerEndpoint')
          .map((c) => c.arg),
      ).to.deep.equal([{ id: 'n1', ep: { host: '127.0.0.1', port: 40001 } }]);
      let s = await status();
      expect(s.peers.map((p) => [p.id, p.path])).to.deep.equal([
        ['n1', 'relay'],
        ['n2', 'direct'],
      ]);
      expect(await metrics()).to.include('rustynet_path_switches_total{to="relay"} 1');

      // Re-applies never put the direct endpoint back while relayed.
      const before = backendCalls().length;
      expect((await daemon.reapply()).result).to.equal('unchanged');
      const nm2 = structuredClone(nm);
      nm2.version = 2;
      nm2.nodes[2].endpoints = [{ host: '198.18.0.33', port: 51820 }];
      write(nm2);
      expect((await daemon.reload()).result).to.equal('applied');
      const applied = backendCalls()
        .slice(before)
        .filter((c) => c.method === 'applyPeers');
      expect(applied.map((c) => (c.arg as { upsert: Array<{ id: string }> }).upsert.map((p) => p.id))).to.deep.equal([['n2']]);
      expect(daemon.pathController!.pathFor('n1')).to.equal('relay');

      net.unblock('198.18.0.2');
      for (let i = 0; i < 4; i++) await ctl.tick();
      expect(
        backendCalls()
          .filter((c) => c.method === 'updatePeerEndpoint')
          .map((c) => c.arg),
      ).to.deep.equal([
        { id: 'n1', ep: { host: '127.0.0.1', port: 40001 } },
        { id: 'n1', ep: { host: '198.18.0.2', port: 51820 } },
      ]);
      expect(relayCalls().at(-1)).to.deep.equal({ m: 'closePath', a: 'n1' });
      s = await status();
      expect(s.peers.find((p) => p.id === 'n1')!.path).to.equal('direct');
      const text = await metrics();
      expect(text).to.include('rustynet_path_switches_total{to="direct"} 1');
      expect(text).to.match(/rustynet_path_probes_sent_total\{channel="direct"\} \d+/);
      expect(text).to.match(/rustynet_path_probes_sent_total\{channel="relay"\} \d+/);
    } finally {
      await daemon.stop();
    }
    const audit = readFileSync(join(config.stateDir, 'audit.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; data: Record<string, unknown> });
    const sw = audit.filter((r) => r.type === 'path.switch').map((r) => [r.data.peer, r.data.from, r.data.to]);
    expect(sw).to.deep.equal([
      ['n1', 'direct', 'relay'],
      ['n1', 'relay', 'direct'],
    ]);
  });

  it('refuses pathProbe without an identity key; without a relay plugin switching is off and probes are still answered', async () => {
    const dir = tmpDir('rn-dpath2-');
    const cp = generateEd25519KeyPair();
    const base: DaemonConfig = {
      node: 'n0',
      stateDir: join(dir, 'state'),
      socket: join(dir, 's.sock'),
      controlPlaneKey: cp.publicKeyB64,
      netmap: { file: join(dir, 'netmap.json'), pollIntervalMs: 3_600_000 },
      backend: {
        plugin: writePluginFixture(join(dir, 'b'), fakeBackendManifest(), FAKE_BACKEND_SOURCE),
        interfaceName: `rq${randomBytes(3).toString('hex')}`,
        keyDirectory: join(dir, 'k'),
      },
      pathProbe: { port: PROBE_PORT },
    };
    const net = new FakeNet();
    const d1 = new Daemon(base, {
      services: testServices(base.stateDir),
      probeTransport: async ({ port }) => net.attach({ host: '198.18.0.1', port }),
    });
    try {
      await d1.start();
      expect.fail('should throw');
    } catch (err) {
      expect(isRustynetError(err, 'CONFIG_INVALID'), String(err)).to.equal(true);
      expect((err as { field: string }).field).to.equal('identityKeyFile');
    }

    const self = generateEd25519KeyPair();
    await writeKeyFile(join(dir, 'id.key'), self.privateKeyPem);
    const clock = new ManualClock(Date.now());
    const nm = makeNetmap(2, 1, clock.now());
    nm.nodes[0].identityKey = self.publicKeyB64;
    nm.nodes[0].probePort = PROBE_PORT;
    const id1 = identity();
    nm.nodes[1].identityKey = id1.publicKeyB64;
    nm.nodes[1].probePort = PROBE_PORT;
    writeFileSync(join(dir, 'netmap.json'), JSON.stringify(signNetmap(nm, cp.privateKeyPem)));
    const cfg = { ...base, identityKeyFile: join(dir, 'id.key'), stateDir: join(dir, 'state2'), socket: join(dir, 's2.sock') };
    const d2 = new Daemon(cfg, {
      services: { ...testServices(cfg.stateDir), clock },
      probeTransport: async ({ port }) => net.attach({ host: '198.18.0.1', port }),
    });
    await d2.start();
    try {
      expect(d2.pathController!.switchingEnabled).to.equal(false);
      // n1 pings n0: answered although n0 itself never switches.
      const p1 = new DirectPathProber({
        selfId: 'n1',
        sign: id1.sign,
        clock,
        transport: net.attach({ host: '198.18.0.2', port: PROBE_PORT }),
      });
      p1.setPeers([{ id: 'n0', identityKey: self.publicKeyB64, target: { host: '198.18.0.1', port: PROBE_PORT } }]);
      p1.ping('n0');
      expect(p1.takeResult('n0').result).to.equal('reply');
      await d2.pathController!.tick();
      expect(net.log.filter((l) => l.from === `198.18.0.1:${PROBE_PORT}`).length).to.equal(1); // only the PONG
    } finally {
      await d2.stop();
    }
  });

  it('a relay that cannot start (or no relays in the netmap) does not take the mesh down: switching is disabled', async () => {
    const dir = tmpDir('rn-dpath3-');
    const cp = generateEd25519KeyPair();
    const self = generateEd25519KeyPair();
    await writeKeyFile(join(dir, 'id.key'), self.privateKeyPem);
    const nm = makeNetmap(2, 1);
    nm.nodes[0].identityKey = self.publicKeyB64;
    nm.relays = [{ id: 'r1', endpoint: { host: '198.18.0.100', port: 3478 } }];
    writeFileSync(join(dir, 'netmap.json'), JSON.stringify(signNetmap(nm, cp.privateKeyPem)));
    const failing = `export function createPlugin() { return { kind: 'relay', capabilities: () => ({ ipv6: false, maxDatagram: 1500 }),
      async start() { const e = new Error('no relay answered'); e.name = 'RustynetError'; e.code = 'RELAY_FAILED'; throw e; },
      async stop() {}, async openPath() { const e = new Error('not running'); e.name = 'RustynetError'; e.code = 'NOT_RUNNING'; throw e; },
      async closePath() {}, async status() { return []; } }; }`;
    const config: DaemonConfig = {
      node: 'n0',
      stateDir: join(dir, 'state'),
      socket: join(dir, 's.sock'),
      controlPlaneKey: cp.publicKeyB64,
      identityKeyFile: join(dir, 'id.key'),
      netmap: { file: join(dir, 'netmap.json'), pollIntervalMs: 3_600_000 },
      backend: {
        plugin: writePluginFixture(join(dir, 'b'), fakeBackendManifest(), FAKE_BACKEND_SOURCE),
        interfaceName: `rf${randomBytes(3).toString('hex')}`,
        keyDirectory: join(dir, 'k'),
      },
      plugins: [
        {
          plugin: writePluginFixture(
            join(dir, 'relay'),
            {
              name: 'failing-relay',
              version: '0.1.0',
              kind: 'relay',
              apiVersions: ['1.0'],
              entry: './index.mjs',
              capabilities: { ipv6: false, maxDatagram: 1500 },
            },
            failing,
          ),
        },
      ],
      pathProbe: { port: PROBE_PORT },
    };
    const net = new FakeNet();
    const daemon = new Daemon(config, {
      services: testServices(config.stateDir),
      probeTransport: async ({ port }) => net.attach({ host: '198.18.0.1', port }),
    });
    await daemon.start();
    try {
      expect(daemon.state).to.equal('up');
      expect(daemon.pathController!.switchingEnabled).to.equal(false);
      expect((await daemon.status()).peers.map((p) => [p.id, p.path])).to.deep.equal([['n1', 'direct']]);
    } finally {
      await daemon.stop();
    }
  });
});
