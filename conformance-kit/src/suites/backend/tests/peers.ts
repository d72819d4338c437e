import type { PeerConfig } from '@rustynet/plugin-api';
import type { KitTest } from '../../define.js';
import type { StepContext } from '../../step-context.js';
import { ECHO_TCP_PORT, ECHO_UDP_PORT, TUNNEL_MTU, type BackendFixture } from '../fixture.js';
import { expectNoPing, expectPing, expectSession, peerIds, whoami } from './helpers.js';
import { expectDelivery } from './delivery.js';

type T = KitTest<BackendFixture>;

/** Pseudo-random bytes from a seed (xorshift), so payloads are reproducible. */
function payload(seed: number, size: number): Buffer {
  const b = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/** The largest UDP payload that fits the tunnel MTU without fragmentation (IPv4). */
export const MTU_UDP_PAYLOAD = TUNNEL_MTU - 20 - 8;

/**
 * Command budget of a batched call (`backend.peers.batch-200`), counted through the host's
 * recording CommandRunner: short-lived `run` commands must stay within `limit` for every backend;
 * long-lived `spawn`s may add at most one per peer of the call (`perPeer`) for a backend claiming
 * `processPerPeer`, and otherwise count against `limit` together with the runs.
 */
function checkCommands(
  t: StepContext,
  fx: BackendFixture,
  what: string,
  records: ReadonlyArray<{ via: 'run' | 'spawn' }>,
  limit: number,
  perPeer: number,
): void {
  const runs = records.filter((r) => r.via === 'run').length;
  const spawns = records.length - runs;
  if (fx.caps.processPerPeer === true) {
    t.check(
      runs <= limit,
      `${what} ran ${runs} short-lived commands (run): over the constant limit of ${limit} that holds for every backend`,
      `<= ${limit} run commands`,
      `${runs} run commands`,
    );
    t.check(
      spawns <= perPeer,
      `${what} spawned ${spawns} long-lived processes: over the limit of one per peer of the call (${perPeer}) for a processPerPeer backend`,
      `<= ${perPeer} spawns`,
      `${spawns} spawns`,
    );
  } else {
    t.check(
      runs + spawns <= limit,
      `${what} ran ${runs + spawns} commands (${runs} run + ${spawns} spawn): over the constant limit of ${limit}; ` +
        'batches must not cost a process per peer (only a backend claiming processPerPeer may spawn one long-lived process per peer)',
      `<= ${limit} commands`,
      `${runs + spawns} commands`,
    );
  }
}

export const peerTests: T[] = [
  {
    id: 'backend.peers.ping-two-peers',
    title: 'with two peers applied in one batch, each answers ping through the tunnel',
    covers: ['ipv6'],
    async run(t, fx) {
      t.begin('bring up a with peers b and c, b and c with peer a');
      await fx.mesh();
      const { a, b, c } = fx.nodes;
      await Promise.all([expectPing(t, fx, a, b.ip4), expectPing(t, fx, a, c.ip4)]);
      await expectPing(t, fx, b, a.ip4);
      t.begin('peers are listed by stats()');
      const st = await t.ok('stats', fx.stats(a));
      t.equal(peerIds(st), ['b', 'c'], 'stats().peers of a should list exactly b and c');
      if (fx.caps.ipv6) await expectPing(t, fx, a, b.ip6, 'IPv6 overlay');
    },
  },
  {
    id: 'backend.peers.udp-echo',
    title: 'UDP echo through the tunnel: small, MTU-sized and 100 datagrams to each peer',
    async run(t, fx) {
      await fx.mesh();
      const { a, b, c } = fx.nodes;
      const seed = fx.opts.seed ?? 1;
      for (const peer of [b, c]) {
        t.begin(`small datagram a -> ${peer.name}`);
        const small = Buffer.from(`hello-${peer.name}`);
        const r1 = await a.host.udpSend(peer.ip4, ECHO_UDP_PORT, small);
        t.check(r1?.equals(small), `small UDP echo from ${peer.name} did not come back`, small.toString(), r1?.toString() ?? null);
        t.begin(`MTU-sized datagram (${MTU_UDP_PAYLOAD} bytes) a -> ${peer.name}`);
        const big = payload(seed, MTU_UDP_PAYLOAD);
        const r2 = await a.host.udpSend(peer.ip4, ECHO_UDP_PORT, big);
        t.check(
          r2?.equals(big),
          `MTU-sized UDP echo from ${peer.name} did not come back intact`,
          `${big.length} bytes echoed`,
          r2 ? `${r2.length} bytes, equal=${r2.equals(big)}` : null,
        );
        t.begin(`100 datagrams a -> ${peer.name}`);
        const many = Array.from({ length: 100 }, (_, i) => Buffer.concat([Buffer.from(`m${i}-`), payload(seed + i, 200)]));
        const n = await a.host.udpEchoMany(peer.ip4, ECHO_UDP_PORT, many, { timeoutMs: 3000 });
        t.check(n >= 95, `too many UDP datagrams lost through the tunnel to ${peer.name}`, '>= 95 of 100 echoed', `${n} of 100`);
      }
    },
  },
  {
    id: 'backend.peers.tcp-echo',
    title: 'TCP echo through the tunnel: small, 64 KiB (many MTU-sized segments) and 10 parallel connections',
    async run(t, fx) {
      await fx.mesh();
      const { a, b, c } = fx.nodes;
      const seed = fx.opts.seed ?? 1;
      for (const peer of [b, c]) {
        t.begin(`small TCP echo a -> ${peer.name}`);
        const small = Buffer.from(`tcp-hello-${peer.name}`);
        const r1 = await a.host.tcpSend(peer.ip4, ECHO_TCP_PORT, small);
        t.check(r1?.equals(small), `small TCP echo from ${peer.name} failed`, small.toString(), r1?.toString() ?? null);
        t.begin(`64 KiB TCP echo a -> ${peer.name}`);
        const big = payload(seed + 7, 64 * 1024);
        const r2 = await a.host.tcpSend(peer.ip4, ECHO_TCP_PORT, big, { timeoutMs: 8000 });
        t.check(r2?.equals(big), `64 KiB TCP echo from ${peer.name} failed`, '65536 bytes echoed intact', r2 ? `${r2.length} bytes` : null);
        t.begin(`10 parallel TCP connections a -> ${peer.name}`);
        const res = await Promise.all(
          Array.from({ length: 10 }, async (_, i) => {
            const p = payload(seed + 100 + i, 3000);
            const r = await a.host.tcpSend(peer.ip4, ECHO_TCP_PORT, p, { timeoutMs: 8000 });
            return r?.equals(p) ?? false;
          }),
        );
        const okCount = res.filter(Boolean).length;
        t.check(okCount === 10, `parallel TCP echoes to ${peer.name} failed`, '10 of 10', `${okCount} of 10`);
      }
    },
  },
  {
    id: 'backend.peers.allowed-ips-update',
    title: 'moving an allowed IP from peer b to peer c reroutes traffic for it from b to c',
    deadlineMs: 30_000,
    async run(t, fx) {
      await fx.mesh();
      const { a, b, c } = fx.nodes;
      const extra = '100.64.200.1';
      t.begin('put the extra address on b and c (loopback)');
      await Promise.all([b, c].map((n) => n.host.exec('ip', ['addr', 'replace', `${extra}/32`, 'dev', 'lo'])));
      // b and c must accept traffic for the extra address from a and send replies back
      try {
        const viaB = { destination: `${extra}/32`, peer: 'b' };
        const viaC = { destination: `${extra}/32`, peer: 'c' };
        t.begin(`a: b's allowed IPs include ${extra}/32 (+ route)`);
        await t.ok('applyPeers + applyRoutes', fx.connect(a, [fx.peerOf(b, [`${extra}/32`])]));
        t.begin(`${extra} answers as b`);
        const w1 = await whoami(a, extra);
        t.equal(w1, 'b', `traffic for ${extra} should reach b`);
        t.begin(`a: move ${extra}/32 from b to c in one batch (+ route)`);
        await t.ok('applyPeers', fx.applyPeers(a, { upsert: [fx.peerOf(b), fx.peerOf(c, [`${extra}/32`])] }));
        await t.ok('applyRoutes', fx.applyRoutes(a, { remove: [viaB], add: [viaC] }));
        t.begin(`${extra} answers as c`);
        const w2 = await whoami(a, extra);
        t.equal(w2, 'c', `after the update traffic for ${extra} should reach c`);
        await expectPing(t, fx, a, b.ip4, 'b keeps its own address');
        t.begin('stats() still lists b and c');
        const st = await t.ok('stats', fx.stats(a));
        t.equal(peerIds(st), ['b', 'c'], 'peers of a after the update');
        t.begin('restore the baseline');
        await t.ok('applyPeers', fx.applyPeers(a, { upsert: fx.baselinePeers('a') }));
        await t.ok('applyRoutes', fx.applyRoutes(a, { remove: [viaC] }));
      } finally {
        await Promise.all([b, c].map((n) => n.host.exec('ip', ['addr', 'del', `${extra}/32`, 'dev', 'lo'], { reject: false })));
      }
    },
  },
  {
    id: 'backend.peers.remove-isolates',
    title: 'removing peer c stops traffic to and from c while b still works; stats() no longer lists c',
    deadlineMs: 30_000,
    sessionWaits: 1,
    covers: ['sessionReestablishSeconds'],
    async run(t, fx) {
      await fx.mesh();
      const { a, b, c } = fx.nodes;
      await expectPing(t, fx, a, c.ip4, 'before removal');
      t.begin('remove peer c from a (its routes stay for now: the data plane must drop c anyway)');
      await t.ok('applyPeers remove [c]', fx.applyPeers(a, { remove: ['c'] }));
      await expectNoPing(t, fx, a, c.ip4, 'c was removed');
      t.begin('udp to c must not arrive');
      const r = await a.host.udpSend(c.ip4, ECHO_UDP_PORT, 'after-removal', { timeoutMs: 500, attempts: 1 });
      t.check(r === null, 'c still answers UDP after its removal', 'no answer', r?.toString());
      // c still has a as its peer: what c sends must not get in either
      await expectDelivery(t, fx, c, [{ src: c.ip4, want: false, why: "c is no longer one of a's peers" }]);
      await expectPing(t, fx, a, b.ip4, 'b was not removed');
      t.begin('stats() lists only b');
      const st = await t.ok('stats', fx.stats(a));
      t.equal(peerIds(st), ['b'], 'peers of a after removing c');
      t.begin('remove the routes via c');
      await t.ok('applyRoutes remove routes via c', fx.applyRoutes(a, { remove: fx.routesOf([fx.peerOf(c)]) }));
      t.begin('add c back');
      await t.ok('applyPeers + applyRoutes [c]', fx.connect(a, [fx.peerOf(c)]));
      await expectSession(t, fx, a, c.ip4, 're-added');
    },
  },
  {
    id: 'backend.peers.idempotent-apply',
    title: 'applying the same peers and routes twice succeeds and changes nothing (idempotent upserts)',
    async run(t, fx) {
      await fx.mesh();
      const { a, b, c } = fx.nodes;
      t.begin('apply the baseline peers and routes of a again, twice');
      await t.ok('applyPeers + applyRoutes (1)', fx.connect(a, fx.baselinePeers('a')));
      await t.ok('applyPeers + applyRoutes (2)', fx.connect(a, fx.baselinePeers('a')));
      t.begin('stats() still lists exactly b and c');
      const st = await t.ok('stats', fx.stats(a));
      t.equal(peerIds(st), ['b', 'c'], 'peers of a after re-applying');
      await expectPing(t, fx, a, b.ip4, 'after re-applying');
      await expectPing(t, fx, a, c.ip4, 'after re-applying');
      t.begin('an empty batch is a no-op');
      await t.ok('applyPeers({upsert:[],remove:[]})', fx.applyPeers(a, {}));
      await t.ok('applyRoutes({add:[],remove:[]})', fx.applyRoutes(a, {}));
    },
  },
  {
    id: 'backend.peers.batch-200',
    title:
      'a batch of 200 peers applies in one call with a constant number of short-lived commands (one long-lived process per peer only with processPerPeer), and removes in one call',
    deadlineMs: 60_000,
    gate: 'maxPeers',
    covers: ['processPerPeer'],
    skipIf: (fx) =>
      fx.opts.profile === 'quick'
        ? 'profile "quick" skips the 200-peer batch'
        : fx.caps.maxPeers < 4
          ? `maxPeers is ${fx.caps.maxPeers}`
          : undefined,
    // 200 key pairs are the kit's preparation, never part of the plugin's deadline
    prepare: async (fx) => {
      await fx.bulkKeys(Math.min(200, fx.caps.maxPeers - 2));
    },
    async run(t, fx) {
      await fx.mesh();
      const { a, b } = fx.nodes;
      const n = Math.min(200, fx.caps.maxPeers - 2);
      const keys = await fx.bulkKeys(n);
      const peers: PeerConfig[] = keys.map((publicKey, i) => ({
        id: `bulk-${String(i).padStart(3, '0')}`,
        publicKey,
        allowedIps: [`100.65.${Math.floor(i / 250)}.${(i % 250) + 1}/32`],
        ...(i % 2 === 0 && { endpoint: { host: `198.18.0.${200 + (i % 50)}`, port: 51820 } }),
      }));
      const mark = (await a.plugin.commands()).at(-1)?.seq ?? 0;
      t.begin(`applyPeers with ${n} upserts`);
      await t.ok(`applyPeers(${n} peers)`, fx.applyPeers(a, { upsert: peers }, 60_000));
      const limit = Math.max(10, Math.floor(n / 10));
      const upsertCommands = await a.plugin.commands(mark);
      checkCommands(t, fx, `applyPeers with ${n} peers`, upsertCommands, limit, n);
      if (fx.caps.processPerPeer === true) {
        const spawned = upsertCommands.filter((r) => r.via === 'spawn').length;
        t.check(spawned > 0, `claims processPerPeer but spawned no long-lived process for ${n} new peers`, '> 0 spawns', spawned);
      }
      t.begin(`applyRoutes with the ${n} peers' routes`);
      const markR = (await a.plugin.commands()).at(-1)?.seq ?? 0;
      await t.ok(`applyRoutes(${n} routes)`, fx.applyRoutes(a, { add: fx.routesOf(peers) }));
      checkCommands(t, fx, `applyRoutes with ${n} routes`, await a.plugin.commands(markR), limit, 0);
      t.begin('stats() lists every peer');
      const st = await t.ok('stats', fx.stats(a));
      t.equal(st.peers.length, n + 2, 'number of peers of a after the batch');
      await expectPing(t, fx, a, b.ip4, 'existing peers keep working');
      t.begin(`remove the ${n} peers in one call`);
      const mark2 = (await a.plugin.commands()).at(-1)?.seq ?? 0;
      await t.ok(`applyPeers(remove ${n})`, fx.applyPeers(a, { remove: peers.map((p) => p.id) }, 60_000));
      await t.ok(`applyRoutes(remove ${n})`, fx.applyRoutes(a, { remove: fx.routesOf(peers) }));
      checkCommands(t, fx, `removing ${n} peers and their routes`, await a.plugin.commands(mark2), 2 * limit, 0);
      const st2 = await t.ok('stats', fx.stats(a));
      t.equal(peerIds(st2), ['b', 'c'], 'peers of a after removing the batch');
    },
  },
];
