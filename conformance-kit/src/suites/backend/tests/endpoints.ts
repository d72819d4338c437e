import { isIPv6 } from 'node:net';
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
  {
    id: 'backend.endpoints.ipv6-underlay',
    title:
      'peers whose endpoints are IPv6 underlay addresses carry traffic both ways with the IPv4 underlay between them cut; stats() reports the IPv6 endpoint',
    gate: 'ipv6',
    deadlineMs: 30_000,
    sessionWaits: 1,
    skipIf: (fx) =>
      fx.caps.ipv6 ? undefined : 'the plugin does not claim ipv6 (an IPv6 endpoint must then be refused: backend.bad-input.bad-endpoint)',
    async run(t, fx) {
      await fx.mesh();
      const { a, b, c } = fx.nodes;
      t.begin(`give a and b IPv6 underlay addresses (${UNDERLAY6_A}, ${UNDERLAY6_B})`);
      const addrs: Array<[typeof a, string]> = [
        [a, UNDERLAY6_A],
        [b, UNDERLAY6_B],
      ];
      await Promise.all(addrs.map(([n, ip]) => n.host.exec('ip', ['addr', 'replace', `${ip}/64`, 'dev', 'eth0', 'nodad'])));
      try {
        t.begin("cut the IPv4 underlay between a and b; each gets the other's IPv6 endpoint by upsert");
        await a.host.blockPath(b.host);
        await t.ok(
          'applyPeers on a',
          fx.applyPeers(a, { upsert: [{ ...fx.peerOf(b), endpoint: { host: UNDERLAY6_B, port: LISTEN_PORT } }] }),
        );
        await t.ok(
          'applyPeers on b',
          fx.applyPeers(b, { upsert: [{ ...fx.peerOf(a), endpoint: { host: UNDERLAY6_A, port: LISTEN_PORT } }] }),
        );
        await expectSession(t, fx, a, b.ip4, 'a -> b over the IPv6 underlay', 5);
        await expectPing(t, fx, b, a.ip4, 'b -> a over the IPv6 underlay');
        await expectPing(t, fx, a, b.ip6, 'IPv6 in the tunnel over the IPv6 underlay');
        t.begin('stats() reports the IPv6 endpoint, if it reports one');
        const st = await t.ok('stats', fx.stats(a));
        const ep = peerStat(st, 'b')?.endpoint;
        t.check(
          ep === undefined || ep === null || (canonicalHost(ep.host) === UNDERLAY6_B && ep.port === LISTEN_PORT),
          "stats() of a does not report b's IPv6 endpoint",
          `${UNDERLAY6_B} port ${LISTEN_PORT}`,
          ep,
        );
        await expectPing(t, fx, a, c.ip4, 'c is untouched');
      } finally {
        await a.host.unblockPath(b.host);
        await Promise.all(addrs.map(([n, ip]) => n.host.exec('ip', ['addr', 'del', `${ip}/64`, 'dev', 'eth0'], { reject: false })));
        fx.dirty = true; // a's and b's endpoints for each other changed
      }
    },
  },
];

/** IPv6 underlay addresses of backend.endpoints.ipv6-underlay (a ULA prefix, RFC 4193), canonical form. */
const UNDERLAY6_A = 'fd5b:6b69:7400::1';
const UNDERLAY6_B = 'fd5b:6b69:7400::2';

/** An IP literal in canonical form (RFC 5952 for IPv6, as the WHATWG URL parser writes it); other strings as they are. */
function canonicalHost(host: string): string {
  if (!isIPv6(host.replace(/^\[|\]$/g, ''))) return host;
  return new URL(`http://[${host.replace(/^\[|\]$/g, '')}]/`).hostname.slice(1, -1);
}
