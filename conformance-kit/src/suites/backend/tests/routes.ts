import type { KitTest } from '../../define.js';
import type { BackendFixture, SuiteNode } from '../fixture.js';
import { expectPing } from './helpers.js';

type T = KitTest<BackendFixture>;

/** Lines of `ip route show table all` (v4 and v6) of a node's namespace. */
export async function routeTable(n: SuiteNode): Promise<string[]> {
  const [v4, v6] = await Promise.all([
    n.host.exec('ip', ['-4', 'route', 'show', 'table', 'all']),
    n.host.exec('ip', ['-6', 'route', 'show', 'table', 'all']),
  ]);
  return `${v4.stdout}\n${v6.stdout}`.split('\n').filter((l) => l.trim() !== '');
}

/** The lines of `table` that route `dest` (outside the local table). */
export function routeLines(table: string[], dest: string): string[] {
  const d = dest === '0.0.0.0/0' ? ['default', '0.0.0.0/0'] : [dest];
  return table.filter((l) => d.some((x) => l.startsWith(`${x} `) || l.startsWith(`unicast ${x} `)) && !l.includes('table local'));
}
export const routeTests: T[] = [
  {
    id: 'backend.routes.apply-replace-clear',
    title:
      'applyRoutes adds LAN routes (traffic reaches the peer), replaces them (remove + add) and clears them, as seen in the kernel table',
    gate: 'lanRoutes',
    deadlineMs: 30_000,
    skipIf: (fx) => (fx.caps.lanRoutes ? undefined : 'the plugin does not claim the lanRoutes capability'),
    async run(t, fx) {
      await fx.mesh();
      const { a, b, c } = fx.nodes;
      const r1 = { destination: '10.99.0.0/24', peer: 'b' };
      const r2 = { destination: '10.98.0.0/24', peer: 'b' };
      const r3 = { destination: '10.97.0.0/24', peer: 'c' };
      fx.dirty = true; // allowed IPs change below; restored by the next mesh()
      t.begin('LAN addresses on b (10.99.0.1, 10.98.0.1) and c (10.97.0.1); LAN prefixes in the allowed IPs');
      await b.host.exec('ip', ['addr', 'replace', '10.99.0.1/32', 'dev', 'lo']);
      await b.host.exec('ip', ['addr', 'replace', '10.98.0.1/32', 'dev', 'lo']);
      await c.host.exec('ip', ['addr', 'replace', '10.97.0.1/32', 'dev', 'lo']);
      await t.ok(
        'applyPeers',
        fx.applyPeers(a, { upsert: [fx.peerOf(b, [r1.destination, r2.destination]), fx.peerOf(c, [r3.destination])] }),
      );
      const st = await t.ok('stats', fx.stats(a));
      const devs = st.interfaces;
      const check = async (present: string[], absent: string[], when: string): Promise<void> => {
        const table = await routeTable(a);
        for (const d of present) {
          const lines = routeLines(table, d);
          t.check(lines.length > 0, `route ${d} missing from the kernel table ${when}`, `a route for ${d}`, table.join(' | '));
          t.check(
            lines.some((l) => devs.some((dev) => l.includes(` dev ${dev}`))),
            `route ${d} does not go through the backend's interfaces ${when}`,
            `dev in ${JSON.stringify(devs)}`,
            lines,
          );
        }
        for (const d of absent) {
          const lines = routeLines(table, d);
          t.check(lines.length === 0, `route ${d} still in the kernel table ${when}`, `no route for ${d}`, lines);
        }
      };
      try {
        t.begin('add 10.99.0.0/24 via b and 10.97.0.0/24 via c');
        await t.ok('applyRoutes add', fx.applyRoutes(a, { add: [r1, r3] }));
        await check([r1.destination, r3.destination], [r2.destination], 'after add');
        await expectPing(t, fx, a, '10.99.0.1', 'LAN route via b');
        await expectPing(t, fx, a, '10.97.0.1', 'LAN route via c');
        t.begin('replace 10.99.0.0/24 by 10.98.0.0/24');
        await t.ok('applyRoutes replace', fx.applyRoutes(a, { remove: [r1], add: [r2] }));
        await check([r2.destination, r3.destination], [r1.destination], 'after replace');
        await expectPing(t, fx, a, '10.98.0.1', 'replaced LAN route via b');
        t.begin('clear');
        await t.ok('applyRoutes clear', fx.applyRoutes(a, { remove: [r2, r3] }));
        await check([], [r1.destination, r2.destination, r3.destination], 'after clear');
        await expectPing(t, fx, a, b.ip4, 'peer address routes untouched');
      } finally {
        await b.host.exec('ip', ['addr', 'del', '10.99.0.1/32', 'dev', 'lo'], { reject: false });
        await b.host.exec('ip', ['addr', 'del', '10.98.0.1/32', 'dev', 'lo'], { reject: false });
        await c.host.exec('ip', ['addr', 'del', '10.97.0.1/32', 'dev', 'lo'], { reject: false });
      }
      t.begin('restore allowed IPs');
      await t.ok('applyPeers', fx.applyPeers(a, { upsert: fx.baselinePeers('a') }));
      fx.dirty = false;
    },
  },
  {
    id: 'backend.routes.exit-node',
    title: 'a default route (0.0.0.0/0) via peer b carries traffic for any address to b; removing it restores the table',
    gate: 'exitNode',
    deadlineMs: 30_000,
    skipIf: (fx) => (fx.caps.exitNode ? undefined : 'the plugin does not claim the exitNode capability'),
    async run(t, fx) {
      await fx.mesh();
      const { a, b, c } = fx.nodes;
      const r = { destination: '0.0.0.0/0', peer: 'b' };
      const far = '10.55.0.1'; // on b's loopback, reachable only through the exit route
      fx.dirty = true;
      t.begin('b gets 10.55.0.1; a: b allowed 0.0.0.0/0');
      await b.host.exec('ip', ['addr', 'replace', `${far}/32`, 'dev', 'lo']);
      const tableBefore = await routeTable(a);
      try {
        await t.ok('applyPeers', fx.applyPeers(a, { upsert: [fx.peerOf(b, ['0.0.0.0/0'])] }));
        t.begin('add 0.0.0.0/0 via b');
        await t.ok('applyRoutes add default', fx.applyRoutes(a, { add: [r] }));
        const table = await routeTable(a);
        t.check(routeLines(table, r.destination).length > 0, 'no default route in any table', 'a default route', table);
        await expectPing(t, fx, a, far, 'any address goes to the exit node b');
        await expectPing(t, fx, a, c.ip4, 'more specific peer routes still win');
        t.check(
          await a.host.ping(b.host.underlayAddress, { attempts: 3 }),
          'the underlay broke with the exit route',
          'underlay reachable',
          'no reply',
        );
        t.begin('remove 0.0.0.0/0');
        await t.ok('applyRoutes remove default', fx.applyRoutes(a, { remove: [r] }));
        await t.ok('applyPeers', fx.applyPeers(a, { upsert: fx.baselinePeers('a') }));
        const tableAfter = await routeTable(a);
        t.equal(tableAfter.sort(), tableBefore.sort(), 'the routing tables differ from before the exit route');
        t.check(!(await fx.ping(a, far, 1)), `${far} still reachable after removing the exit route`, 'no reply', 'reply');
      } finally {
        await b.host.exec('ip', ['addr', 'del', `${far}/32`, 'dev', 'lo'], { reject: false });
      }
      fx.dirty = false;
    },
  },
];
