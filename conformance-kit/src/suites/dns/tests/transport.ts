import type { KitTest } from '../../define.js';
import { BIG_ADDRESSES, DNS_PORT, ZONE, type DnsFixture } from '../fixture.js';
import { expectAnswers, q, summary } from './helpers.js';

type T = KitTest<DnsFixture>;

/** The `dns.transport.*` tests, in run order. */
export const transportTests: T[] = [
  {
    id: 'dns.transport.tcp',
    title: 'the same answers over TCP (dig +tcp): A and NXDOMAIN',
    async run(t, fx) {
      await fx.serving();
      await expectAnswers(t, fx, [q(`b.${ZONE}`, 'A', 'NOERROR', ['100.64.0.2']), q(`nobody.${ZONE}`, 'A', 'NXDOMAIN')], { tcp: true });
    },
  },
  {
    id: 'dns.transport.every-endpoint',
    title: 'every listen endpoint answers over UDP and TCP: the underlay address (from b) and loopback (from a itself)',
    async run(t, fx) {
      const s = await fx.serving();
      for (const tcp of [false, true]) {
        await expectAnswers(t, fx, [q(`web.${ZONE}`, 'A', 'NOERROR', ['100.64.0.7'])], {
          tcp,
          ask: (e) => fx.dig(s.host, '127.0.0.1', DNS_PORT, e.name, e.type, { tcp }),
        });
      }
    },
  },
  {
    id: 'dns.transport.truncation',
    title:
      'an answer larger than 512 bytes (60 A records) over UDP without EDNS is truncated with TC set; over TCP it is complete (RFC 1035 4.2.1, RFC 7766)',
    async run(t, fx) {
      await fx.serving();
      t.begin(`dig +noedns +ignore big.${ZONE} A (UDP, 512-byte limit, no TCP retry)`);
      const u = await fx.ask(`big.${ZONE}`, 'A', { extra: ['+noedns', '+ignore'] });
      const udpData = u?.answers.filter((a) => a.type === 'A').map((a) => a.data) ?? [];
      t.check(
        u !== null && u.status === 'NOERROR' && u.flags.includes('tc') && udpData.every((d) => BIG_ADDRESSES.includes(d)),
        'a UDP answer over 512 bytes without EDNS must come truncated (TC set), never oversized or wrong',
        'NOERROR with flag tc (and at most a subset of the records)',
        summary(u),
      );
      await expectAnswers(t, fx, [q(`big.${ZONE}`, 'A', 'NOERROR', BIG_ADDRESSES)], { tcp: true });
    },
  },
];
