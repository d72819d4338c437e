import type { RelayCapabilities } from '@rustynet/plugin-api';
import type { KitTest } from '../../define.js';
import type { RelayFixture } from '../fixture.js';

type T = KitTest<RelayFixture>;

/** The `relay.manifest.*` tests, in run order. */
export const manifestTests: T[] = [
  {
    id: 'relay.manifest.capabilities-match',
    title: 'the manifest declares ipv6 and maxDatagram, and capabilities() equals them on a fresh and on a running instance',
    async run(t, fx) {
      t.begin('manifest capabilities');
      const m = fx.manifest.capabilities as Partial<RelayCapabilities>;
      t.check(typeof m.ipv6 === 'boolean', 'the manifest must declare capabilities.ipv6 (boolean)', 'boolean', m.ipv6);
      t.check(
        Number.isInteger(m.maxDatagram) && m.maxDatagram! >= 1 && m.maxDatagram! <= 65507,
        'the manifest must declare capabilities.maxDatagram (1..65507 bytes)',
        '1..65507',
        m.maxDatagram,
      );
      const want = { ipv6: m.ipv6, maxDatagram: m.maxDatagram };
      t.begin('capabilities() of a fresh instance');
      const fresh = await fx.newClient('d', 'caps-fresh');
      const c1 = await t.ok('capabilities()', fresh.plugin.call<RelayCapabilities>('capabilities'));
      t.equal({ ipv6: c1.ipv6, maxDatagram: c1.maxDatagram }, want, 'capabilities() of a fresh instance differs from the manifest');
      await fresh.plugin.close();
      if (fx.noServerReason) return;
      t.begin('capabilities() of a running instance');
      const { a } = await fx.mainClients();
      const c2 = await t.ok('capabilities()', a.plugin.call<RelayCapabilities>('capabilities'));
      t.equal({ ipv6: c2.ipv6, maxDatagram: c2.maxDatagram }, want, 'capabilities() of a running instance differs from the manifest');
    },
  },
];
