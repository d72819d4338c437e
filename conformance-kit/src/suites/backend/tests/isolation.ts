import type { KitTest } from '../../define.js';
import type { BackendFixture } from '../fixture.js';
import { expectDelivery } from './delivery.js';

type T = KitTest<BackendFixture>;

/** An overlay address in no peer's allowed IPs. */
const OUTSIDE = '100.64.250.9';

export const isolationTests: T[] = [
  {
    id: 'backend.isolation.spoofed-source',
    title: "cryptokey routing: from b, datagrams with a source in c's allowed IPs or in no peer's are not delivered on a",
    async run(t, fx) {
      await fx.mesh();
      const { b, c } = fx.nodes;
      t.begin(`put ${c.ip4} (c's address) and ${OUTSIDE} on b's loopback`);
      const cidrs = [`${c.ip4}/32`, `${OUTSIDE}/32`];
      await Promise.all(cidrs.map((x) => b.host.exec('ip', ['addr', 'replace', x, 'dev', 'lo'])));
      try {
        await expectDelivery(t, fx, b, [
          { src: b.ip4, want: true, why: "control: b's own address" },
          { src: c.ip4, want: false, why: "the source is c's allowed IP, not b's" },
          { src: OUTSIDE, want: false, why: "the source is in no peer's allowed IPs" },
        ]);
      } finally {
        await Promise.all(cidrs.map((x) => b.host.exec('ip', ['addr', 'del', x, 'dev', 'lo'], { reject: false })));
      }
    },
  },
];
