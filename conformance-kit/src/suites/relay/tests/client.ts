import type { Endpoint, NetmapRelay } from '@rustynet/plugin-api';
import type { KitTest } from '../../define.js';
import type { StepContext } from '../../step-context.js';
import { kitOptionSkip } from '../../common/kit-options.js';
import type { ClientNode, RelayFixture } from '../fixture.js';
import { rawProto, rawReceived, rawSession, rawSkip, type RawProtocol, type RawSocket } from '../raw-session.js';
import { contains, marker, sleep, waitFor } from './helpers.js';

type T = KitTest<RelayFixture>;

/** Loopback port of the stand-in backend of the client tests in host d. */
const CLIENT_BACKEND_PORT = 7106;
/** Kit options of the fail-over client: a dead relay is noticed after 3 × 500 ms of silence. */
const FAST_KEEPALIVE = { keepaliveIntervalMs: 500, keepaliveMisses: 3 } as const;

/** A client under test in d, started as node d with `relays`, with a path to a and its stand-in backend. */
export interface ClientUnderTest {
  client: ClientNode;
  backend: number;
  path: Endpoint;
}

export async function clientInD(
  t: StepContext,
  fx: RelayFixture,
  label: string,
  relays: NetmapRelay[],
  options?: Record<string, unknown>,
): Promise<ClientUnderTest> {
  t.begin(`client in d: start as d with relays ${relays.map((r) => r.id).join(', ')}; openPath(a)`);
  const client = await fx.newClient('d', label, options);
  await t.ok('start', fx.start(client, 'd', { relays, timeoutMs: fx.ms(10_000) }));
  const backend = (await fx.agents.d.open('127.0.0.1', CLIENT_BACKEND_PORT)).id;
  const path = await t.ok('openPath(a)', fx.openPath(client, 'a', { host: '127.0.0.1', port: CLIENT_BACKEND_PORT }));
  return { client, backend, path };
}

export async function closeClient(fx: RelayFixture, c: ClientUnderTest | undefined): Promise<void> {
  if (!c) return;
  await fx.stop(c.client).catch(() => undefined);
  await fx.agents.d.close(c.backend).catch(() => undefined);
}

/**
 * d's backend sends a marker to its path endpoint every 300 ms until `recv` (a, on the wire)
 * gets it or `ms` passed. @returns whether it arrived.
 */
export async function reachesA(fx: RelayFixture, c: ClientUnderTest, recv: RawSocket, ms: number, tag: string): Promise<boolean> {
  const m = marker(tag);
  const end = Date.now() + ms;
  while (Date.now() < end) {
    await fx.agents.d.send(c.backend, c.path, [m]);
    await sleep(300);
    if ((await rawReceived(recv)).some((d) => d.includes(m))) return true;
  }
  return false;
}

/** a (on the wire) sends DATA for d: does it reach d's backend? */
async function reachesD(fx: RelayFixture, p: RawProtocol, recv: RawSocket, relay: Endpoint, c: ClientUnderTest): Promise<boolean> {
  const m = marker('to-d');
  await recv.agent.send(recv.id, relay, [p.encodeData('d', m), p.encodeData('d', m)]);
  const log = await waitFor(
    () => fx.agents.d.received(c.backend),
    (l) => contains(l, m),
    fx.ms(2000),
  );
  return contains(log, m);
}

/** The `relay.client.*` tests, in run order. */
export const clientTests: T[] = [
  {
    id: 'relay.client.refusal-not-liveness',
    title:
      'a client listing first a relay that refuses it (d in no allowlist) and then one that accepts it registers with the second: relayed traffic flows both ways',
    gate: 'server, protocol (raw registration)',
    deadlineMs: 40_000,
    skipIf: rawSkip,
    async run(t, fx) {
      const p = rawProto(fx);
      const refuser = { name: 'refuser', port: 3485, relayId: 'kit-relay-refuser', nodes: ['a'] };
      const good = { name: 'good', port: 3486, relayId: 'kit-relay-good', nodes: ['a', 'd'] };
      await fx.withServer(refuser, (r1) =>
        fx.withServer(good, async (r2) => {
          t.begin('a registers on the wire with the accepting relay');
          const recv = t.need(await rawSession(fx, p, 'a', r2.endpoint, r2.id, 'a'), 'no CHALLENGE for a', 'a CHALLENGE', null);
          let c: ClientUnderTest | undefined;
          try {
            c = await clientInD(t, fx, 'client-refusal', [r1, r2]);
            t.begin("d's backend -> a through the relays");
            t.check(
              await reachesA(fx, c, recv, fx.ms(5000), 'refusal'),
              'the client took the refusal for a registration: nothing reaches a',
              'delivered via the accepting relay',
              'not delivered',
            );
            t.begin("a -> d's backend");
            t.check(await reachesD(fx, p, recv, r2.endpoint, c), 'DATA a -> d does not reach the client', 'delivered', 'not delivered');
          } finally {
            await closeClient(fx, c);
          }
        }),
      );
    },
  },
  {
    id: 'relay.client.reregister-after-restart',
    title:
      "after its relay restarts (all sessions lost), a running client registers again by itself: d's backend reaches a again within 12 s, without any call to the plugin",
    gate: 'server, protocol (raw registration)',
    deadlineMs: 45_000,
    skipIf: rawSkip,
    async run(t, fx) {
      const p = rawProto(fx);
      const spec = { name: 'restart', port: 3487, relayId: 'kit-relay-restart', nodes: ['a', 'd'] };
      await fx.withServer(spec, async (relay) => {
        t.begin('a registers on the wire');
        const recv = t.need(await rawSession(fx, p, 'a', relay.endpoint, relay.id, 'a'), 'no CHALLENGE for a', 'a CHALLENGE', null);
        let c: ClientUnderTest | undefined;
        try {
          c = await clientInD(t, fx, 'client-restart', [relay]);
          t.begin('control: d -> a before the restart');
          t.check(
            await reachesA(fx, c, recv, fx.ms(5000), 'before'),
            'd -> a does not work before the restart',
            'delivered',
            'not delivered',
          );
          t.begin('restart the relay (stop, start: no sessions); a registers again on the wire');
          await fx.restartServer(spec);
          const recv2 = t.need(await rawSession(fx, p, 'a', relay.endpoint, relay.id, 'a'), 'no CHALLENGE for a', 'a CHALLENGE', null);
          t.begin('d -> a again within 12 s');
          t.check(
            await reachesA(fx, c, recv2, 12_000, 'after'),
            'the client did not register again after the relay restarted',
            'delivered within 12 s',
            'not delivered',
          );
        } finally {
          await closeClient(fx, c);
        }
      });
    },
  },
  {
    id: 'relay.client.failover',
    title:
      'a client registered with the first of two relays moves to the second when the first stops (kit options keepaliveIntervalMs 500, keepaliveMisses 3): d reaches a through the second within 10 s',
    gate: 'server, protocol (raw registration), kit options keepaliveIntervalMs + keepaliveMisses',
    deadlineMs: 45_000,
    skipIf: (fx) => rawSkip(fx) ?? kitOptionSkip(fx.manifest, Object.keys(FAST_KEEPALIVE)),
    async run(t, fx) {
      const p = rawProto(fx);
      const f1 = { name: 'f1', port: 3488, relayId: 'kit-relay-f1', nodes: ['a', 'd'] };
      const f2 = { name: 'f2', port: 3489, relayId: 'kit-relay-f2', nodes: ['a', 'd'] };
      await fx.withServer(f1, (r1) =>
        fx.withServer(f2, async (r2) => {
          t.begin('a registers on the wire with both relays');
          const recv1 = t.need(await rawSession(fx, p, 'a', r1.endpoint, r1.id, 'a'), 'no CHALLENGE for a', 'a CHALLENGE', null);
          const recv2 = t.need(await rawSession(fx, p, 'a', r2.endpoint, r2.id, 'a'), 'no CHALLENGE for a', 'a CHALLENGE', null);
          let c: ClientUnderTest | undefined;
          try {
            c = await clientInD(t, fx, 'client-failover', [r1, r2], { ...FAST_KEEPALIVE });
            t.begin(`control: d -> a through ${r1.id}`);
            t.check(
              await reachesA(fx, c, recv1, fx.ms(5000), 'first'),
              `d -> a does not work through ${r1.id}`,
              'delivered',
              'not delivered',
            );
            t.begin(`stop ${r1.id}; d -> a through ${r2.id} within 10 s`);
            await fx.agents.relay.serverStop(f1.name);
            t.check(
              await reachesA(fx, c, recv2, 10_000, 'second'),
              `the client did not fail over to ${r2.id}`,
              'delivered within 10 s',
              'not delivered',
            );
            t.check(
              await reachesD(fx, p, recv2, r2.endpoint, c),
              `DATA a -> d through ${r2.id} does not reach the client`,
              'delivered',
              'not delivered',
            );
          } finally {
            await closeClient(fx, c);
          }
        }),
      );
    },
  },
];
