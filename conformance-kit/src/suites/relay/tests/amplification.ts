import { randomBytes } from 'node:crypto';
import type { KitTest } from '../../define.js';
import type { RelayFixture } from '../fixture.js';
import { EncodeData, EncodeHello, EncodeKeepalive, EncodeRegister, needServer } from './helpers.js';

type T = KitTest<RelayFixture>;

/** The `relay.amplification.*` tests, in run order. */
export const amplificationTests: T[] = [
  {
    id: 'relay.amplification.unvalidated',
    title: 'to an unregistered address (host c) the server never sends more bytes than it received from it, probe by probe',
    skipIf: needServer,
    async run(t, fx) {
      await fx.mainClients();
      const probes: { what: string; p: Buffer }[] = [];
      for (const n of [1, 2, 3, 5, 6, 7, 16, 64, 95, 96, 97, 200, 1000]) probes.push({ what: `random ${n} bytes`, p: randomBytes(n) });
      for (let ty = 0; ty <= 9; ty++) {
        probes.push({ what: `version 1, type ${ty}, 2 bytes`, p: Buffer.of(1, ty) });
        probes.push({ what: `version 1, type ${ty}, 3 bytes`, p: Buffer.of(1, ty, 0) });
      }
      const hello = fx.protocolFn<EncodeHello>('encodeHello');
      if (hello) {
        const h = hello();
        probes.push({ what: `HELLO (${h.length} bytes)`, p: h }, { what: 'HELLO of 300 bytes', p: hello(300) });
        for (const n of [2, 3, 6, 10, 20, 40, 60, 69, 70, 71, 95])
          if (n < h.length) probes.push({ what: `HELLO cut to ${n} bytes`, p: h.subarray(0, n) });
      }
      const ka = fx.protocolFn<EncodeKeepalive>('encodeKeepalive');
      if (ka) {
        const k = ka(1);
        probes.push({ what: `KEEPALIVE (${k.length} bytes)`, p: k });
        for (let n = 2; n < k.length; n++) probes.push({ what: `KEEPALIVE cut to ${n} bytes`, p: k.subarray(0, n) });
      }
      const data = fx.protocolFn<EncodeData>('encodeData');
      if (data) {
        probes.push(
          { what: 'DATA for a, 1-byte payload', p: data('a', Buffer.of(0x41)) },
          { what: 'DATA for b, 100-byte payload', p: data('b', randomBytes(100)) },
        );
      }
      const reg = fx.protocolFn<EncodeRegister>('encodeRegister');
      if (reg) {
        const r = reg(Buffer.alloc(68), 'a', Buffer.alloc(64));
        probes.push(
          { what: `REGISTER with a forged token (${r.length} bytes)`, p: r },
          { what: 'REGISTER cut to 10 bytes', p: r.subarray(0, 10) },
          { what: 'REGISTER cut to 70 bytes', p: r.subarray(0, 70) },
        );
      }
      t.begin(`host c sends ${probes.length} probes, each from its own UDP socket, to the relay`);
      const res = await fx.agents.c.probe(
        fx.relayEndpoint,
        probes.map((x) => x.p),
        fx.ms(1000),
      );
      t.begin('compare bytes received by each socket with the bytes it sent');
      const over = res
        .map((r, i) => ({ probe: probes[i].what, sent: r.sent, received: r.received, replies: r.replies }))
        .filter((r) => r.received > r.sent);
      const totalIn = res.reduce((s, r) => s + r.sent, 0);
      const totalOut = res.reduce((s, r) => s + r.received, 0);
      t.check(
        over.length === 0,
        `the server sent an unvalidated address more bytes than it received (${over.length} of ${probes.length} probes)`,
        'bytes received back <= bytes sent, per probe',
        over.slice(0, 8),
      );
      t.check(
        totalOut <= totalIn,
        'the server sent the unvalidated address more bytes than it received in total',
        `<= ${totalIn}`,
        totalOut,
      );
    },
  },
];
