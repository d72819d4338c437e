import { claimsPersistentKeepalive } from '@rustynet/plugin-api';
import { udpPackets } from '../../../harness/pcap.js';
import type { KitTest } from '../../define.js';
import { ECHO_UDP_PORT, type BackendFixture } from '../fixture.js';
import { isHandshake } from './handshakes.js';
import { expectNoPing, expectPing, expectSession, peerIds, peerStat, whoami, withLoopback } from './helpers.js';
import { expectDelivery } from './delivery.js';
import type { StepContext } from '../../step-context.js';

type T = KitTest<BackendFixture>;

/** An extra address of b that its allowed IPs on a gain and lose, per address family. */
const SHRINK_EXTRA = { 4: '100.64.201.1', 6: 'fd00:7e57::c9:1' } as const;

/**
 * b's allowed IPs on a gain an extra address of b (`family`): it answers as b and b can send from
 * it; after an upsert of b without it (the route via b still in place) it no longer answers and a
 * datagram from b with that source is not delivered on a, while one from b's own address is.
 */
async function shrinkAllowedIps(t: StepContext, fx: BackendFixture, family: 4 | 6): Promise<void> {
  await fx.mesh();
  const { a, b } = fx.nodes;
  const extra = SHRINK_EXTRA[family];
  const cidr = `${extra}/${family === 4 ? 32 : 128}`;
  const [own, to] = family === 4 ? [b.ip4, a.ip4] : [b.ip6, a.ip6];
  await withLoopback([b], cidr, async () => {
    // b's UDP echo server listens on IPv4 only: an IPv6 one on the extra address answers as b
    const echo6 = family === 6 ? await b.host.udpEchoServer(ECHO_UDP_PORT, { bind: extra }) : undefined;
    try {
      t.begin(`a: b's allowed IPs include ${cidr} (+ route)`);
      await t.ok('applyPeers + applyRoutes', fx.connect(a, [fx.peerOf(b, [cidr])]));
      t.begin(`${extra} answers as b`);
      t.equal(await whoami(a, extra), 'b', `traffic for ${extra} should reach b`);
      await expectDelivery(t, fx, b, [{ src: extra, want: true, why: `${cidr} is an allowed IP of b` }], to);
      t.begin(`a: upsert b without ${cidr} (the route via b stays, as between the daemon's two calls)`);
      await t.ok('applyPeers', fx.applyPeers(a, { upsert: [fx.peerOf(b)] }));
      t.begin(`${extra} must no longer reach b`);
      const w = await whoami(a, extra, 1, 700);
      t.check(w === null, `traffic for ${extra} still reaches ${w ?? '?'} after b's allowed IPs shrank`, 'no answer', w);
      await expectDelivery(
        t,
        fx,
        b,
        [
          { src: extra, want: false, why: `${cidr} is no longer an allowed IP of b` },
          { src: own, want: true, why: "b's own address is still allowed" },
        ],
        to,
      );
      t.begin('remove the route');
      await t.ok('applyRoutes', fx.applyRoutes(a, { remove: [{ destination: cidr, peer: 'b' }] }));
    } finally {
      await echo6?.close();
    }
  });
}

export const changeTests: T[] = [
  {
    id: 'backend.changes.shrink-allowed-ips',
    title: 'an upsert that drops a prefix from a peer stops traffic to it and from it at once (routes still in place)',
    deadlineMs: 30_000,
    run: (t, fx) => shrinkAllowedIps(t, fx, 4),
  },
  {
    id: 'backend.changes.shrink-allowed-ips-ipv6',
    title: 'the same for an IPv6 prefix: an upsert that drops it from a peer stops traffic to it and from it at once',
    gate: 'ipv6',
    deadlineMs: 30_000,
    skipIf: (fx) => (fx.caps.ipv6 ? undefined : `${fx.manifest.name} does not claim ipv6`),
    run: (t, fx) => shrinkAllowedIps(t, fx, 6),
  },
  {
    id: 'backend.changes.rekey-peer',
    title: "changing a peer's public key: the old key gets no handshake and no traffic, the new key works",
    deadlineMs: 40_000,
    sessionWaits: 1,
    covers: ['sessionReestablishSeconds'],
    async run(t, fx) {
      await fx.mesh();
      const { a, b } = fx.nodes;
      await expectPing(t, fx, a, b.ip4, 'before the key change');
      t.begin('generate a new key pair for b');
      const dir = `${fx.workDir}/b/keys-rekey-${Date.now()}`;
      const kp = await t.ok('generateKeyPair', b.plugin.call<{ publicKey: string }>('generateKeyPair', [dir], fx.ms(20_000)));
      t.begin('a: upsert b with its new key (b still runs with the old one)');
      const changedAt = Date.now();
      await t.ok('applyPeers', fx.applyPeers(a, { upsert: [{ ...fx.peerOf(b), publicKey: kp.publicKey }] }));
      await expectNoPing(t, fx, a, b.ip4, 'b still holds the old key, which a no longer accepts');
      await expectNoPing(t, fx, b, a.ip4, "b's old key is no longer a's peer");
      if (fx.caps.handshakeStats) {
        t.begin('no handshake with the old key after the change');
        const st = await t.ok('stats', fx.stats(a));
        const hs = peerStat(st, 'b')?.lastHandshakeAt ?? null;
        t.check(
          hs === null || hs < changedAt,
          'a reports a handshake with b after its key changed, while b holds the old key',
          `null or < ${changedAt}`,
          hs,
        );
      }
      t.begin('restart b with the new key');
      await t.ok('stop b', fx.stop(b));
      await t.ok('start b (new key)', fx.start(b, fx.startConfig(b, { keyDirectory: dir })));
      await t.ok('applyPeers + applyRoutes on b', fx.connect(b, fx.baselinePeers('b')));
      await expectSession(t, fx, a, b.ip4, "with b's new key", 5);
      fx.dirty = true; // b runs with another key: the next test rebuilds the mesh
    },
  },
  {
    id: 'backend.changes.mixed-batch',
    title: 'one batch removing c and changing b: c loses all access both ways, b works with its new config',
    deadlineMs: 30_000,
    sessionWaits: 1,
    covers: ['sessionReestablishSeconds'],
    async run(t, fx) {
      await fx.mesh();
      const { a, b, c, d } = fx.nodes;
      const extra = '100.64.202.1';
      await withLoopback([b], `${extra}/32`, async () => {
        const newB = fx.peerOf(b, [`${extra}/32`]);
        t.begin(`a: one batch: remove c, upsert b (+ ${extra}/32) and d`);
        await t.ok('applyPeers', fx.applyPeers(a, { upsert: [newB, fx.peerOf(d)], remove: ['c'] }));
        await t.ok('applyRoutes', fx.applyRoutes(a, { remove: fx.routesOf([fx.peerOf(c)]), add: fx.routesOf([newB, fx.peerOf(d)]) }));
        await expectNoPing(t, fx, a, c.ip4, 'c was removed');
        await expectNoPing(t, fx, c, a.ip4, 'c was removed');
        await expectDelivery(t, fx, c, [{ src: c.ip4, want: false, why: 'c was removed' }]);
        await expectPing(t, fx, a, b.ip4, 'b was changed, not removed');
        t.begin(`${extra} answers as b`);
        t.equal(await whoami(a, extra), 'b', `traffic for ${extra} should reach b after the batch`);
        t.begin('stats() lists b and d');
        t.equal(peerIds(await t.ok('stats', fx.stats(a))), ['b', 'd'], 'peers of a after the batch');
        t.begin('restore: remove d, b back to its baseline, c back');
        await t.ok('applyPeers', fx.applyPeers(a, { upsert: fx.baselinePeers('a'), remove: ['d'] }));
        await t.ok(
          'applyRoutes',
          fx.applyRoutes(a, {
            remove: fx.routesOf([fx.peerOf(d)]).concat([{ destination: `${extra}/32`, peer: 'b' }]),
            add: fx.routesOf([fx.peerOf(c)]),
          }),
        );
        await expectSession(t, fx, a, c.ip4, 'c re-added');
      });
    },
  },
  {
    id: 'backend.changes.reapply-no-rehandshake',
    title: 're-applying an identical batch changes nothing observable: no new handshake, handshake time and counters continue',
    async run(t, fx) {
      await fx.mesh();
      const { a, b } = fx.nodes;
      await expectPing(t, fx, a, b.ip4, 'traffic before the re-apply');
      t.begin('stats before');
      const p1 = t.need(peerStat(await t.ok('stats', fx.stats(a)), 'b'), 'peer b missing from stats()', 'b', null);
      t.begin('capture the underlay of a while the identical batch is re-applied');
      const cap = await a.host.capture({ filter: ['udp'] });
      let bytes: Buffer;
      try {
        await t.ok('applyPeers + applyRoutes (identical)', fx.connect(a, fx.baselinePeers('a')));
        await expectPing(t, fx, a, b.ip4, 'after the re-apply');
      } finally {
        bytes = await cap.stop();
      }
      t.begin('stats after: counters continue, handshake time unchanged');
      const p2 = t.need(peerStat(await t.ok('stats', fx.stats(a)), 'b'), 'peer b missing from stats()', 'b', null);
      t.check(
        p2.txBytes > p1.txBytes && p2.rxBytes > p1.rxBytes,
        "b's counters restarted or stopped after an identical re-apply",
        `tx > ${p1.txBytes}, rx > ${p1.rxBytes}`,
        { txBytes: p2.txBytes, rxBytes: p2.rxBytes },
      );
      if (fx.caps.handshakeStats)
        t.equal(p2.lastHandshakeAt, p1.lastHandshakeAt, 'lastHandshakeAt of b changed after an identical re-apply (a new handshake)');
      t.begin('no handshake packet on the underlay');
      const protocol = fx.manifest.backend?.protocol;
      const hs = udpPackets(bytes).filter((p) => isHandshake(protocol, p) === true);
      t.check(
        hs.length === 0,
        `${hs.length} ${protocol ?? ''} handshake packets on a's underlay after an identical re-apply`,
        'none',
        hs.slice(0, 5).map((p) => `${p.src}:${p.sport} -> ${p.dst}:${p.dport} (${p.payload.length} bytes)`),
      );
    },
  },
  {
    id: 'backend.changes.keepalive',
    title: 'persistent keepalive 1 s sends packets to the idle peer every second; unset, the idle peer gets (almost) none',
    gate: 'persistentKeepalive',
    deadlineMs: 30_000,
    skipIf: (fx) =>
      claimsPersistentKeepalive(fx.caps)
        ? undefined
        : `${fx.manifest.name} declares persistentKeepalive false: it cannot send keepalives (an absent claim means true)`,
    async run(t, fx) {
      await fx.mesh();
      const { a, b } = fx.nodes;
      const protocol = fx.manifest.backend?.protocol;
      /** Non-handshake UDP packets a sends to b's underlay host in `ms` of idleness. */
      const idlePackets = async (ms: number): Promise<number> => {
        const cap = await a.host.capture({ filter: ['udp', 'and', 'dst', 'host', b.host.underlayAddress] });
        await new Promise((r) => setTimeout(r, ms));
        return udpPackets(await cap.stop()).filter((p) => isHandshake(protocol, p) !== true).length;
      };
      try {
        t.begin('a: upsert b with persistentKeepalive 1');
        await t.ok('applyPeers', fx.applyPeers(a, { upsert: [{ ...fx.peerOf(b), persistentKeepalive: 1 }] }));
        await new Promise((r) => setTimeout(r, 500));
        t.begin('3 s without traffic: keepalives on the underlay');
        const on = await idlePackets(3000);
        t.check(on >= 2, 'too few keepalive packets to the idle peer b with persistentKeepalive 1', '>= 2 in 3 s', on);
        t.begin('a: upsert b without persistentKeepalive');
        await t.ok('applyPeers', fx.applyPeers(a, { upsert: [fx.peerOf(b)] }));
        await new Promise((r) => setTimeout(r, 1500));
        t.begin('2.5 s without traffic: no keepalives');
        const off = await idlePackets(2500);
        t.check(off <= 1, 'packets keep going to the idle peer b after persistentKeepalive was unset', '<= 1 in 2.5 s', off);
      } finally {
        await fx.applyPeers(a, { upsert: [fx.peerOf(b)] }).catch(() => undefined);
      }
      await expectPing(t, fx, a, b.ip4, 'after the keepalive changes');
    },
  },
  {
    id: 'backend.changes.move-allowed-ip',
    title:
      'one batch moving an allowed IP between two peers (a subnet route failing over) succeeds in either list order; traffic follows it',
    async run(t, fx) {
      await fx.mesh();
      const { a, b, c } = fx.nodes;
      const moved = `${MOVE_EXTRA}/32`;
      const route = (peer: string): { destination: string; peer: string } => ({ destination: moved, peer });
      await withLoopback([b, c], moved, async () => {
        t.begin(`give b ${moved}`);
        await t.ok('applyPeers + applyRoutes', fx.connect(a, [fx.peerOf(b, [moved])]));
        t.equal(await whoami(a, MOVE_EXTRA), 'b', `${MOVE_EXTRA} should answer as b`);
        t.begin(`one batch moves ${moved} from b to c, listing c (the gainer) first`);
        await t.ok('applyPeers', fx.applyPeers(a, { upsert: [fx.peerOf(c, [moved]), fx.peerOf(b)] }));
        await t.ok('applyRoutes', fx.applyRoutes(a, { remove: [route('b')], add: [route('c')] }));
        t.equal(await whoami(a, MOVE_EXTRA), 'c', `${MOVE_EXTRA} should answer as c after the move`);
        t.begin(`one batch moves ${moved} back to b, listing c (the loser) first`);
        await t.ok('applyPeers', fx.applyPeers(a, { upsert: [fx.peerOf(c), fx.peerOf(b, [moved])] }));
        await t.ok('applyRoutes', fx.applyRoutes(a, { remove: [route('c')], add: [route('b')] }));
        t.equal(await whoami(a, MOVE_EXTRA), 'b', `${MOVE_EXTRA} should answer as b after the move back`);
        await expectPing(t, fx, a, c.ip4, "c's own address is untouched by the moves");
        t.begin('restore b');
        await t.ok('applyPeers + applyRoutes', fx.connect(a, [fx.peerOf(b)], [route('b')]));
      });
    },
  },
];

/** The address of backend.changes.move-allowed-ip, on b's and c's loopback, moved between them on a. */
const MOVE_EXTRA = '100.64.204.1';
