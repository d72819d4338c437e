import type { KitTest } from '../../define.js';
import { DNS_PORT_BUSY, DNS_PORT_C, type DnsFixture } from '../fixture.js';
import { boundOn, cListen } from './helpers.js';

type T = KitTest<DnsFixture>;

/** The `dns.start.*` tests, in run order. */
export const startTests: T[] = [
  {
    id: 'dns.start.bad-listen',
    title: 'start with listen port 70000 or host "not-an-ip" -> INVALID_INPUT naming the field; the instance stays stopped',
    async run(t, fx) {
      const fresh = await fx.freshInstance('c');
      const c = fx.net.host('c').underlayAddress;
      t.begin('start with port 70000');
      await t.rejects(
        'start(port 70000)',
        fresh.call('start', [{ listen: [{ host: c, port: 70000 }] }]),
        'INVALID_INPUT',
        /^listen\[0\]\.port$/,
      );
      t.begin('start with host "not-an-ip"');
      await t.rejects(
        'start(host not-an-ip)',
        fresh.call('start', [{ listen: [{ host: 'not-an-ip', port: DNS_PORT_C }] }]),
        'INVALID_INPUT',
        /^listen\[0\]\.host$/,
      );
      t.begin('still stopped');
      await t.rejects('update after the refused starts', fresh.call('update', [fx.zoneV1()]), 'NOT_RUNNING');
      await fresh.close();
    },
  },
  {
    id: 'dns.start.port-in-use',
    title: 'start on a UDP port another socket holds fails with DNS_FAILED; nothing stays bound and the instance stays stopped',
    async run(t, fx) {
      const fresh = await fx.freshInstance('c');
      const c = fx.net.host('c');
      t.begin(`bind UDP ${c.underlayAddress}:${DNS_PORT_BUSY} with another socket`);
      const other = await c.udpEchoServer(DNS_PORT_BUSY, { bind: c.underlayAddress });
      try {
        const before = await boundOn(fx, 'c', DNS_PORT_BUSY);
        t.begin('start on the busy port');
        await t.rejects('start(busy port)', fresh.call('start', [cListen(fx, DNS_PORT_BUSY)]), 'DNS_FAILED');
        t.begin('nothing of the plugin stays bound');
        const after = await boundOn(fx, 'c', DNS_PORT_BUSY);
        t.equal(after, before, 'the refused start left a socket bound on the port');
        await t.rejects('update after the refused start', fresh.call('update', [fx.zoneV1()]), 'NOT_RUNNING');
      } finally {
        await other.close();
        await fresh.close();
      }
    },
  },
];
