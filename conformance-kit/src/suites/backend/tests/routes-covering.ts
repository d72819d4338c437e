import { claimsRoutesByAllowedIps } from '@rustynet/plugin-api';
import type { KitTest } from '../../define.js';
import type { BackendFixture } from '../fixture.js';
import { expectPing } from './helpers.js';
import { routeLines, routeTable } from './routes.js';

type T = KitTest<BackendFixture>;

/** `backend.routes.*` test of the `routesByAllowedIps` capability. */
export const routeCoveringTests: T[] = [
  {
    id: 'backend.routes.by-allowed-ips',
    title:
      "with a's per-peer host routes replaced by one covering route per family (100.64.0.2/31 naming b, fd00:7e57::2/127 naming c), traffic still reaches both b and c: the backend routes by allowed IPs",
    gate: 'routesByAllowedIps',
    deadlineMs: 30_000,
    skipIf: (fx) =>
      claimsRoutesByAllowedIps(fx.caps)
        ? undefined
        : 'the plugin does not claim the routesByAllowedIps capability (absent means false): the daemon installs one route per allowed IP',
    async run(t, fx) {
      await fx.mesh();
      const { a, b, c } = fx.nodes;
      const v6 = fx.caps.ipv6;
      // b is 100.64.0.2 and c 100.64.0.3: the /31 covers exactly the two peers. Each covering
      // route names only one of them, so a backend that picks the tunnel by Route.peer misroutes
      // the other peer's traffic.
      const cover4 = { destination: '100.64.0.2/31', peer: b.name };
      const cover6 = { destination: 'fd00:7e57::2/127', peer: c.name };
      const covers = v6 ? [cover4, cover6] : [cover4];
      const hostRoutes = fx.routesOf(fx.baselinePeers('a'));
      fx.dirty = true; // a's routes change below; restored at the end or by the next mesh()
      t.begin("a: remove the per-peer host routes, add only the covering routes (the daemon's plan for such a backend)");
      await t.ok('applyRoutes', fx.applyRoutes(a, { remove: hostRoutes, add: covers }));
      await expectPing(t, fx, a, b.ip4, 'b inside the covering route that names b');
      await expectPing(t, fx, a, c.ip4, 'c inside the covering route that names b: delivered by allowed IPs');
      if (v6) {
        await expectPing(t, fx, a, b.ip6, 'b inside the covering route that names c: delivered by allowed IPs');
        await expectPing(t, fx, a, c.ip6, 'c inside the covering route that names c');
      }
      t.begin("a's table: the covering routes on a backend interface, no host route of b or c (traffic above took the covering routes)");
      const devs = (await t.ok('stats', fx.stats(a))).interfaces;
      const table = await routeTable(a);
      for (const ip of [b.ip4, c.ip4, ...(v6 ? [b.ip6, c.ip6] : [])]) {
        const lines = routeLines(table, ip).concat(routeLines(table, `${ip}/${ip.includes(':') ? 128 : 32}`));
        t.check(lines.length === 0, `a host route for ${ip} is still in a's table: the covering route is not tested alone`, 'none', lines);
      }
      for (const r of covers) {
        const lines = routeLines(table, r.destination);
        t.check(
          lines.some((l) => devs.some((d) => l.includes(` dev ${d}`))),
          `the covering route ${r.destination} is not in a's table on a backend interface`,
          `a route for ${r.destination} via ${JSON.stringify(devs)}`,
          lines,
        );
      }
      t.begin('a: back to the per-peer host routes');
      await t.ok('applyRoutes', fx.applyRoutes(a, { remove: covers, add: hostRoutes }));
      await expectPing(t, fx, a, c.ip4, 'c with its host route again');
      fx.dirty = false;
    },
  },
];
