import { udpPackets } from '../../../harness/pcap.js';
import type { KitTest } from '../../define.js';
import { LISTEN_PORT, type BackendFixture } from '../fixture.js';
import { expectPing, expectSession, peerStat } from './helpers.js';
import { steadyPing } from './traffic.js';

type T = KitTest<BackendFixture>;

export const endpointTests: T[] = [
  {
    id: 'backend.endpoints.roaming',
    title: 'updatePeerEndpoint moves a peer to a new endpoint while traffic flows (old path blocked)',
    gate: 'roaming',
    deadlineMs: 30_000,
    skipIf: (fx) => (fx.caps.roaming ? undefined : 'the plugin does not claim the roaming capability'),
    async run(t, fx) {
      await fx.mesh();
      const { a, b } = fx.nodes;
      const alt = '198.18.0.102';
      t.begin('give b a second underlay address');
      await b.host.exec('ip', ['addr', 'replace', `${alt}/24`, 'dev', 'eth0']);
      try {
        await expectPing(t, fx, a, b.ip4, 'before the move');
        t.begin(`updatePeerEndpoint(b, ${alt}:${LISTEN_PORT})`);
        await t.ok('updatePeerEndpoint', a.plugin.call('updatePeerEndpoint', ['b', { host: alt, port: LISTEN_PORT }]));
        t.begin("block a's old path to b");
        await a.host.blockPath(b.host);
        await expectPing(t, fx, a, b.ip4, 'old path blocked, new endpoint in use');
        t.begin('stats() reports the new endpoint');
        const st = await t.ok('stats', fx.stats(a));
        t.equal(peerStat(st, 'b')?.endpoint ?? null, { host: alt, port: LISTEN_PORT }, "b's endpoint in a's stats()");
        t.begin('c is untouched');
        await expectPing(t, fx, a, fx.nodes.c.ip4, 'other peers keep their endpoint');
      } finally {
        await a.host.unblockPath(b.host);
        await b.host.exec('ip', ['addr', 'del', `${alt}/24`, 'dev', 'eth0'], { reject: false });
        fx.dirty = true; // a's endpoint for b changed
      }
    },
  },
  {
    id: 'backend.endpoints.unsupported-without-roaming',
    title: 'without the roaming capability, updatePeerEndpoint fails with UNSUPPORTED and changes nothing',
    gate: '!roaming',
    skipIf: (fx) => (fx.caps.roaming ? 'the plugin claims roaming (backend.endpoints.roaming applies instead)' : undefined),
    async run(t, fx) {
      await fx.mesh();
      const { a, b } = fx.nodes;
      t.begin('updatePeerEndpoint');
      await t.rejects(
        'updatePeerEndpoint',
        a.plugin.call('updatePeerEndpoint', ['b', { host: '198.18.0.102', port: LISTEN_PORT }]),
        'UNSUPPORTED',
      );
      await expectPing(t, fx, a, b.ip4, 'unchanged');
    },
  },
  {
    id: 'backend.endpoints.roaming-sticks',
    title: 'after updatePeerEndpoint traffic flows for 5 s and the underlay shows packets to the new endpoint only',
    gate: 'roaming',
    deadlineMs: 30_000,
    skipIf: (fx) => (fx.caps.roaming ? undefined : 'the plugin does not claim the roaming capability'),
    async run(t, fx) {
      await fx.mesh();
      const { a, b } = fx.nodes;
      const alt = '198.18.0.112';
      const old = b.host.underlayAddress;
      const table = 'rnkit_roam';
      t.begin('give b a second underlay address');
      await b.host.exec('ip', ['addr', 'replace', `${alt}/24`, 'dev', 'eth0']);
      try {
        await expectPing(t, fx, a, b.ip4, 'before the move');
        // Only inbound: b's packets from its old address must not teach a the old endpoint
        // (WireGuard-style roaming), while a's own packets to the old address stay visible.
        t.begin(`a drops inbound underlay packets from ${old}`);
        await a.host.exec('nft', ['-f', '-'], {
          input: `table inet ${table} {\n chain in { type filter hook input priority -20; policy accept; ip saddr ${old} drop; }\n}\n`,
        });
        t.begin(`updatePeerEndpoint(b, ${alt}:${LISTEN_PORT})`);
        await t.ok('updatePeerEndpoint', a.plugin.call('updatePeerEndpoint', ['b', { host: alt, port: LISTEN_PORT }]));
        const cap = await a.host.capture({ filter: ['udp'] });
        t.begin('ping a -> b every 200 ms for 5.4 s');
        const pings = await steadyPing(a.host, b.ip4, 5400, 200).finally(() => cap.stop());
        const bytes = await cap.stop();
        const lost = pings.sent - pings.received;
        const tail = Array.from({ length: 5 }, (_, i) => pings.sent - i).filter((s) => !pings.replied.includes(s));
        t.check(
          lost <= Math.ceil(pings.sent / 10) && tail.length === 0,
          'traffic to b did not keep flowing after the endpoint change',
          `>= 90 % replies and the last 5 answered (of ${pings.sent})`,
          { received: pings.received, unansweredAtTheEnd: tail },
        );
        t.begin('the underlay capture after the switch');
        const pkts = udpPackets(bytes).filter((p) => p.src === a.host.underlayAddress);
        const toNew = pkts.filter((p) => p.dst === alt).length;
        const toOld = pkts.filter((p) => p.dst === old);
        t.check(toNew > 0, `no packet from a to the new endpoint ${alt}`, '> 0', toNew);
        t.check(
          toOld.length === 0,
          `a still (or again) sends to b's old address ${old} after the endpoint change`,
          'no packet to the old endpoint',
          `${toOld.length} packets, the first ${toOld[0] ? toOld[0].timeMs - (pkts[0]?.timeMs ?? 0) : 0} ms into the capture`,
        );
        t.begin('stats() still reports the new endpoint');
        const st = await t.ok('stats', fx.stats(a));
        t.equal(peerStat(st, 'b')?.endpoint ?? null, { host: alt, port: LISTEN_PORT }, "b's endpoint in a's stats() after 5 s");
      } finally {
        await a.host.exec('nft', ['delete', 'table', 'inet', table], { reject: false });
        await b.host.exec('ip', ['addr', 'del', `${alt}/24`, 'dev', 'eth0'], { reject: false });
        fx.dirty = true; // a's endpoint for b changed
      }
    },
  },
  {
    id: 'backend.endpoints.upsert-new-endpoint',
    title: "an upsert carrying a peer's new endpoint moves traffic there (old path cut after the upsert), with or without roaming",
    deadlineMs: 30_000,
    sessionWaits: 1,
    async run(t, fx) {
      await fx.mesh();
      const { a, b, c } = fx.nodes;
      const alt = '198.18.0.103';
      t.begin('give b a second underlay address');
      await b.host.exec('ip', ['addr', 'replace', `${alt}/24`, 'dev', 'eth0']);
      try {
        await expectPing(t, fx, a, b.ip4, 'before the change');
        t.begin(`applyPeers(upsert b with endpoint ${alt}:${LISTEN_PORT}), then cut a's path to b's old address`);
        await t.ok('applyPeers', fx.applyPeers(a, { upsert: [{ ...fx.peerOf(b), endpoint: { host: alt, port: LISTEN_PORT } }] }));
        await a.host.blockPath(b.host);
        await expectSession(t, fx, a, b.ip4, 'old path cut: only the endpoint of the upsert works', 5);
        t.begin('stats() reports the new endpoint, if it reports one');
        const st = await t.ok('stats', fx.stats(a));
        const ep = peerStat(st, 'b')?.endpoint;
        t.check(ep === undefined || ep === null || ep.host === alt, "stats() reports b's old endpoint after the upsert", alt, ep);
        await expectPing(t, fx, a, c.ip4, 'c is untouched');
      } finally {
        await a.host.unblockPath(b.host);
        await b.host.exec('ip', ['addr', 'del', `${alt}/24`, 'dev', 'eth0'], { reject: false });
        fx.dirty = true; // a's endpoint for b changed
      }
    },
  },
];
