import type { KitTest } from '../../define.js';
import type { RelayFixture } from '../fixture.js';
import { delivered, rawProto, rawSession, rawSkip, type RawSocket } from '../raw-session.js';
import { marker, sleep } from './helpers.js';

type T = KitTest<RelayFixture>;

/** Server limits the kit may set only when the package lists them in `relayServerKitLimits`. */
function limitSkip(fx: RelayFixture, names: readonly string[]): string | undefined {
  const declared = fx.pkg.serverKitLimits;
  const missing = names.filter((n) => !declared.includes(n));
  return missing.length === 0
    ? undefined
    : `the package does not list ${missing.join(', ')} in relayServerKitLimits: the kit cannot set this server limit (docs/conformance.md, Relay)`;
}

/** The `relay.sessions.*` tests, in run order. */
export const sessionsTests: T[] = [
  {
    id: 'relay.sessions.cap',
    title:
      'with maxSessionsPerNode 2, node d registers from three addresses: exactly two of them can send through the relay; the receiver a (another node) is unaffected',
    gate: 'server, protocol (raw registration)',
    deadlineMs: 30_000,
    skipIf: rawSkip,
    async run(t, fx) {
      const p = rawProto(fx);
      const spec = { name: 'cap', port: 3483, relayId: 'kit-relay-cap', nodes: ['a', 'd'], limits: { maxSessionsPerNode: 2 } };
      await fx.withServer(spec, async (relay) => {
        t.begin('a registers on the wire (the receiver)');
        const recv = t.need(await rawSession(fx, p, 'a', relay.endpoint, relay.id, 'a'), 'no CHALLENGE for a', 'a CHALLENGE', null);
        t.begin('d registers from three addresses (c, d, and a second socket in c)');
        const sessions: RawSocket[] = [];
        for (const host of ['c', 'd', 'c'] as const) {
          sessions.push(
            t.need(await rawSession(fx, p, host, relay.endpoint, relay.id, 'd'), `no CHALLENGE in ${host}`, 'a CHALLENGE', null),
          );
        }
        t.begin('DATA d -> a from each of the three addresses');
        const works: boolean[] = [];
        for (const [i, s] of sessions.entries()) {
          works.push(await delivered(p, s, relay.endpoint, 'a', marker(`cap-${i}`), recv, fx.ms(1500)));
        }
        const n = works.filter(Boolean).length;
        t.check(n <= 2, 'more sessions of one node than maxSessionsPerNode forward DATA: the cap is not enforced', 'at most 2 of 3', works);
        t.check(n === 2, 'fewer sessions than maxSessionsPerNode work: the cap was not filled', 'exactly 2 of 3', works);
      });
    },
  },
  {
    id: 'relay.sessions.expire',
    title:
      "with sessionTimeoutMs 2500, a session idle for 6 s is gone: its DATA is not forwarded to a's fresh session, while a fresh session of d (control, same window) is",
    gate: 'server, protocol (raw registration), server limit sessionTimeoutMs',
    deadlineMs: 30_000,
    skipIf: (fx) => rawSkip(fx) ?? limitSkip(fx, ['sessionTimeoutMs']),
    async run(t, fx) {
      const p = rawProto(fx);
      const spec = { name: 'expire', port: 3484, relayId: 'kit-relay-expire', nodes: ['a', 'd'], limits: { sessionTimeoutMs: 2500 } };
      await fx.withServer(spec, async (relay) => {
        t.begin('a and d register on the wire');
        const recv = t.need(await rawSession(fx, p, 'a', relay.endpoint, relay.id, 'a'), 'no CHALLENGE for a', 'a CHALLENGE', null);
        const sd = t.need(await rawSession(fx, p, 'd', relay.endpoint, relay.id, 'd'), 'no CHALLENGE for d', 'a CHALLENGE', null);
        t.begin('control: DATA d -> a');
        t.check(
          await delivered(p, sd, relay.endpoint, 'a', marker('ctl'), recv, fx.ms(1500)),
          'DATA d -> a did not arrive',
          'delivered',
          'not delivered',
        );
        t.begin('d stays silent for 6 s; then a and d register anew (new sockets)');
        await sleep(6000);
        const recv2 = t.need(await rawSession(fx, p, 'a', relay.endpoint, relay.id, 'a'), 'no CHALLENGE for a', 'a CHALLENGE', null);
        const again = t.need(await rawSession(fx, p, 'd', relay.endpoint, relay.id, 'd'), 'no CHALLENGE for d', 'a CHALLENGE', null);
        t.begin("DATA from d's expired session is not forwarded");
        const leaked = await delivered(p, sd, relay.endpoint, 'a', marker('expired'), recv2, fx.ms(800));
        t.check(!leaked, 'a session idle for longer than sessionTimeoutMs still forwards', 'not forwarded', 'forwarded to a');
        t.begin("control, in the same window: DATA from d's new session is forwarded");
        t.check(
          await delivered(p, again, relay.endpoint, 'a', marker('again'), recv2, fx.ms(1000)),
          'a new registration after expiry does not work: the test is inconclusive',
          'delivered',
          'not delivered',
        );
      });
    },
  },
];
