/**
 * Integration test (root): three real rustynetd processes, one per network namespace, form a
 * mesh through a real backend. Parameterised by backend: add a plugin to BACKENDS to run the
 * whole suite against it.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import type { SignedNetmap } from '@rustynet/plugin-api';
import type { DaemonStatus } from '../src/api-client.js';
import { Mesh, rustynet, type PingResult } from '@rustynet/testbed';
import { created, startMesh } from './mesh-fixture.js';

/** Backends under test; each runs the whole suite. */
const BACKENDS: string[] = ['@rustynet/backend-wireguard', '@rustynet/backend-openvpn'];

function failed(results: PingResult[]): string[] {
  return results.filter((r) => !r.ok).map((r) => `${r.from}->${r.to} ${r.address}`);
}

function peerView(s: DaemonStatus): unknown {
  return s.peers
    .map((p) => ({ id: p.id, endpoint: p.endpoint, allowedIps: [...p.allowedIps].sort() }))
    .sort((a, b) => a.id.localeCompare(b.id));
}

for (const backend of BACKENDS) {
  describe(`three-node mesh through rustynetd (${backend})`, function () {
    this.timeout(180_000);
    const V = 5; // version of the first netmap
    let mesh: Mesh | undefined;
    const baseline: Record<string, unknown> = {};

    const m = (): Mesh => created(mesh);

    before(async function () {
      // A long poll interval: netmaps take effect only through the explicit reloads under test.
      // The netmap carries key material for every backend under test: one signed map serves either.
      mesh = await startMesh(backend, { backends: [backend, ...BACKENDS.filter((b) => b !== backend)], pollIntervalMs: 600_000 }, V);
      for (const n of mesh.nodes) baseline[n.id] = peerView(await mesh.status(n.id));
    });

    after(async () => {
      await mesh?.destroy();
    });

    async function expectRejected(code: string, doc: unknown): Promise<void> {
      const mesh = m();
      await mesh.publish(doc);
      await mesh.waitFor((_id, s) => s.lastRejection?.code === code, `showing lastRejection ${code}`, 20_000);
      for (const n of mesh.nodes) {
        const s = await mesh.status(n.id);
        expect(s.state, n.id).to.equal('up');
        expect(s.netmap?.version, `${n.id} netmap version after ${code}`).to.equal(V);
        expect(peerView(s), `${n.id} peers after ${code}`).to.deep.equal(baseline[n.id]);
      }
      const results = await mesh.pingMatrix();
      expect(failed(results), `pings after a ${code} netmap`).to.deep.equal([]);
    }

    it('every node pings every other over IPv4 and IPv6 mesh addresses', async () => {
      const results = await m().pingMatrix();
      expect(results).to.have.length(12);
      expect(failed(results)).to.deep.equal([]);
    });

    it('the CLI reads status and plugins from each running daemon', async () => {
      const mesh = m();
      for (const n of mesh.nodes) {
        const s = JSON.parse(await rustynet(['status', '--json', '--socket', n.socket])) as DaemonStatus;
        expect(s.node).to.equal(n.id);
        expect(s.state).to.equal('up');
        expect(s.netmap?.version).to.equal(V);
        expect(s.peers.map((p) => p.id).sort()).to.deep.equal(mesh.nodes.filter((x) => x !== n).map((x) => x.id));
        for (const p of s.peers) {
          const peer = mesh.node(p.id);
          expect(p.allowedIps).to.include.members([`${peer.v4}/32`, `${peer.v6}/128`]);
          expect(p.path).to.equal('direct');
        }
        const text = await mesh.statusText(n.id);
        expect(text).to.match(/PEER\s+ENDPOINT\s+PATH\s+HANDSHAKE\s+RX\s+TX/);
        const plugins = JSON.parse(await rustynet(['plugin', 'list', '--json', '--socket', n.socket])) as Array<Record<string, unknown>>;
        const b = plugins.find((p) => p['kind'] === 'backend');
        expect(b, 'backend in plugin list').to.not.equal(undefined);
        expect(b!['apiVersion']).to.match(/^\d+\.\d+$/);
        expect(b!['capabilities']).to.be.an('object');
      }
    });

    it('a UDP payload with a random marker crosses the mesh; the underlay capture never contains it', async () => {
      const mesh = m();
      const a = mesh.node('a');
      const c = mesh.node('c');
      const echo4 = await c.host.udpEchoServer(7777);
      const echo6 = await c.host.udpEchoServer(7778, { bind: '::' });
      try {
        const marker4 = `RUSTYNET-MARKER-${randomBytes(12).toString('hex')}`;
        const marker6 = `RUSTYNET-MARKER-${randomBytes(12).toString('hex')}`;
        const cap = await a.host.capture({ filter: ['udp'] });
        const reply4 = await a.host.udpSend(c.v4, 7777, marker4, { attempts: 5 });
        const reply6 = await a.host.udpSend(c.v6, 7778, marker6, { attempts: 5 });
        const pcap = await cap.stop();
        expect(reply4?.toString(), 'IPv4 echo over the mesh').to.equal(marker4);
        expect(reply6?.toString(), 'IPv6 echo over the mesh').to.equal(marker6);
        // The tunnel's datagrams were captured (4 packets at least), but never the plaintext.
        expect(pcap.length, 'capture size').to.be.greaterThan(24 + 4 * (16 + 60));
        expect(pcap.includes(Buffer.from(marker4)), 'IPv4 marker in the underlay capture').to.equal(false);
        expect(pcap.includes(Buffer.from(marker6)), 'IPv6 marker in the underlay capture').to.equal(false);

        // Control: the same capture does see a marker sent in clear over the underlay.
        const clear = `RUSTYNET-CLEAR-${randomBytes(12).toString('hex')}`;
        const cap2 = await a.host.capture({ filter: ['udp'] });
        const replyClear = await a.host.udpSend(c.host.underlayAddress, 7777, clear, { attempts: 3 });
        const pcap2 = await cap2.stop();
        expect(replyClear?.toString()).to.equal(clear);
        expect(pcap2.includes(Buffer.from(clear)), 'control marker seen in clear').to.equal(true);
      } finally {
        await echo4.close();
        await echo6.close();
      }
    });

    it('rejects a tampered netmap (NETMAP_SIGNATURE_INVALID) and changes nothing', async () => {
      const mesh = m();
      const signed = await mesh.sign(mesh.netmap(V + 10));
      const tampered = structuredClone<SignedNetmap>(signed);
      tampered.netmap.nodes[1].endpoints = [{ host: '198.18.0.200', port: 51999 }];
      await expectRejected('NETMAP_SIGNATURE_INVALID', tampered);
    });

    it('rejects an expired netmap (NETMAP_EXPIRED) and changes nothing', async () => {
      const mesh = m();
      const now = Date.now();
      const expired = await mesh.sign(
        mesh.netmap(V + 11, { issuedAt: new Date(now - 2 * 3_600_000), expiresAt: new Date(now - 3_600_000) }),
      );
      await expectRejected('NETMAP_EXPIRED', expired);
    });

    it('rejects an older netmap (NETMAP_REPLAYED) and changes nothing', async () => {
      const mesh = m();
      const older = await mesh.sign(mesh.netmap(V - 1));
      await expectRejected('NETMAP_REPLAYED', older);
    });

    it('applies a newer netmap on SIGHUP', async () => {
      const mesh = m();
      const b = mesh.node('b');
      await mesh.publish(await mesh.sign(mesh.netmap(V + 1)), ['b'], { reload: false });
      // The poll interval is 10 minutes: only the signal can make b read the file now.
      process.kill(mesh.daemonPids()['b'], 'SIGHUP');
      await mesh.waitFor((id, s) => id !== 'b' || s.netmap?.version === V + 1, 'at netmap version 6 on b', 20_000);
      expect(peerView(await mesh.status(b.id))).to.deep.equal(baseline[b.id]);
    });

    it('no private key appears in any /proc/*/cmdline, /proc/*/environ or daemon log', async () => {
      const mesh = m();
      const secrets = await mesh.secrets();
      // identity + backend key per node, and the control-plane key
      expect(secrets.length).to.be.at.least(mesh.nodes.length * 2 + 1);
      expect(await mesh.findLeakedSecrets()).to.deep.equal([]);
    });

    it('rustynet down removes the tunnel of one node only; rustynet up brings it back with the last good netmap', async () => {
      const mesh = m();
      const a = mesh.node('a');
      await rustynet(['down', '--socket', a.socket]);
      expect((await mesh.status('a')).state).to.equal('down');
      const links = await a.host.exec('ip', ['-o', 'link', 'show'], { reject: false });
      expect(links.stdout, 'tunnel interface after down').to.not.contain(a.ifname);
      const others = await mesh.pingMatrix(5, [
        ['b', 'c'],
        ['c', 'b'],
      ]);
      expect(failed(others), 'b<->c while a is down').to.deep.equal([]);
      const toA = await mesh.pingMatrix(1, [['b', 'a']]);
      expect(
        toA.filter((r) => r.ok),
        'b->a while a is down',
      ).to.deep.equal([]);

      await rustynet(['up', '--socket', a.socket]);
      const s = await mesh.status('a');
      expect(s.state).to.equal('up');
      expect(s.netmap?.version).to.equal(V);
      expect(peerView(s)).to.deep.equal(baseline['a']);
      const back = await mesh.pingMatrix();
      expect(failed(back), 'pings after up').to.deep.equal([]);
    });

    it('removing a peer from a new signed netmap cuts that pair and only that pair', async () => {
      const mesh = m();
      // Node a gets a map without c; b and c keep theirs.
      const errs = await mesh.publish(await mesh.sign(mesh.netmap(V + 2, { without: ['c'] })), ['a']);
      expect(errs['a'], 'reload on a').to.equal(undefined);
      await mesh.waitFor(
        (id, s) => id !== 'a' || (s.netmap?.version === V + 2 && s.peers.map((p) => p.id).join() === 'b'),
        'at netmap version 7 with peer b only on a',
        20_000,
      );
      const kept = await mesh.pingMatrix(5, [
        ['a', 'b'],
        ['b', 'a'],
        ['b', 'c'],
        ['c', 'b'],
      ]);
      expect(failed(kept), 'pairs that must still work').to.deep.equal([]);
      const cut = await mesh.pingMatrix(2, [
        ['a', 'c'],
        ['c', 'a'],
      ]);
      expect(
        cut.filter((r) => r.ok).map((r) => `${r.from}->${r.to} ${r.address}`),
        'a<->c must be cut',
      ).to.deep.equal([]);
      for (const id of ['b', 'c']) expect((await mesh.status(id)).peers).to.have.length(2);
    });

    it('after shutdown no interface, process, socket, namespace or leaked key is left', async () => {
      const mesh = m();
      const exits = await mesh.stopDaemons();
      for (const [id, e] of Object.entries(exits)) expect(e, `exit of rustynetd on ${id}`).to.deep.equal({ code: 0, signal: null });
      expect(await mesh.leftovers(), 'left behind in the namespaces').to.deep.equal([]);
      expect(await mesh.findLeakedSecrets(), 'keys in logs after shutdown').to.deep.equal([]);
      await mesh.destroy();
      expect(await mesh.leftovers({ namespacesGone: true }), 'left behind after teardown').to.deep.equal([]);
    });
  });
}
