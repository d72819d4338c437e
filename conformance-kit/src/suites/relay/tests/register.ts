import type { Endpoint } from '@rustynet/plugin-api';
import type { KitTest } from '../../define.js';
import type { StepContext } from '../../step-context.js';
import { BACKEND_PORT, IMPOSTOR, RELAY_ID, STRANGER, type RelayFixture } from '../fixture.js';
import { delivered, rawChallenge, rawProto, rawRegister, rawSession, rawSkip, rawSocket } from '../raw-session.js';
import { contains, LOOPBACK_BACKEND, marker, needServer, sleep, waitFor } from './helpers.js';

type T = KitTest<RelayFixture>;

let dBackend: Promise<number> | undefined;
let dBackendOwner: RelayFixture | undefined;

/** A stand-in backend socket on 127.0.0.1:BACKEND_PORT in host d. */
function backendD(fx: RelayFixture): Promise<number> {
  if (dBackendOwner !== fx) {
    dBackendOwner = fx;
    dBackend = fx.agents.d.open('127.0.0.1', BACKEND_PORT, false).then((s) => s.id);
  }
  return dBackend!;
}

/**
 * A client in d registers as `nodeId` with `keyId`'s key. Whatever `start` does, no datagram
 * may travel between it and a (checked at both stand-in backends and in a capture on d's underlay).
 */
async function refusedRegistration(t: StepContext, fx: RelayFixture, nodeId: string, keyId: string, label: string): Promise<void> {
  const { a } = await fx.mainClients();
  const { aToB } = await fx.mainPaths();
  t.begin(`a opens a path to ${nodeId}`);
  const aToX = await t.ok(`openPath(${nodeId}) on a`, fx.openPath(a, nodeId, LOOPBACK_BACKEND));
  const client = await fx.newClient('d', label);
  const sockD = await backendD(fx);
  await fx.agents.d.received(sockD, true);
  await fx.agents.a.received(fx.backends.a, true);
  const cap = await fx.net.host('d').capture({ filter: ['udp'] });
  try {
    t.begin(`start as ${nodeId} signing with ${keyId === nodeId ? 'its own key (not in the allowlist)' : 'the wrong key'}`);
    let started = false;
    let startError: unknown;
    try {
      await fx.start(client, nodeId, { keyId, timeoutMs: fx.ms(3000) });
      started = true;
    } catch (err) {
      startError = err;
    }
    let xToA: Endpoint | undefined;
    if (started) {
      t.begin(`${nodeId} (start resolved) opens a path to a`);
      xToA = await fx.openPath(client, 'a', LOOPBACK_BACKEND).catch(() => undefined);
    }
    t.begin('send both ways, plus a control datagram a -> b');
    const m1 = marker('to-impostor');
    const m2 = marker('from-impostor');
    const ctl = marker('control');
    await fx.agents.a.send(fx.backends.a, aToX, [m1, m1, m1, m1, m1]);
    if (xToA) await fx.agents.d.send(sockD, xToA, [m2, m2, m2, m2, m2]);
    await fx.agents.a.send(fx.backends.a, aToB, [ctl]);
    const back = await waitFor(
      () => fx.agents.a.received(fx.backends.a),
      (l) => contains(l, ctl),
      fx.ms(3000),
    );
    t.check(
      contains(back, ctl),
      'the control datagram a -> b -> a did not come back: the relay path is not working, the test is inconclusive',
      'control echo through the relay',
      'no echo',
    );
    await sleep(fx.ms(700));
    const pcap = await cap.stop();
    t.begin('nothing was carried');
    const dLog = await fx.agents.d.received(sockD);
    const aLog = await fx.agents.a.received(fx.backends.a);
    const startOutcome = started
      ? 'start resolved'
      : `start rejected: ${(startError as { code?: string })?.code ?? ''} ${(startError as Error)?.message ?? ''}`.trim();
    t.check(
      !pcap.includes(m1),
      `the relay forwarded a's datagrams to ${nodeId}'s address (seen on d's underlay) although its registration must be refused`,
      'no datagram for the refused node reaches its host',
      { startOutcome, markerOnUnderlayOfD: true },
    );
    t.check(!contains(dLog, m1), `a's datagrams reached the backend of the refused ${nodeId}`, 'nothing delivered', {
      startOutcome,
      delivered: true,
    });
    t.check(!contains(aLog, m2), `datagrams of the refused ${nodeId} reached a's backend`, 'nothing delivered', {
      startOutcome,
      delivered: true,
    });
  } finally {
    await cap.stop().catch(() => undefined);
    await fx.stop(client).catch(() => undefined);
    await a.plugin.call('closePath', [nodeId]).catch(() => undefined);
  }
}

/** The `relay.register.*` tests, in run order. */
export const registerTests: T[] = [
  {
    id: 'relay.register.bad-signature',
    title: 'a client whose sign() uses the wrong key is refused: no datagram is carried to or from it',
    skipIf: needServer,
    deadlineMs: 30_000,
    async run(t, fx) {
      await refusedRegistration(t, fx, IMPOSTOR, `${IMPOSTOR}-wrong`, 'impostor-x');
    },
  },
  {
    id: 'relay.register.unknown-node',
    title: "a node that is not in the relay's allowlist is refused: no datagram is carried to or from it",
    skipIf: needServer,
    deadlineMs: 30_000,
    async run(t, fx) {
      await refusedRegistration(t, fx, STRANGER, STRANGER, 'stranger-y');
    },
  },
  {
    id: 'relay.register.token-replay',
    title:
      "a REGISTER carrying a valid token made for host c's address, correctly signed, sent from host d's address gets d no session (its DATA is not forwarded); the same REGISTER from c works",
    gate: 'server, protocol (raw registration)',
    skipIf: rawSkip,
    async run(t, fx) {
      const p = rawProto(fx);
      const spec = { name: 'replay', port: 3481, relayId: 'kit-relay-replay', nodes: ['a', 'd'] };
      await fx.withServer(spec, async (relay) => {
        t.begin('a registers on the wire (the receiver)');
        const recv = t.need(await rawSession(fx, p, 'a', relay.endpoint, relay.id, 'a'), 'no CHALLENGE for a', 'a CHALLENGE', null);
        t.begin("c: HELLO -> the token for c's address; REGISTER of d signed with d's key");
        const sc = await rawSocket(fx, 'c');
        const body = t.need(await rawChallenge(p, sc, relay.endpoint, fx.ms(3000)), 'no CHALLENGE for c', 'a CHALLENGE', null);
        const reg = rawRegister(fx, p, body, 'd', relay.id);
        t.begin("the same REGISTER from d's address (the token replayed from elsewhere)");
        const sd = await rawSocket(fx, 'd');
        await sd.agent.send(sd.id, relay.endpoint, [reg]);
        await sleep(300);
        t.begin("control: the REGISTER from c's address, then DATA c -> a");
        await sc.agent.send(sc.id, relay.endpoint, [reg]);
        await sleep(300);
        const ok = await delivered(p, sc, relay.endpoint, 'a', marker('ctl'), recv, fx.ms(2000));
        t.check(
          ok,
          'a registration with a token for its own address did not work: the test is inconclusive',
          'DATA c -> a delivered',
          'not delivered',
        );
        t.begin("DATA from d's address (never validated) is not forwarded");
        const leaked = await delivered(p, sd, relay.endpoint, 'a', marker('replay'), recv, fx.ms(1000));
        t.check(!leaked, "the relay accepted a token made for another address: d's DATA reached a", 'not forwarded', 'forwarded to a');
      });
    },
  },
  {
    id: 'relay.register.other-relay-id',
    title:
      "a REGISTER signed over another relay's id (the main relay's) is refused at this relay (its DATA is not forwarded); the same node signing over this relay's id from the same address works",
    gate: 'server, protocol (raw registration)',
    skipIf: rawSkip,
    async run(t, fx) {
      const p = rawProto(fx);
      const spec = { name: 'ids', port: 3482, relayId: 'kit-relay-ids', nodes: ['a', 'd'] };
      await fx.withServer(spec, async (relay) => {
        t.begin('a registers on the wire (the receiver)');
        const recv = t.need(await rawSession(fx, p, 'a', relay.endpoint, relay.id, 'a'), 'no CHALLENGE for a', 'a CHALLENGE', null);
        t.begin(`c: REGISTER of d signed over relay id ${RELAY_ID} (not ${relay.id})`);
        const sc = await rawSocket(fx, 'c');
        const body = t.need(await rawChallenge(p, sc, relay.endpoint, fx.ms(3000)), 'no CHALLENGE for c', 'a CHALLENGE', null);
        await sc.agent.send(sc.id, relay.endpoint, [rawRegister(fx, p, body, 'd', RELAY_ID)]);
        await sleep(300);
        t.begin('DATA c -> a after the registration for another relay is not forwarded');
        const leaked = await delivered(p, sc, relay.endpoint, 'a', marker('other-id'), recv, fx.ms(1000));
        t.check(!leaked, "the relay accepted a registration signed for another relay's id", 'not forwarded', 'forwarded to a');
        t.begin(`control: REGISTER of d signed over ${relay.id} from the same address`);
        const body2 = t.need(await rawChallenge(p, sc, relay.endpoint, fx.ms(3000)), 'no CHALLENGE for c', 'a CHALLENGE', null);
        await sc.agent.send(sc.id, relay.endpoint, [rawRegister(fx, p, body2, 'd', relay.id)]);
        await sleep(300);
        const ok = await delivered(p, sc, relay.endpoint, 'a', marker('ctl'), recv, fx.ms(2000));
        t.check(
          ok,
          'a registration signed for this relay did not work: the test is inconclusive',
          'DATA c -> a delivered',
          'not delivered',
        );
      });
    },
  },
];
