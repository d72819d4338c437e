import type { KitTest } from '../../define.js';
import type { BackendFixture } from '../fixture.js';
import { snapshotNode } from '../snapshot.js';

type T = KitTest<BackendFixture>;

export const teardownTests: T[] = [
  {
    id: 'backend.teardown.clean',
    title: 'after use and stop, no interface, address, route, rule, process, socket or file of the backend is left',
    deadlineMs: 30_000,
    async run(t, fx) {
      await fx.ready();
      const { a, d } = fx.nodes;
      await fx.stop(d).catch(() => undefined);
      t.begin('baseline: snapshot of d taken before the plugin ever started');
      const before = fx.baseline;
      t.begin('start d, add peer a, routes, traffic');
      await t.ok('start', fx.start(d));
      await t.ok('applyPeers + applyRoutes', fx.connect(d, [fx.peerOf(a, fx.caps.lanRoutes ? ['10.96.0.0/24'] : [])]));
      await fx.ping(d, a.ip4, 1); // a does not know d: only a handshake attempt leaves d
      await t.ok('stats', fx.stats(d));
      t.begin('stop d');
      await t.ok('stop', fx.stop(d));
      t.begin('compare with the snapshot');
      let leftovers: Record<string, string[]> = {};
      for (let i = 0; i < 10; i++) {
        const after = await snapshotNode(d);
        leftovers = Object.fromEntries(
          Object.entries(after)
            .map(([k, v]) => [k, v.filter((x) => !(before[k] ?? []).includes(x))] as const)
            .filter(([, v]) => v.length > 0),
        );
        if (Object.keys(leftovers).length === 0) break;
        await new Promise((r) => setTimeout(r, 200)); // processes may take a moment to exit
      }
      t.check(
        Object.keys(leftovers).length === 0,
        'the backend left resources behind after stop',
        'nothing new since before the plugin first started on d',
        leftovers,
      );
    },
  },
];
