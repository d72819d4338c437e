import type { PeerConfig } from '@rustynet/plugin-api';
import type { KitTest } from '../../define.js';
import type { BackendFixture } from '../fixture.js';
import { expectPing } from './helpers.js';

type T = KitTest<BackendFixture>;

/** Size of the batch and the time-to-traffic bound (issue 17: 50 new peers within 10 s). */
const BATCH = 50;
const BOUND_MS = 10_000;

/** `backend.peers.*` test of how fast a large batch carries traffic. */
export const batchTrafficTests: T[] = [
  {
    id: 'backend.peers.batch-50-traffic',
    title: `${BATCH} new peers in one batch (two of them live, one in the middle and one last) carry traffic within ${BOUND_MS / 1000} s of the call: peers come up concurrently`,
    gate: 'maxPeers',
    deadlineMs: 45_000,
    sessionWaits: 1,
    covers: ['sessionReestablishSeconds'],
    skipIf: (fx) => (fx.caps.maxPeers < BATCH + 2 ? `maxPeers is ${fx.caps.maxPeers}, the test needs ${BATCH + 2}` : undefined),
    prepare: async (fx) => {
      await fx.bulkKeys(BATCH - 2);
    },
    async run(t, fx) {
      await fx.mesh();
      const { a, c, d } = fx.nodes;
      fx.dirty = true; // c leaves a's peers below; the next mesh() rebuilds
      t.begin('d runs with peer a; c is removed from a (it comes back as a new peer of the batch)');
      await fx.stop(d).catch(() => undefined);
      await t.ok('start d', fx.start(d));
      await t.ok('connect d to a', fx.connect(d, [fx.peerOf(a)]));
      await t.ok('remove c from a', fx.disconnect(a, [fx.peerOf(c)]));
      const keys = await fx.bulkKeys(BATCH - 2);
      const bulk: PeerConfig[] = keys.map((publicKey, i) => ({
        id: `new-${String(i).padStart(2, '0')}`,
        publicKey,
        allowedIps: [`100.66.0.${i + 1}/32`],
        ...(i % 2 === 0 && { endpoint: { host: `198.18.0.${200 + (i % 50)}`, port: 51820 } }),
      }));
      const half = Math.floor(bulk.length / 2);
      const batch = [...bulk.slice(0, half), fx.peerOf(c), ...bulk.slice(half), fx.peerOf(d)];
      t.begin(`applyPeers + applyRoutes with ${batch.length} new peers, then traffic to c and d`);
      const t0 = Date.now();
      await t.ok(`connect ${batch.length} peers`, fx.connect(a, batch, [], 40_000));
      const appliedMs = Date.now() - t0;
      const pending = new Set([c.ip4, d.ip4]);
      // c comes back as a new peer and d restarted: both need a new session, so a declared
      // sessionReestablishSeconds above the bound replaces it (never below)
      const boundMs = Math.max(BOUND_MS, fx.sessionWaitMs());
      if (boundMs > BOUND_MS) t.measure('sessionReestablishBoundMs', fx.ms(boundMs));
      while (pending.size > 0 && Date.now() - t0 < fx.ms(boundMs)) {
        for (const ip of [...pending]) if (await fx.ping(a, ip, 1)) pending.delete(ip);
      }
      const trafficMs = Date.now() - t0;
      t.measure('applyMs', appliedMs);
      t.measure('timeToTrafficMs', trafficMs);
      t.check(
        pending.size === 0,
        `the live peers of a ${batch.length}-peer batch did not carry traffic within ${boundMs / 1000} s`,
        `ping replies from ${c.ip4} and ${d.ip4} within ${boundMs} ms of the call`,
        { noReplyFrom: [...pending], applyMs: appliedMs, elapsedMs: trafficMs },
      );
      await expectPing(t, fx, a, fx.nodes.b.ip4, 'b untouched');
      t.begin('remove the batch; stop d');
      await t.ok('disconnect the bulk peers', fx.disconnect(a, bulk, 40_000));
      await t.ok('stop d', fx.stop(d));
    },
  },
];
