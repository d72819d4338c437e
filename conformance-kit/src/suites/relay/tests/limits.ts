import type { Endpoint } from '@rustynet/plugin-api';
import type { KitTest } from '../../define.js';
import type { StepContext } from '../../step-context.js';
import { RATE_BACKEND_PORT, RATE_LIMITS, type RelayFixture } from '../fixture.js';
import { needServer, sleep } from './helpers.js';

type T = KitTest<RelayFixture>;

/** Polls a counter until it did not change for `quietMs` (or `maxMs` passed). */
async function waitQuiet(read: () => Promise<number>, quietMs: number, maxMs: number): Promise<number> {
  const end = Date.now() + maxMs;
  let last = await read();
  let since = Date.now();
  while (Date.now() < end && Date.now() - since < quietMs) {
    await sleep(100);
    const v = await read();
    if (v !== last) {
      last = v;
      since = Date.now();
    }
  }
  return last;
}

/** Sends `count` datagrams of `size` bytes from the rate sender and counts what arrives. */
async function rateRun(
  fx: RelayFixture,
  t: StepContext,
  which: 'pps' | 'bps',
  count: number,
  size: number,
): Promise<{ received: number; bytes: number; elapsedS: number }> {
  const r = await fx.rateClients();
  const sender = which === 'pps' ? r.senderPps : r.senderBps;
  const senderId = which === 'pps' ? 'ra' : 'rc';
  t.begin(`open the paths ${senderId} -> rb and rb -> ${senderId}`);
  const be: Endpoint = { host: '127.0.0.1', port: RATE_BACKEND_PORT };
  const [toRb] = await Promise.all([fx.openPath(sender, 'rb', be), fx.openPath(r.receiver, senderId, be)]);
  await fx.agents.b.received(r.sockB, true);
  t.begin(`send ${count} datagrams of ${size} bytes as fast as possible`);
  const t0 = Date.now();
  await fx.agents.a.sendMany(r.sockA, toRb, count, size, which);
  t.begin('count what arrived');
  await waitQuiet(async () => (await fx.agents.b.received(r.sockB)).count, fx.ms(1200), fx.ms(10_000));
  const elapsedS = (Date.now() - t0) / 1000;
  const log = await fx.agents.b.received(r.sockB, true);
  const mine = log.received.filter((x) =>
    x.data !== undefined ? Buffer.from(x.data, 'base64').subarray(0, 4).toString() === `${which}-` : x.len === size,
  );
  return { received: mine.length, bytes: mine.reduce((s, x) => s + x.len, 0), elapsedS };
}

/** The `relay.limits.*` tests, in run order. */
export const limitsTests: T[] = [
  {
    id: 'relay.limits.packet-rate',
    title: `a node sending 200 small datagrams at once gets at most burstPackets + packetsPerSecond x (elapsed s + 1) forwarded (server limits ${RATE_LIMITS.packetsPerSecond}/s, burst ${RATE_LIMITS.burstPackets})`,
    skipIf: needServer,
    deadlineMs: 30_000,
    async run(t, fx) {
      const { received, elapsedS } = await rateRun(fx, t, 'pps', 200, 64);
      const allowed = Math.floor(RATE_LIMITS.burstPackets + RATE_LIMITS.packetsPerSecond * (elapsedS + 1));
      t.check(received >= 1, 'nothing was forwarded at all: the rate-limited relay path does not work', '>= 1 datagram', received);
      t.check(
        received <= allowed,
        `the relay forwarded more DATA datagrams than its packet rate allows (sent 200 in ${elapsedS.toFixed(1)} s)`,
        `<= ${allowed}`,
        received,
      );
    },
  },
  {
    id: 'relay.limits.byte-rate',
    title: `a node sending 20 datagrams of 30 000 bytes at once gets at most burstBytes + bytesPerSecond x (elapsed s + 1) forwarded (server limits ${RATE_LIMITS.bytesPerSecond} B/s, burst ${RATE_LIMITS.burstBytes} B)`,
    skipIf: needServer,
    deadlineMs: 30_000,
    async run(t, fx) {
      const { received, bytes, elapsedS } = await rateRun(fx, t, 'bps', 20, 30_000);
      const allowed = Math.floor(RATE_LIMITS.burstBytes + RATE_LIMITS.bytesPerSecond * (elapsedS + 1));
      t.check(received >= 1, 'nothing was forwarded at all: the rate-limited relay path does not work', '>= 1 datagram', received);
      t.check(
        bytes <= allowed,
        `the relay forwarded more bytes than its byte rate allows (sent 600 000 bytes in ${elapsedS.toFixed(1)} s)`,
        `<= ${allowed} bytes`,
        { bytes, datagrams: received },
      );
    },
  },
];
