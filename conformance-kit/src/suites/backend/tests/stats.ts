import type { PeerStats } from '@rustynet/plugin-api';
import type { KitTest } from '../../define.js';
import type { StepContext } from '../../step-context.js';
import { ECHO_UDP_PORT, LISTEN_PORT, type BackendFixture, type SuiteNode } from '../fixture.js';
import { expectPing, peerStat } from './helpers.js';
import { udpSink } from './traffic.js';

/** UDP port of the sinks of the one-way counter test. */
const ONE_WAY_PORT = 7011;

/** The stats entry of `id` on `n`, failing when it is missing. */
async function statOf(t: StepContext, fx: BackendFixture, n: SuiteNode, id: string): Promise<PeerStats> {
  const st = await t.ok('stats', fx.stats(n));
  return t.need(
    peerStat(st, id),
    `peer ${id} missing from stats() of ${n.name}`,
    id,
    st.peers.map((p) => p.id),
  );
}

type T = KitTest<BackendFixture>;

export const statsTests: T[] = [
  {
    id: 'backend.stats.counters-move',
    title: 'stats() lists existing interfaces and per-peer byte counters that grow when traffic flows',
    async run(t, fx) {
      await fx.mesh();
      const { a, b } = fx.nodes;
      t.begin('stats before');
      const s1 = await t.ok('stats', fx.stats(a));
      t.check(
        Array.isArray(s1.interfaces) && s1.interfaces.length > 0,
        'stats().interfaces is empty',
        'the tunnel interface(s)',
        s1.interfaces,
      );
      const links = (await a.host.exec('ip', ['-o', 'link', 'show'])).stdout;
      for (const i of s1.interfaces)
        t.check(links.includes(`: ${i}:`) || links.includes(`: ${i}@`), `interface ${i} reported by stats() does not exist`, i, links);
      const p1 = t.need(
        peerStat(s1, 'b'),
        'peer b missing from stats()',
        'b',
        s1.peers.map((p) => p.id),
      );
      t.begin('send 20 x 1000 bytes a -> b');
      const n = await a.host.udpEchoMany(
        b.ip4,
        ECHO_UDP_PORT,
        Array.from({ length: 20 }, (_, i) => Buffer.alloc(1000, i)),
      );
      t.check(n > 0, 'no echo through the tunnel', '> 0', n);
      t.begin('stats after');
      const s2 = await t.ok('stats', fx.stats(a));
      const p2 = t.need(
        peerStat(s2, 'b'),
        'peer b missing from stats()',
        'b',
        s2.peers.map((p) => p.id),
      );
      t.check(p2.txBytes >= p1.txBytes + 20_000, 'txBytes did not grow by the bytes sent', `>= ${p1.txBytes + 20_000}`, p2.txBytes);
      t.check(p2.rxBytes >= p1.rxBytes + n * 1000, 'rxBytes did not grow by the bytes echoed', `>= ${p1.rxBytes + n * 1000}`, p2.rxBytes);
      t.check(Number.isFinite(p2.rxBytes) && Number.isFinite(p2.txBytes), 'counters are not numbers', 'numbers', p2);
    },
  },
  {
    id: 'backend.stats.handshake',
    title: 'stats() reports a recent lastHandshakeAt after traffic',
    gate: 'handshakeStats',
    skipIf: (fx) => (fx.caps.handshakeStats ? undefined : 'the plugin does not claim the handshakeStats capability'),
    async run(t, fx) {
      await fx.mesh();
      const { a, c } = fx.nodes;
      const t0 = Date.now();
      await expectPing(t, fx, a, c.ip4);
      t.begin('stats');
      const st = await t.ok('stats', fx.stats(a));
      const p = t.need(
        peerStat(st, 'c'),
        'peer c missing from stats()',
        'c',
        st.peers.map((x) => x.id),
      );
      const hs = t.need(p.lastHandshakeAt, 'no handshake time after traffic', 'ms since the epoch', p.lastHandshakeAt);
      // clocks: allow 10 minutes back (handshakes are not redone on every packet) and 5 s ahead
      t.check(
        hs > t0 - 600_000 && hs < Date.now() + 5000,
        'lastHandshakeAt is not a recent epoch time in ms',
        `within [${t0 - 600_000}, now]`,
        hs,
      );
    },
  },
  {
    id: 'backend.stats.handshake-window',
    title: 'lastHandshakeAt is null for a peer before any traffic, and afterwards between the start of the traffic and now',
    gate: 'handshakeStats',
    deadlineMs: 40_000,
    skipIf: (fx) => (fx.caps.handshakeStats ? undefined : 'the plugin does not claim the handshakeStats capability'),
    async run(t, fx) {
      await fx.mesh();
      const { a, d } = fx.nodes;
      await fx.stop(d).catch(() => undefined);
      try {
        t.begin('a: add peer d (d is not running yet)');
        await t.ok('applyPeers + applyRoutes', fx.connect(a, [fx.peerOf(d)]));
        t.begin('before any traffic');
        const before = await statOf(t, fx, a, 'd');
        t.equal(before.lastHandshakeAt, null, 'lastHandshakeAt of a peer that never answered must be null');
        const t0 = Date.now();
        t.begin('start d with peer a, then traffic a -> d');
        await t.ok('start d', fx.start(d));
        await t.ok('applyPeers + applyRoutes on d', fx.connect(d, [fx.peerOf(a)]));
        t.check(await fx.ping(a, d.ip4, 5), `no reply from ${d.ip4}`, 'reply', 'no reply');
        t.begin('after the traffic');
        const hs = t.need((await statOf(t, fx, a, 'd')).lastHandshakeAt, 'no lastHandshakeAt after traffic', 'ms since the epoch', null);
        const now = Date.now();
        // 1 s of slack below: some data planes report whole seconds
        t.check(
          hs >= t0 - 1000 && hs <= now + 1000,
          'lastHandshakeAt is not between the start of the traffic and now',
          `[${t0 - 1000}, ${now + 1000}]`,
          hs,
        );
      } finally {
        await fx.disconnect(a, [fx.peerOf(d)]).catch(() => undefined);
        await fx.stop(d).catch(() => undefined);
      }
    },
  },
  {
    id: 'backend.stats.one-way-counters',
    title: 'one-way traffic moves the right counter by at least the bytes sent and the other one much less',
    deadlineMs: 30_000,
    async run(t, fx) {
      await fx.mesh();
      const { a, b } = fx.nodes;
      const sinks = await Promise.all([udpSink(a.host, ONE_WAY_PORT), udpSink(b.host, ONE_WAY_PORT)]);
      try {
        const n = 40;
        const size = 1000;
        const sent = n * size;
        const payloads = Array.from({ length: n }, (_, i) => Buffer.alloc(size, i));
        for (const [from, to, counter] of [
          [a, b, 'txBytes'],
          [b, a, 'rxBytes'],
        ] as const) {
          t.begin(`${from.name} -> ${to.name}: ${n} x ${size} bytes, nothing comes back`);
          const s1 = await statOf(t, fx, a, 'b');
          await from.host.udpEchoMany(to.ip4, ONE_WAY_PORT, payloads, { timeoutMs: 300 });
          const got = () => sinks[to === a ? 0 : 1].received().length;
          for (let i = 0; i < 20 && got() < n * 0.9; i++) await new Promise((r) => setTimeout(r, 50));
          const s2 = await statOf(t, fx, a, 'b');
          const other = counter === 'txBytes' ? 'rxBytes' : 'txBytes';
          const moved = s2[counter] - s1[counter];
          const back = s2[other] - s1[other];
          t.check(
            moved >= got() * size,
            `a's ${counter} for b moved by less than the ${got() * size} bytes delivered`,
            `>= ${got() * size}`,
            moved,
          );
          t.check(back < sent / 4, `a's ${other} for b moved by ${back} bytes with traffic only the other way`, `< ${sent / 4}`, back);
        }
      } finally {
        await Promise.all(sinks.map((s) => s.close()));
      }
    },
  },
  {
    id: 'backend.stats.endpoint-reported',
    title:
      "stats() reports each peer's endpoint as set by applyPeers and updatePeerEndpoint; one peer's update leaves the others' stats alone",
    async run(t, fx) {
      await fx.mesh();
      const { a, b, c } = fx.nodes;
      await expectPing(t, fx, a, c.ip4, 'traffic to c first');
      t.begin('after applyPeers');
      for (const p of [b, c]) {
        const s = await statOf(t, fx, a, p.name);
        t.equal(s.endpoint ?? null, fx.peerOf(p).endpoint, `${p.name}'s endpoint in a's stats() after applyPeers`);
      }
      if (!fx.caps.roaming) return;
      const c1 = await statOf(t, fx, a, 'c');
      const moved = { host: '198.18.0.122', port: LISTEN_PORT + 7 };
      t.begin(`updatePeerEndpoint(b, ${moved.host}:${moved.port})`);
      await t.ok('updatePeerEndpoint', a.plugin.call('updatePeerEndpoint', ['b', moved]));
      try {
        t.equal((await statOf(t, fx, a, 'b')).endpoint ?? null, moved, "b's endpoint in a's stats() after updatePeerEndpoint");
        t.begin("c's stats are untouched by b's update");
        const c2 = await statOf(t, fx, a, 'c');
        t.equal(c2.endpoint ?? null, c1.endpoint ?? null, "c's endpoint after b's update");
        t.check(c2.rxBytes >= c1.rxBytes && c2.txBytes >= c1.txBytes, "c's counters went back after b's update", c1, c2);
        if (fx.caps.handshakeStats) t.equal(c2.lastHandshakeAt, c1.lastHandshakeAt, "c's lastHandshakeAt after b's update");
      } finally {
        t.begin("restore b's endpoint");
        await t.ok('updatePeerEndpoint', a.plugin.call('updatePeerEndpoint', ['b', fx.peerOf(b).endpoint]));
      }
      t.equal((await statOf(t, fx, a, 'b')).endpoint ?? null, fx.peerOf(b).endpoint, "b's endpoint in a's stats() after restoring it");
    },
  },
];
