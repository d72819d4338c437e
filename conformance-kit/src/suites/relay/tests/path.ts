import { createHash, randomBytes } from 'node:crypto';
import type { KitTest } from '../../define.js';
import type { RelayFixture } from '../fixture.js';
import { contains, LOOPBACK_BACKEND, marker, needServer, waitFor } from './helpers.js';

type T = KitTest<RelayFixture>;

/** The `relay.path.*` tests, in run order. */
export const pathTests: T[] = [
  {
    id: 'relay.path.both-ways',
    title: 'openPath carries datagrams both ways between two registered clients, unchanged, from the local endpoint the backend was given',
    skipIf: needServer,
    async run(t, fx) {
      t.begin('start a and b, open the paths a -> b and b -> a');
      const { aToB, bToA } = await fx.mainPaths();
      const A = fx.agents.a;
      const B = fx.agents.b;
      await Promise.all([A.received(fx.backends.a, true), B.received(fx.backends.b, true)]);
      const payloads = [1, 100, 1400, 8000].map((n, i) => {
        const p = randomBytes(n);
        if (n >= 24) marker(`bw${i}`).copy(p);
        return p;
      });
      t.begin("a's backend sends 4 datagrams (1..8000 bytes) to its endpoint for b");
      await A.send(fx.backends.a, aToB, payloads);
      const shas = payloads.map((p) => createHash('sha256').update(p).digest('hex'));
      const atB = await waitFor(
        () => B.received(fx.backends.b),
        (l) => shas.every((s) => l.received.some((r) => r.sha === s)),
        fx.ms(5000),
      );
      const missingAtB = shas.map((s, i) => (atB.received.some((r) => r.sha === s) ? -1 : payloads[i].length)).filter((x) => x >= 0);
      t.check(missingAtB.length === 0, "datagrams a -> b did not arrive intact at b's backend", 'all 4 datagrams, byte for byte', {
        missingSizes: missingAtB,
        received: atB.received.map((r) => ({ from: r.from, len: r.len })),
      });
      const wrongSource = atB.received.filter((r) => shas.includes(r.sha) && !r.from.endsWith(`:${bToA.port}`));
      t.check(
        wrongSource.length === 0,
        "b's backend must see a's datagrams coming from b's local endpoint for a (so its replies go back the same way)",
        `from 127.0.0.1:${bToA.port}`,
        wrongSource.map((r) => r.from),
      );
      t.begin("b's backend echoed them: they come back to a's backend");
      const atA = await waitFor(
        () => A.received(fx.backends.a),
        (l) => shas.every((s) => l.received.some((r) => r.sha === s)),
        fx.ms(5000),
      );
      const missingAtA = shas.filter((s) => !atA.received.some((r) => r.sha === s)).length;
      t.check(missingAtA === 0, "echoes b -> a did not arrive intact at a's backend", 'all 4 echoes', {
        missing: missingAtA,
        received: atA.received.map((r) => ({ from: r.from, len: r.len })),
      });
      const wrongSourceA = atA.received.filter((r) => shas.includes(r.sha) && !r.from.endsWith(`:${aToB.port}`));
      t.check(
        wrongSourceA.length === 0,
        "a's backend must see b's datagrams coming from a's local endpoint for b",
        `from 127.0.0.1:${aToB.port}`,
        wrongSourceA.map((r) => r.from),
      );
      t.begin("b's backend sends first: b -> a");
      const y = marker('b-first');
      await A.received(fx.backends.a, true);
      await B.send(fx.backends.b, bToA, [y]);
      const got = await waitFor(
        () => A.received(fx.backends.a),
        (l) => contains(l, y),
        fx.ms(5000),
      );
      t.check(contains(got, y), "a datagram b -> a (b's backend sending first) did not arrive", 'delivered', 'not delivered');
    },
  },
  {
    id: 'relay.path.status',
    title: 'status() lists each open path with its local endpoint, and its txPackets/rxPackets grow with the traffic',
    skipIf: needServer,
    async run(t, fx) {
      const { a } = await fx.mainClients();
      const { aToB } = await fx.mainPaths();
      t.begin('status() before the traffic');
      const before = (await t.ok('status()', fx.status(a))).find((p) => p.peer === 'b');
      t.need(before, 'status() does not list the open path to b', 'an entry with peer "b"', await fx.status(a));
      t.check(
        before!.localEndpoint?.port === aToB.port,
        'status() reports another local endpoint than openPath returned',
        aToB,
        before!.localEndpoint,
      );
      t.check(
        typeof before!.relay === 'string' && before!.relay !== '',
        'status().relay must name the relay',
        'non-empty string',
        before!.relay,
      );
      t.begin('5 echoes a -> b -> a');
      const r = await fx.agents.a.echoRounds(fx.backends.a, aToB, 5, 3, 1000, 100);
      t.check(r.ok === 5, 'echoes through the relay failed', '5 of 5', r.ok);
      const after = (await t.ok('status()', fx.status(a))).find((p) => p.peer === 'b')!;
      t.check(
        after.txPackets - before!.txPackets >= 5,
        'txPackets did not grow by the datagrams sent',
        `>= ${before!.txPackets + 5}`,
        after.txPackets,
      );
      t.check(
        after.rxPackets - before!.rxPackets >= 5,
        'rxPackets did not grow by the datagrams received',
        `>= ${before!.rxPackets + 5}`,
        after.rxPackets,
      );
    },
  },
  {
    id: 'relay.path.reopen-and-close',
    title: 'openPath twice returns the same endpoint; closePath removes the path from status(); closePath of an unknown peer is a no-op',
    skipIf: needServer,
    async run(t, fx) {
      const { a } = await fx.mainClients();
      const { aToB } = await fx.mainPaths();
      t.begin('openPath(b) again');
      const again = await t.ok('second openPath(b)', fx.openPath(a, 'b', LOOPBACK_BACKEND));
      t.equal(again, aToB, 'a second openPath for an open path must return the same endpoint');
      t.begin('openPath(d) then closePath(d)');
      await t.ok('openPath(d)', fx.openPath(a, 'd', LOOPBACK_BACKEND));
      await t.ok('closePath(d)', a.plugin.call('closePath', ['d']));
      const st = await t.ok('status()', fx.status(a));
      t.check(
        !st.some((p) => p.peer === 'd'),
        'status() still lists the closed path',
        'no entry for d',
        st.map((p) => p.peer),
      );
      t.begin('closePath of a peer without a path');
      await t.ok('closePath(nobody)', a.plugin.call('closePath', ['nobody']));
      t.begin('the path to b still works');
      const r = await fx.agents.a.echoRounds(fx.backends.a, aToB, 1, 5, 1000, 64);
      t.check(r.ok === 1, 'the path to b stopped working after closing another path', 'echo a -> b -> a', 'no echo');
    },
  },
  {
    id: 'relay.path.max-datagram',
    title: 'a datagram of the claimed maxDatagram bytes is carried intact',
    gate: 'maxDatagram',
    skipIf: needServer,
    async run(t, fx) {
      const size = Math.min(fx.caps.maxDatagram, 65_507);
      const { aToB } = await fx.mainPaths();
      const p = randomBytes(size);
      const sha = createHash('sha256').update(p).digest('hex');
      t.begin(`send one ${size}-byte datagram a -> b (up to 3 tries)`);
      await fx.agents.b.received(fx.backends.b, true);
      let got = false;
      for (let i = 0; i < 3 && !got; i++) {
        await fx.agents.a.send(fx.backends.a, aToB, [p]);
        const l = await waitFor(
          () => fx.agents.b.received(fx.backends.b),
          (x) => x.received.some((r) => r.sha === sha),
          fx.ms(2000),
        );
        got = l.received.some((r) => r.sha === sha);
      }
      t.check(got, `a ${size}-byte datagram (the claimed maxDatagram) did not arrive intact`, 'delivered byte for byte', 'not delivered');
    },
  },
];
