/**
 * Integration test (root): direct first, relay when the direct path is blocked, back again.
 *
 * A 3-node mesh of real `rustynetd` processes (one network namespace each) plus a 4th namespace
 * running `rustynet relay serve`. The daemons load `@rustynet/relay` and probe the direct paths
 * (`pathProbe`). The direct underlay path a<->b is blocked with nftables (harness `blockPath`):
 * a<->b traffic must flow through the relay within 3 s, the relay's host must never see a
 * plaintext marker sent over the mesh (while it does see the relayed datagrams), and after the
 * unblock the pair must be back on the direct path within 15 s. Nothing may be left behind.
 *
 * Parameterised by backend (same body for each). A backend that is not built or does not claim
 * `udpTransport` and `roaming` in its manifest is listed as a pending test with the reason.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { Mesh, RELAY_PORT, parsePcap, type ContinuousPing, type PcapPacket } from '@rustynet/testbed';
import { created, describeEachRelayBackend, startMesh } from './mesh-fixture.js';

/** Backends under test; each runs the whole suite. */
const BACKENDS: string[] = ['@rustynet/backend-wireguard', '@rustynet/backend-openvpn'];

/** Bounds from issue 6 ("Must show"). */
const TO_RELAY_MS = 3_000;
const TO_DIRECT_MS = 15_000;

/** Relay DATA datagrams (docs/relay.md: version 0x01, type 0x06) from `src` to the relay port. */
function relayedFrom(packets: PcapPacket[], src: string): PcapPacket[] {
  return packets.filter(
    (p) => p.protocol === 17 && p.src === src && p.dstPort === RELAY_PORT && p.payload[0] === 0x01 && p.payload[1] === 0x06,
  );
}

/** What a failed assertion shows: each node's status paths and the last lines of its log. */
async function diagnose(mesh: Mesh, ids: string[]): Promise<string> {
  const parts: string[] = [];
  for (const id of ids) {
    const paths = (await mesh.status(id).catch(() => undefined))?.peers.map((p) => `${p.id}:${p.path}`).join(' ');
    parts.push(`\n--- ${id} (peers ${paths ?? 'status failed'}) ---\n${await mesh.tail(id, 40).catch((e: unknown) => String(e))}`);
  }
  return parts.join('');
}

await describeEachRelayBackend(
  BACKENDS,
  (backend) => `relay fallback: 3-node mesh + relay host, direct a<->b blocked (${backend})`,
  function (backend) {
    this.timeout(120_000);
    let mesh: Mesh | undefined;
    let pinger: ContinuousPing | undefined;
    const times: Record<string, number> = {};

    const m = (): Mesh => created(mesh);

    before(async function () {
      mesh = await startMesh(backend, { relay: true, logLevel: 'info' });
    });

    after(async () => {
      await pinger?.stop();
      await mesh?.destroy();
      if (Object.keys(times).length > 0) console.log(`      measured: ${JSON.stringify(times)}`);
    });

    it('starts with every pair on the direct path and every ping answered', async () => {
      const mesh = m();
      const results = await mesh.pingMatrix();
      expect(results.filter((r) => !r.ok).map((r) => `${r.from}->${r.to} ${r.address}`)).to.deep.equal([]);
      for (const n of mesh.nodes) {
        const s = await mesh.status(n.id);
        expect(s.peers.map((p) => `${p.id}:${p.path}`).sort(), n.id).to.deep.equal(
          mesh.nodes.filter((x) => x !== n).map((x) => `${x.id}:direct`),
        );
        expect(
          s.plugins.map((p) => p.kind),
          n.id,
        ).to.include('relay');
      }
    });

    it(`moves a<->b traffic to the relay within ${TO_RELAY_MS / 1000} s of the block (status: relay on both sides)`, async () => {
      const mesh = m();
      const [a, b] = [mesh.node('a'), mesh.node('b')];
      pinger = mesh.continuousPing('a', b.v4, 0.1);
      expect(await pinger.firstReplyAfter(Date.now(), 5_000), 'pings before the block').to.not.equal(null);
      const tBlock = await mesh.blockDirect('a', 'b');
      const [tRelay, tTraffic] = await Promise.all([
        mesh.waitForPath(
          [
            ['a', 'b'],
            ['b', 'a'],
          ],
          'relay',
          10_000,
        ),
        // +50 ms: a reply to a request sent before the block (sub-ms round trip) cannot count.
        pinger.firstReplyAfter(tBlock + 50, 10_000),
      ]);
      times['blockToRelayStatusMs'] = tRelay - tBlock;
      times['blockToFirstRelayedReplyMs'] = tTraffic === null ? -1 : tTraffic - tBlock;
      expect(tTraffic, 'a ping reply after the block').to.not.equal(null);
      expect(tTraffic! - tBlock, 'block -> first reply through the relay (ms)').to.be.at.most(TO_RELAY_MS);
      expect(tRelay - tBlock, 'block -> both daemons report relay (ms)').to.be.at.most(TO_RELAY_MS);
      // The direct path really is blocked: the underlay address of b is unreachable from a.
      expect(await a.host.ping(b.host.underlayAddress, { attempts: 1, timeoutS: 1 }), 'underlay ping a -> b while blocked').to.equal(false);
      // Other pairs are unaffected.
      for (const [x, y] of [
        ['a', 'c'],
        ['b', 'c'],
        ['c', 'a'],
      ] as const) {
        const p = (await mesh.status(x)).peers.find((q) => q.id === y);
        expect(p?.path, `${x}->${y}`).to.equal('direct');
      }
      const text = await mesh.statusText('a');
      expect(text).to.match(/^\s*b\s+127\.0\.0\.1:\d+\s+relay\s/m);
    });

    it('the relay host sees the relayed datagrams but never the plaintext marker sent a -> b over the mesh', async () => {
      const mesh = m();
      const [a, b] = [mesh.node('a'), mesh.node('b')];
      const relayHost = mesh.relayHost!;
      const echo4 = await b.host.udpEchoServer(7777);
      const echo6 = await b.host.udpEchoServer(7778, { bind: '::' });
      const clearEcho = await relayHost.udpEchoServer(7779);
      try {
        const marker4 = `RUSTYNET-RELAY-MARKER-${randomBytes(12).toString('hex')}`;
        const marker6 = `RUSTYNET-RELAY-MARKER-${randomBytes(12).toString('hex')}`;
        const cap = await relayHost.capture({ filter: ['udp'] });
        const reply4 = await a.host.udpSend(b.v4, 7777, marker4, { attempts: 5 });
        const reply6 = await a.host.udpSend(b.v6, 7778, marker6, { attempts: 5 });
        const pcap = await cap.stop();
        expect(reply4?.toString(), 'IPv4 echo a -> b over the relayed mesh').to.equal(marker4);
        expect(reply6?.toString(), 'IPv6 echo a -> b over the relayed mesh').to.equal(marker6);
        const packets = parsePcap(pcap);
        // request a->relay and echo b->relay at least, for both families
        expect(relayedFrom(packets, a.host.underlayAddress).length, 'relay DATA datagrams from a').to.be.at.least(2);
        expect(relayedFrom(packets, b.host.underlayAddress).length, 'relay DATA datagrams from b').to.be.at.least(2);
        expect(pcap.includes(Buffer.from(marker4)), 'IPv4 marker in the capture on the relay host').to.equal(false);
        expect(pcap.includes(Buffer.from(marker6)), 'IPv6 marker in the capture on the relay host').to.equal(false);
        for (const p of (await mesh.status('a')).peers) if (p.id === 'b') expect(p.path).to.equal('relay');

        // Control: the same kind of capture does see a marker sent in clear to the relay host.
        const clear = `RUSTYNET-CLEAR-${randomBytes(12).toString('hex')}`;
        const cap2 = await relayHost.capture({ filter: ['udp'] });
        const replyClear = await a.host.udpSend(relayHost.underlayAddress, 7779, clear, { attempts: 3 });
        const pcap2 = await cap2.stop();
        expect(replyClear?.toString()).to.equal(clear);
        expect(pcap2.includes(Buffer.from(clear)), 'control marker seen in clear').to.equal(true);
      } finally {
        await echo4.close();
        await echo6.close();
        await clearEcho.close();
      }
    });

    it(`returns a<->b to the direct path within ${TO_DIRECT_MS / 1000} s of the unblock; the relay then carries none of its traffic`, async () => {
      const mesh = m();
      const [a, b] = [mesh.node('a'), mesh.node('b')];
      const tUnblock = await mesh.unblockDirect('a', 'b');
      const tDirect = await mesh.waitForPath(
        [
          ['a', 'b'],
          ['b', 'a'],
        ],
        'direct',
        30_000,
      );
      times['unblockToDirectStatusMs'] = tDirect - tUnblock;
      expect(tDirect - tUnblock, 'unblock -> both daemons report direct (ms)').to.be.at.most(TO_DIRECT_MS);
      await pinger!.stop();
      const replies = pinger!.replies;
      const gaps = replies.slice(1).map((t, i) => t - replies[i]);
      times['longestPingGapMs'] = Math.max(0, ...gaps);

      const cap = await mesh.relayHost!.capture({ filter: ['udp'] });
      const results = await mesh.pingMatrix(3, [
        ['a', 'b'],
        ['b', 'a'],
      ]);
      const pcap = await cap.stop();
      const failed = results.filter((r) => !r.ok).map((r) => `${r.from}->${r.to} ${r.address}`);
      expect(failed, `a<->b pings on the direct path${failed.length > 0 ? await diagnose(mesh, ['a', 'b']) : ''}`).to.deep.equal([]);
      const packets = parsePcap(pcap);
      expect(relayedFrom(packets, a.host.underlayAddress).length, 'relay DATA from a after the return').to.equal(0);
      expect(relayedFrom(packets, b.host.underlayAddress).length, 'relay DATA from b after the return').to.equal(0);
      const text = await mesh.statusText('a');
      expect(text).to.match(new RegExp(`^\\s*b\\s+${b.host.underlayAddress.replace(/\./g, '\\.')}:\\d+\\s+direct\\s`, 'm'));
    });

    it('cleanup leaves no daemon, relay server, interface, socket, namespace or file', async () => {
      const mesh = m();
      const exits = await mesh.stopDaemons();
      for (const [id, e] of Object.entries(exits)) expect(e, `exit of rustynetd on ${id}`).to.deep.equal({ code: 0, signal: null });
      const relay = await mesh.stopRelayServer();
      expect(relay?.exit, 'exit of the relay server').to.deep.equal({ code: 0, signal: null });
      expect(relay?.output).to.match(/forwarded [1-9]\d* datagrams/);
      expect(await mesh.leftovers(), 'left behind in the namespaces').to.deep.equal([]);
      await mesh.destroy();
      expect(await mesh.leftovers({ namespacesGone: true }), 'left behind after teardown').to.deep.equal([]);
    });
  },
);
