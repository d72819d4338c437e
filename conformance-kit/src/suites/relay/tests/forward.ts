import type { KitTest } from '../../define.js';
import type { RelayFixture } from '../fixture.js';
import { contains, EncodeData, marker, sleep, waitFor } from './helpers.js';

type T = KitTest<RelayFixture>;

/** The `relay.forward.*` tests, in run order. */
export const forwardTests: T[] = [
  {
    id: 'relay.forward.unregistered-source',
    title: 'DATA datagrams crafted by an unregistered address (host c) are never forwarded to registered nodes',
    skipIf: (fx) =>
      fx.noServerReason ??
      (fx.protocolFn('encodeData')
        ? undefined
        : `the package exports no protocol.encodeData(nodeId, payload): the kit cannot craft DATA datagrams`),
    async run(t, fx) {
      const encodeData = fx.protocolFn<EncodeData>('encodeData')!;
      const { aToB } = await fx.mainPaths();
      t.begin('capture on the underlay of a and b');
      const [capA, capB] = await Promise.all([
        fx.net.host('a').capture({ filter: ['udp'] }),
        fx.net.host('b').capture({ filter: ['udp'] }),
      ]);
      try {
        const m = marker('spoof');
        const ctl = marker('control');
        t.begin('c sends DATA for a and for b (10 each) from an unregistered address');
        const sock = await fx.agents.c.open('0.0.0.0', 0);
        const crafted = [encodeData('a', m), encodeData('b', m)];
        await fx.agents.c.send(
          sock.id,
          fx.relayEndpoint,
          Array.from({ length: 20 }, (_, i) => crafted[i % 2]),
        );
        await fx.agents.c.close(sock.id);
        t.begin('control: a -> b through the relay');
        await fx.agents.a.received(fx.backends.a, true);
        await fx.agents.a.send(fx.backends.a, aToB, [ctl]);
        const back = await waitFor(
          () => fx.agents.a.received(fx.backends.a),
          (l) => contains(l, ctl),
          fx.ms(3000),
        );
        t.check(
          contains(back, ctl),
          'the control datagram a -> b -> a did not come back: the test is inconclusive',
          'control echo',
          'no echo',
        );
        await sleep(fx.ms(500));
        const [pa, pb] = await Promise.all([capA.stop(), capB.stop()]);
        t.begin('the crafted payload never reached a or b');
        t.check(
          pb.includes(ctl),
          "the control payload is not in the capture on b's underlay: the capture does not see relayed traffic",
          'control payload captured',
          'not captured',
        );
        t.check(
          !pa.includes(m) && !pb.includes(m),
          'the relay forwarded DATA from an address that never registered',
          'no crafted payload on the underlay of a or b',
          { onA: pa.includes(m), onB: pb.includes(m) },
        );
      } finally {
        await Promise.all([capA.stop().catch(() => undefined), capB.stop().catch(() => undefined)]);
      }
    },
  },
];
