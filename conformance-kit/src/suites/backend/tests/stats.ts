import type { KitTest } from '../../define.js';
import { ECHO_UDP_PORT, type BackendFixture } from '../fixture.js';
import { expectPing, peerStat } from './helpers.js';

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
];
