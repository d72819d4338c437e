import type { KitTest } from '../../define.js';
import { kitOptionSkip } from '../../common/kit-options.js';
import type { RelayFixture } from '../fixture.js';
import { rawProto, rawReceived, rawSession, rawSkip, type RawSocket } from '../raw-session.js';
import { clientInD, closeClient, reachesA, type ClientUnderTest } from './client.js';
import { marker, sleep } from './helpers.js';

type T = KitTest<RelayFixture>;

/** Kit options: a relay that stops answering is noticed after 3 rounds of 500 ms (docs/conformance.md, Kit options). */
const FAST_KEEPALIVE = { keepaliveIntervalMs: 500, keepaliveMisses: 3 } as const;
/** The failover target: relayed traffic on the next relay within 3 s of the relay's death. */
const FAILOVER_MS = 3_000;

/**
 * d's backend sends the same marker to its path endpoint every 100 ms until `recv` (a, on the
 * wire) has it or `ms` passed. @returns ms from `since` to the poll that saw it, or null.
 */
async function streamUntilA(fx: RelayFixture, c: ClientUnderTest, recv: RawSocket, since: number, ms: number): Promise<number | null> {
  const m = marker('stream');
  const end = Date.now() + ms;
  while (Date.now() < end) {
    await fx.agents.d.send(c.backend, c.path, [m]);
    await sleep(100);
    if ((await rawReceived(recv)).some((d) => d.includes(m))) return Date.now() - since;
  }
  return null;
}

/** The `relay.failover.*` tests (several relays, docs/relay.md), in run order. */
export const failoverTests: T[] = [
  {
    id: 'relay.failover.relay-killed',
    title:
      "a client listing two relays keeps the backend's traffic flowing when the relay carrying its path stops: a datagram every 100 ms from d's backend reaches a through the other relay within 3 s of the stop (kit options keepaliveIntervalMs 500, keepaliveMisses 3), and status names the other relay",
    gate: 'server, protocol (raw registration), kit options keepaliveIntervalMs + keepaliveMisses',
    deadlineMs: 60_000,
    skipIf: (fx) => rawSkip(fx) ?? kitOptionSkip(fx.manifest, Object.keys(FAST_KEEPALIVE)),
    async run(t, fx) {
      const p = rawProto(fx);
      const s1 = { name: 'k1', port: 3494, relayId: 'kit-relay-k1', nodes: ['a', 'd'] };
      const s2 = { name: 'k2', port: 3495, relayId: 'kit-relay-k2', nodes: ['a', 'd'] };
      await fx.withServer(s1, (r1) =>
        fx.withServer(s2, async (r2) => {
          t.begin('a registers on the wire with both relays');
          const recv = {
            [r1.id]: t.need(await rawSession(fx, p, 'a', r1.endpoint, r1.id, 'a'), 'no CHALLENGE for a', 'a CHALLENGE', null),
            [r2.id]: t.need(await rawSession(fx, p, 'a', r2.endpoint, r2.id, 'a'), 'no CHALLENGE for a', 'a CHALLENGE', null),
          };
          let c: ClientUnderTest | undefined;
          try {
            c = await clientInD(t, fx, 'client-kill', [r1, r2], { ...FAST_KEEPALIVE });
            t.begin('control: d -> a; which relay carries the path (status)');
            // Let a client that registers with several relays in the background settle first.
            await sleep(fx.ms(3000));
            const carrying = (await fx.status(c.client)).find((s) => s.peer === 'a')?.relay;
            const [dead, other] = carrying === r2.id ? [s2, r1] : [s1, r2];
            t.check(
              await reachesA(fx, c, recv[dead.relayId], fx.ms(5000), 'control'),
              `d -> a does not work through ${dead.relayId} (status names ${JSON.stringify(carrying)})`,
              'delivered',
              'not delivered',
            );
            t.begin(`stop ${dead.relayId}; d's backend streams; a receives through ${other.id} within ${FAILOVER_MS} ms`);
            const tStop = Date.now();
            await fx.agents.relay.serverStop(dead.name);
            const ms = await streamUntilA(fx, c, recv[other.id], tStop, fx.ms(15_000));
            t.measure('stopToDeliveredMs', ms ?? 'none');
            t.check(ms !== null, `the client did not move its path to ${other.id}`, 'delivered', 'not delivered within 15 s');
            t.check(ms !== null && ms <= fx.ms(FAILOVER_MS), `failover took too long`, `<= ${fx.ms(FAILOVER_MS)} ms`, `${ms} ms`);
            const now = (await fx.status(c.client)).find((s) => s.peer === 'a')?.relay;
            t.check(now === other.id, 'status must name the relay now carrying the path', other.id, now);
          } finally {
            await closeClient(fx, c);
          }
        }),
      );
    },
  },
];
