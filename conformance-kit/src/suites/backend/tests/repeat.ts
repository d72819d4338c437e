import type { KitTest } from '../../define.js';
import type { BackendFixture, SuiteNode } from '../fixture.js';
import { expectPing, expectSession, peerStat } from './helpers.js';
import { routeLines, routeTable } from './routes.js';

type T = KitTest<BackendFixture>;

/** Routing tables and policy rules (v4 and v6) of a node, sorted. */
async function routingState(n: SuiteNode): Promise<string[]> {
  const [r4, r6] = await Promise.all([n.host.exec('ip', ['rule', 'show']), n.host.exec('ip', ['-6', 'rule', 'show'])]);
  return [...(await routeTable(n)), ...`${r4.stdout}\n${r6.stdout}`.split('\n').filter((l) => l.trim() !== '')].sort();
}

export const repeatTests: T[] = [
  {
    id: 'backend.repeat.routes-twice',
    title: 'adding a LAN route twice and removing it twice succeed, as does removing a route never added; the table follows',
    gate: 'lanRoutes',
    skipIf: (fx) => (fx.caps.lanRoutes ? undefined : 'the plugin does not claim the lanRoutes capability'),
    async run(t, fx) {
      await fx.mesh();
      const { a } = fx.nodes;
      const r = { destination: '10.95.0.0/24', peer: 'b' };
      const before = await routingState(a);
      for (const k of [1, 2]) {
        t.begin(`add ${r.destination} via b (${k})`);
        await t.ok(`applyRoutes add (${k})`, fx.applyRoutes(a, { add: [r] }));
        const lines = routeLines(await routeTable(a), r.destination);
        t.check(lines.length === 1, `${r.destination} is not in the table exactly once`, 'one route', lines);
      }
      for (const k of [1, 2]) {
        t.begin(`remove ${r.destination} (${k})`);
        await t.ok(`applyRoutes remove (${k})`, fx.applyRoutes(a, { remove: [r] }));
      }
      t.begin('remove 10.94.0.0/24 via b, never added');
      await t.ok('applyRoutes remove (never added)', fx.applyRoutes(a, { remove: [{ destination: '10.94.0.0/24', peer: 'b' }] }));
      t.begin('the tables equal those before');
      t.equal(await routingState(a), before, 'routes and rules after add, add, remove, remove');
      await expectPing(t, fx, a, fx.nodes.b.ip4, 'peer routes untouched');
    },
  },
  {
    id: 'backend.repeat.exit-node-twice',
    title: 'an exit route on and off, twice: each add and remove succeeds and the tables and rules end as they began',
    gate: 'exitNode',
    deadlineMs: 30_000,
    skipIf: (fx) => (fx.caps.exitNode ? undefined : 'the plugin does not claim the exitNode capability'),
    async run(t, fx) {
      await fx.mesh();
      const { a, b } = fx.nodes;
      const r = { destination: '0.0.0.0/0', peer: 'b' };
      const far = '10.55.0.2';
      await b.host.exec('ip', ['addr', 'replace', `${far}/32`, 'dev', 'lo']);
      const before = await routingState(a);
      try {
        await t.ok('applyPeers (b allowed 0.0.0.0/0)', fx.applyPeers(a, { upsert: [fx.peerOf(b, ['0.0.0.0/0'])] }));
        for (const k of [1, 2]) {
          t.begin(`exit route on (${k}), twice in a row`);
          await t.ok(`applyRoutes add default (${k}a)`, fx.applyRoutes(a, { add: [r] }));
          await t.ok(`applyRoutes add default (${k}b)`, fx.applyRoutes(a, { add: [r] }));
          await expectPing(t, fx, a, far, `exit route on (${k})`);
          t.begin(`exit route off (${k}), twice in a row`);
          await t.ok(`applyRoutes remove default (${k}a)`, fx.applyRoutes(a, { remove: [r] }));
          await t.ok(`applyRoutes remove default (${k}b)`, fx.applyRoutes(a, { remove: [r] }));
        }
        await t.ok('applyPeers (baseline)', fx.applyPeers(a, { upsert: fx.baselinePeers('a') }));
        t.begin('the tables and rules equal those before');
        t.equal(await routingState(a), before, 'routes and rules after the exit route went on and off twice');
        await expectPing(t, fx, a, b.ip4, 'after the exit route cycles');
      } finally {
        await b.host.exec('ip', ['addr', 'del', `${far}/32`, 'dev', 'lo'], { reject: false });
      }
    },
  },
  {
    id: 'backend.repeat.endpoint-same',
    title: 'updatePeerEndpoint to the current endpoint succeeds and changes nothing: no new handshake, counters continue',
    gate: 'roaming',
    skipIf: (fx) => (fx.caps.roaming ? undefined : 'the plugin does not claim the roaming capability'),
    async run(t, fx) {
      await fx.mesh();
      const { a, b } = fx.nodes;
      await expectPing(t, fx, a, b.ip4, 'traffic first');
      const st1 = await t.ok('stats', fx.stats(a));
      const p1 = t.need(peerStat(st1, 'b'), 'peer b missing from stats()', 'b', null);
      t.begin('updatePeerEndpoint(b, its current endpoint), twice');
      for (const k of [1, 2]) await t.ok(`updatePeerEndpoint (${k})`, a.plugin.call('updatePeerEndpoint', ['b', fx.peerOf(b).endpoint]));
      await expectPing(t, fx, a, b.ip4, 'after the no-op updates');
      const p2 = t.need(peerStat(await t.ok('stats', fx.stats(a)), 'b'), 'peer b missing from stats()', 'b', null);
      t.check(p2.txBytes > p1.txBytes && p2.rxBytes > p1.rxBytes, "b's counters restarted after a no-op endpoint update", p1, p2);
      if (fx.caps.handshakeStats) t.equal(p2.lastHandshakeAt, p1.lastHandshakeAt, 'a no-op endpoint update caused a new handshake');
    },
  },
  {
    id: 'backend.repeat.restart-cycles',
    title: 'three stop/start cycles of b, each followed by its peers and traffic b -> a and a -> b',
    deadlineMs: 60_000,
    sessionWaits: 3,
    covers: ['sessionReestablishSeconds'],
    async run(t, fx) {
      await fx.mesh();
      const { a, b } = fx.nodes;
      for (const k of [1, 2, 3]) {
        t.begin(`cycle ${k}: stop and start b, apply its peers`);
        await t.ok(`stop (${k})`, fx.stop(b));
        await t.ok(`start (${k})`, fx.start(b));
        await t.ok(`applyPeers + applyRoutes (${k})`, fx.connect(b, fx.baselinePeers('b')));
        // the restarted side speaks first: a peer that kept its old session may wait for a rekey
        await expectSession(t, fx, b, a.ip4, `cycle ${k}: the restarted b reaches a`, 5);
        t.begin(`cycle ${k}: ping a -> b`);
        t.check(await fx.ping(a, b.ip4, 3), `no reply from b after restart ${k}`, 'reply', 'no reply');
      }
    },
  },
];
