/**
 * Integration test (root): UDP to the relay blocked -> the TLS carrier (docs/relay.md, "TLS carrier").
 *
 * A 3-node mesh of real `rustynetd` processes plus a relay host whose `rustynet relay serve` has
 * its identity key and therefore its TLS carrier on TCP 443. Before the daemons start, nodes a and
 * b drop every UDP datagram to the relay (an nftables table in their own namespaces): their relay
 * clients must register through the TLS carrier. Then the direct path a<->b is blocked: a<->b
 * traffic must flow through the relay over TLS within 5 s of the block, on both backends, and a
 * marker sent over the mesh must never appear in a capture on the relay host (which does see the
 * TLS connection on TCP 443 and no relay UDP from a). Prints its times.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { Mesh, RELAY_PORT, parsePcap, sleep } from '@rustynet/testbed';
import { created, describeEachRelayBackend, startMesh } from './mesh-fixture.js';

const BACKENDS: string[] = ['@rustynet/backend-wireguard', '@rustynet/backend-openvpn'];
/** Bound from issue 16 ("Must show"). */
const TO_TLS_MS = 5_000;

/** Drops every UDP datagram from `id` to the relay's UDP port (own table in the node's namespace). */
async function blockRelayUdp(mesh: Mesh, id: string): Promise<void> {
  const relay = mesh.relayHost!.underlayAddress;
  const script = `table inet rn_relay2_udp {\n chain out {\n  type filter hook output priority 0; policy accept;\n  ip daddr ${relay} udp dport ${RELAY_PORT} drop\n }\n}\n`;
  await mesh.node(id).host.exec('nft', ['-f', '-'], { input: script });
}

await describeEachRelayBackend(
  BACKENDS,
  (backend) => `relay TLS carrier: UDP to the relay blocked (${backend})`,
  function (backend) {
    this.timeout(150_000);
    let mesh: Mesh | undefined;
    const times: Record<string, number> = {};
    const m = (): Mesh => created(mesh);

    before(async function () {
      mesh = await startMesh(backend, { relay: true, logLevel: 'info' }, 1, {
        beforeDaemons: (mesh) => Promise.all(['a', 'b'].map((id) => blockRelayUdp(mesh, id))),
      });
    });

    after(async () => {
      await mesh?.destroy();
      if (Object.keys(times).length > 0) console.log(`      measured: ${JSON.stringify(times)}`);
    });

    it(`a<->b flows through the TLS carrier within ${TO_TLS_MS / 1000} s of the direct block; the relay host never sees the marker`, async () => {
      const mesh = m();
      const [a, b] = [mesh.node('a'), mesh.node('b')];
      await mesh.waitFor((_id, s) => s.state === 'up', 'all up', 30_000);
      // the relay clients of a and b registered over TLS (UDP to the relay is dropped)
      for (const id of ['a', 'b']) {
        const end = Date.now() + 20_000;
        while (!(await mesh.tail(id, 400)).includes('"carrier":"tls"') && Date.now() < end) await sleep(200);
        expect(await mesh.tail(id, 400), `${id} registered through the TLS carrier`).to.include('"carrier":"tls"');
      }
      const pinger = mesh.continuousPing('a', b.v4, 0.1);
      expect(await pinger.firstReplyAfter(Date.now(), 5_000), 'pings before the block').to.not.equal(null);
      const cap = await mesh.relayHost!.capture({});
      const tBlock = await mesh.blockDirect('a', 'b');
      const tReply = await pinger.firstReplyAfter(tBlock + 50, 15_000);
      times['blockToFirstReplyOverTlsMs'] = tReply === null ? -1 : tReply - tBlock;
      await pinger.stop();
      expect(tReply, 'a ping reply through the TLS carrier').to.not.equal(null);
      expect(tReply! - tBlock, 'block -> first reply through the TLS carrier (ms)').to.be.at.most(TO_TLS_MS);
      const tRelay = await mesh.waitForPath(
        [
          ['a', 'b'],
          ['b', 'a'],
        ],
        'relay',
        10_000,
      );
      times['blockToRelayStatusMs'] = tRelay - tBlock;

      const echo = await b.host.udpEchoServer(7777);
      try {
        const marker = `RUSTYNET-TLS-MARKER-${randomBytes(12).toString('hex')}`;
        const reply = await a.host.udpSend(b.v4, 7777, marker, { attempts: 5 });
        expect(reply?.toString(), 'echo a -> b over the TLS carrier').to.equal(marker);
        const pcap = await cap.stop();
        const packets = parsePcap(pcap);
        const tlsFromA = packets.filter((p) => p.protocol === 6 && p.src === a.host.underlayAddress && p.dstPort === 443);
        const udpFromA = packets.filter((p) => p.protocol === 17 && p.src === a.host.underlayAddress && p.dstPort === RELAY_PORT);
        times['tlsSegmentsFromA'] = tlsFromA.length;
        expect(tlsFromA.length, 'TCP 443 segments from a at the relay host').to.be.at.least(2);
        expect(udpFromA.length, 'relay UDP from a at the relay host').to.equal(0);
        expect(pcap.includes(Buffer.from(marker)), 'marker in the capture on the relay host').to.equal(false);
      } finally {
        await echo.close();
      }
      await mesh.unblockDirect('a', 'b');
    });
  },
);
