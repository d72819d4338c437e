import type { KitTest } from '../../define.js';
import { DNS_PORT_C, ZONE, type DnsFixture } from '../fixture.js';
import { askC, boundOn, cListen, expectCAnswers, summary } from './helpers.js';

type T = KitTest<DnsFixture>;

/** The `dns.teardown.*` tests, in run order. */
export const teardownTests: T[] = [
  {
    id: 'dns.teardown.port-closed',
    title: 'after stop no UDP or TCP socket is bound on the port and dig (UDP and TCP) gets no answer',
    async run(t, fx) {
      const fresh = await fx.freshInstance('c');
      t.begin('baseline: sockets on the port before start');
      const before = await boundOn(fx, 'c', DNS_PORT_C);
      t.begin('start, update, query');
      await t.ok('start', fx.start(fresh, cListen(fx)));
      await t.ok('update', fx.update(fresh, fx.zoneV1()));
      await expectCAnswers(t, fx, 'while running');
      t.begin('stop');
      await t.ok('stop', fx.stop(fresh));
      t.begin('no socket on the port');
      const after = await boundOn(fx, 'c', DNS_PORT_C);
      t.equal(after, before, 'sockets are still bound on the DNS port after stop');
      t.begin('dig gets no answer over UDP or TCP');
      const [u, tc] = await Promise.all([askC(fx, `b.${ZONE}`), askC(fx, `b.${ZONE}`, { tcp: true })]);
      t.check(u === null && tc === null, 'the stopped instance still answers', 'no answer over UDP and TCP', {
        udp: summary(u),
        tcp: summary(tc),
      });
      await fresh.close();
    },
  },
];
