import { ip4Packets } from '../../../harness/pcap.js';
import type { KitTest } from '../../define.js';
import type { BackendFixture } from '../fixture.js';
import { expectPing, peerStat } from './helpers.js';
import { steadyPing } from './traffic.js';

type T = KitTest<BackendFixture>;

export const capabilityTests: T[] = [
  {
    id: 'backend.capabilities.allowed-ips-update',
    title: "changing a peer's allowed IPs keeps its session: no loss, no new handshake, counters continue",
    gate: 'allowedIpsUpdate',
    deadlineMs: 30_000,
    skipIf: (fx) => (fx.caps.allowedIpsUpdate ? undefined : 'the plugin does not claim the allowedIpsUpdate capability'),
    async run(t, fx) {
      await fx.mesh();
      const { a, b } = fx.nodes;
      await expectPing(t, fx, a, b.ip4, 'traffic first');
      const p1 = t.need(peerStat(await t.ok('stats', fx.stats(a)), 'b'), 'peer b missing from stats()', 'b', null);
      t.begin('a: add and then drop an allowed IP of b while pinging b every 100 ms');
      const pinging = steadyPing(a.host, b.ip4, 3000, 100);
      await new Promise((r) => setTimeout(r, 500));
      await t.ok('applyPeers (b + 100.64.203.0/24)', fx.applyPeers(a, { upsert: [fx.peerOf(b, ['100.64.203.0/24'])] }));
      await new Promise((r) => setTimeout(r, 1000));
      await t.ok('applyPeers (b baseline)', fx.applyPeers(a, { upsert: [fx.peerOf(b)] }));
      const pings = await pinging;
      t.check(
        pings.sent - pings.received <= 1,
        'pings to b were lost while its allowed IPs changed (a reconnect?)',
        `<= 1 lost of ${pings.sent}`,
        pings.sent - pings.received,
      );
      const p2 = t.need(peerStat(await t.ok('stats', fx.stats(a)), 'b'), 'peer b missing from stats()', 'b', null);
      t.check(p2.txBytes > p1.txBytes && p2.rxBytes > p1.rxBytes, "b's counters restarted: the allowed IP change reconnected", p1, p2);
      if (fx.caps.handshakeStats) t.equal(p2.lastHandshakeAt, p1.lastHandshakeAt, 'the allowed IP change caused a new handshake');
    },
  },
  {
    id: 'backend.capabilities.udp-transport',
    title: "traffic to a peer travels only as UDP datagrams between the node and the peer's underlay host",
    gate: 'udpTransport',
    skipIf: (fx) => (fx.caps.udpTransport ? undefined : 'the plugin does not claim the udpTransport capability'),
    async run(t, fx) {
      await fx.mesh();
      const { a, b } = fx.nodes;
      const host = b.host.underlayAddress;
      t.begin(`capture a's underlay to and from ${host} while pinging b through the tunnel`);
      const cap = await a.host.capture({ filter: ['ip', 'and', 'host', host] });
      const pings = await steadyPing(a.host, b.ip4, 1500, 100).finally(() => cap.stop());
      const bytes = await cap.stop();
      t.check(pings.received > 0, 'no traffic through the tunnel', '> 0 replies', pings.received);
      const pkts = ip4Packets(bytes);
      const udp = pkts.filter((p) => p.protocol === 17).length;
      t.check(udp >= pings.received, 'fewer UDP datagrams than pings answered', `>= ${pings.received}`, udp);
      const other = pkts.filter((p) => p.protocol !== 17).map((p) => `${p.src} -> ${p.dst} protocol ${p.protocol}`);
      t.check(other.length === 0, `packets other than UDP between a and ${host}: a relay cannot carry them`, 'UDP only', other.slice(0, 5));
    },
  },
];
