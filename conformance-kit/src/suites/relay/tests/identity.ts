import type { NetmapRelay } from '@rustynet/plugin-api';
import type { KitTest } from '../../define.js';
import type { RelayFixture } from '../fixture.js';
import { rawProto, rawSession, rawSkip } from '../raw-session.js';
import { clientInD, closeClient, reachesA, type ClientUnderTest } from './client.js';

type T = KitTest<RelayFixture>;

/** Relay id shared by the genuine relay and its impostors: the id is not what tells them apart. */
const ID_RELAY = 'kit-relay-id';

/** Outcome of `start` on a fresh client in d: resolved, or the error's code and message. */
async function startOutcome(
  fx: RelayFixture,
  label: string,
  relays: NetmapRelay[],
): Promise<{ started: boolean; code?: string; message?: string; ms: number; openPath?: string }> {
  const client = await fx.newClient('d', label);
  const t0 = Date.now();
  try {
    await fx.start(client, 'd', { relays, timeoutMs: fx.ms(10_000) });
    const ms = Date.now() - t0;
    await fx.stop(client).catch(() => undefined);
    return { started: true, ms };
  } catch (err) {
    const ms = Date.now() - t0;
    const e = err as { code?: string; message?: string };
    // Nothing opens: the client is not running, so openPath is refused.
    const openPath = await fx.openPath(client, 'a', { host: '127.0.0.1', port: 7107 }).then(
      () => 'opened',
      (x: unknown) => (x as { code?: string }).code ?? 'error',
    );
    return { started: false, ...(e.code !== undefined && { code: e.code }), message: String(e.message ?? err), ms, openPath };
  }
}

/** The `relay.identity.*` tests (relay identity, docs/relay.md), in run order. */
export const identityTests: T[] = [
  {
    id: 'relay.identity.verified',
    title:
      "a client whose relay entry lists the relay's identity key registers with the relay that holds it (identityKeyFile): d's backend reaches a through it",
    gate: 'server, protocol (raw registration)',
    deadlineMs: 30_000,
    skipIf: rawSkip,
    async run(t, fx) {
      const p = rawProto(fx);
      const key = fx.relayKey('genuine');
      const spec = { name: 'id-genuine', port: 3491, relayId: ID_RELAY, nodes: ['a', 'd'], identityKeyFile: key.keyFile };
      await fx.withServer(spec, async (r) => {
        t.begin('a registers on the wire');
        const recv = t.need(await rawSession(fx, p, 'a', r.endpoint, r.id, 'a'), 'no CHALLENGE for a', 'a CHALLENGE', null);
        let c: ClientUnderTest | undefined;
        try {
          c = await clientInD(t, fx, 'client-id-genuine', [{ ...r, identityKey: key.publicKeyB64 }]);
          t.begin("d's backend -> a through the authenticated relay");
          t.check(await reachesA(fx, c, recv, fx.ms(5000), 'id-genuine'), 'nothing reaches a', 'delivered', 'not delivered');
        } finally {
          await closeClient(fx, c);
        }
      });
    },
  },
  {
    id: 'relay.identity.forged-refused',
    title:
      'a client refuses a relay that does not prove the identity key of its relay entry — one holding another key, one with no key — within 10 s: start fails with RELAY_FAILED naming the relay, and openPath then fails (nothing opens)',
    gate: 'server',
    deadlineMs: 40_000,
    skipIf: rawSkip,
    async run(t, fx) {
      const listed = fx.relayKey('genuine').publicKeyB64;
      const impostors = [
        { name: 'id-other-key', port: 3492, what: 'another key', identityKeyFile: fx.relayKey('impostor').keyFile },
        { name: 'id-no-key', port: 3493, what: 'no key' },
      ];
      for (const imp of impostors) {
        const spec = {
          name: imp.name,
          port: imp.port,
          relayId: ID_RELAY,
          nodes: ['a', 'd'],
          ...(imp.identityKeyFile !== undefined && { identityKeyFile: imp.identityKeyFile }),
        };
        await fx.withServer(spec, async (r) => {
          t.begin(`a relay with ${imp.what} on ${r.endpoint.host}:${r.endpoint.port}; d starts with the listed key`);
          const o = await startOutcome(fx, `client-${imp.name}`, [{ ...r, identityKey: listed }]);
          t.check(!o.started, `the client registered with a relay holding ${imp.what}`, 'start rejected', o);
          t.check(o.code === 'RELAY_FAILED', 'start must fail with RELAY_FAILED', 'RELAY_FAILED', o.code);
          t.check(o.message?.includes(ID_RELAY), 'the error must name the relay', `a message naming ${ID_RELAY}`, o.message);
          t.check(o.ms <= fx.ms(10_000), 'the refusal must come within 10 s', '<= 10000 ms', o.ms);
          t.check(o.openPath === 'NOT_RUNNING', 'after the refusal openPath must fail (nothing opens)', 'NOT_RUNNING', o.openPath);
        });
      }
    },
  },
];
