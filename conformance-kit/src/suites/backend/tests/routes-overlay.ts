import type { KitTest } from '../../define.js';
import type { BackendFixture, SuiteNode } from '../fixture.js';
import { expectPing, expectSession } from './helpers.js';

type T = KitTest<BackendFixture>;

const LAN = '10.96.0.0/24';
const LAN_HOST = '10.96.0.1';
const NEW_OVERLAY = '100.64.0.22';

/** Lines of `ip -4 route show table all` of a node's namespace for `dest`, outside the local table. */
async function routesFor(n: SuiteNode, dest: string): Promise<string[]> {
  const r = await n.host.exec('ip', ['-4', 'route', 'show', 'table', 'all']);
  return r.stdout.split('\n').filter((l) => (l.startsWith(`${dest} `) || l.startsWith(`unicast ${dest} `)) && !l.includes('table local'));
}

/** `backend.routes.*` tests of peer config changes under LAN routes. */
export const routeOverlayTests: T[] = [
  {
    id: 'backend.routes.overlay-change-keeps-lan',
    title:
      "changing a peer's overlay address (the peer restarts with it; upsert with new allowed IPs, its /32 route swapped) keeps its LAN route in the table and carrying traffic",
    gate: 'lanRoutes',
    deadlineMs: 30_000,
    sessionWaits: 1,
    covers: ['sessionReestablishSeconds'],
    skipIf: (fx) => (fx.caps.lanRoutes ? undefined : 'the plugin does not claim the lanRoutes capability'),
    async run(t, fx) {
      await fx.mesh();
      const { a, b } = fx.nodes;
      fx.dirty = true; // b's address and allowed IPs change below; the next mesh() rebuilds
      const lanRoute = { destination: LAN, peer: 'b' };
      t.begin(`LAN address ${LAN_HOST} on b`);
      await b.host.exec('ip', ['addr', 'replace', `${LAN_HOST}/32`, 'dev', 'lo']);
      try {
        t.begin(`b with LAN ${LAN}: applyPeers, then its LAN route`);
        await t.ok('applyPeers', fx.applyPeers(a, { upsert: [fx.peerOf(b, [LAN])] }));
        await t.ok('applyRoutes add LAN', fx.applyRoutes(a, { add: [lanRoute] }));
        await expectPing(t, fx, a, LAN_HOST, 'LAN route via b');
        t.begin(`b changes its overlay address ${b.ip4} -> ${NEW_OVERLAY} (restart with the new address, same peer a)`);
        const newAddrs = fx.startConfig(b).addresses.map((x) => (x === `${b.ip4}/32` ? `${NEW_OVERLAY}/32` : x));
        await t.ok('stop b', fx.stop(b));
        await t.ok('start b with the new address', fx.start(b, fx.startConfig(b, { addresses: newAddrs })));
        await t.ok('connect b to a', fx.connect(b, [fx.peerOf(a)]));
        t.begin(`a learns b's new overlay address (upsert, swap the /32 route; LAN route untouched)`);
        const moved = {
          ...fx.peerOf(b, [LAN]),
          allowedIps: fx.peerOf(b, [LAN]).allowedIps.map((x) => (x === `${b.ip4}/32` ? `${NEW_OVERLAY}/32` : x)),
        };
        await t.ok('applyPeers with the new overlay address', fx.applyPeers(a, { upsert: [moved] }));
        await t.ok(
          'applyRoutes swap the /32',
          fx.applyRoutes(a, {
            remove: [{ destination: `${b.ip4}/32`, peer: 'b' }],
            add: [{ destination: `${NEW_OVERLAY}/32`, peer: 'b' }],
          }),
        );
        t.begin(`the LAN route ${LAN} is still in a's table on a backend interface`);
        const devs = (await t.ok('stats', fx.stats(a))).interfaces;
        const lines = await routesFor(a, LAN);
        t.check(
          lines.some((l) => devs.some((d) => l.includes(` dev ${d}`))),
          `the LAN route ${LAN} of b disappeared when b's overlay address changed`,
          `a route for ${LAN} via ${JSON.stringify(devs)}`,
          lines,
        );
        // the restarted b handshakes at once; a's session with the old b would wait for rekey timeouts
        await expectSession(t, fx, b, a.ip4, 'b, restarted with its new address, reaches a');
        await expectPing(t, fx, a, LAN_HOST, 'LAN route via b after the overlay change');
        await expectPing(t, fx, a, NEW_OVERLAY, "b's new overlay address");
        await expectPing(t, fx, a, fx.nodes.c.ip4, 'c untouched');
      } finally {
        await b.host.exec('ip', ['addr', 'del', `${LAN_HOST}/32`, 'dev', 'lo'], { reject: false });
      }
    },
  },
];
