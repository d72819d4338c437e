import type { KitTest } from '../../define.js';
import { ZONE, type DnsFixture } from '../fixture.js';
import { Expect, expectAnswers, q } from './helpers.js';

type T = KitTest<DnsFixture>;

/** A negative answer (NXDOMAIN or NODATA) from the authoritative server: AA, no records, the zone's SOA in AUTHORITY. */
const neg = (name: string, type: string, status: 'NXDOMAIN' | 'NOERROR'): Expect => ({ name, type, status, data: [], soa: true });

/** The `dns.records.*` tests, in run order. */
export const recordsTests: T[] = [
  {
    id: 'dns.records.a',
    title: `<name>.${ZONE} A from b answers exactly the node's IPv4 addresses, authoritative (AA); names match case-insensitively`,
    async run(t, fx) {
      await fx.serving();
      await expectAnswers(t, fx, [
        q(`a.${ZONE}`, 'A', 'NOERROR', ['100.64.0.1']),
        q(`b.${ZONE}`, 'A', 'NOERROR', ['100.64.0.2']),
        q(`c.${ZONE}`, 'A', 'NOERROR', ['100.64.0.3']),
        q(`web.${ZONE}`, 'A', 'NOERROR', ['100.64.0.7']),
        q(`B.${ZONE.toUpperCase()}`, 'A', 'NOERROR', ['100.64.0.2']),
      ]);
    },
  },
  {
    id: 'dns.records.aaaa',
    title: `<name>.${ZONE} AAAA answers exactly the node's IPv6 addresses; a node without IPv6 answers NOERROR with no AAAA and the SOA (NODATA, RFC 2308)`,
    gate: 'aaaa',
    skipIf: (fx) => (fx.caps.aaaa ? undefined : 'the plugin does not claim aaaa'),
    async run(t, fx) {
      await fx.serving();
      await expectAnswers(t, fx, [
        q(`a.${ZONE}`, 'AAAA', 'NOERROR', ['fd00:7e57::1']),
        q(`b.${ZONE}`, 'AAAA', 'NOERROR', ['fd00:7e57::2']),
        neg(`c.${ZONE}`, 'AAAA', 'NOERROR'),
      ]);
    },
  },
  {
    id: 'dns.records.nxdomain',
    title: `an unknown name in the zone (nobody.${ZONE}, A and AAAA) answers NXDOMAIN, AA, no answers, the zone's SOA in AUTHORITY (RFC 2308)`,
    async run(t, fx) {
      await fx.serving();
      await expectAnswers(t, fx, [
        neg(`nobody.${ZONE}`, 'A', 'NXDOMAIN'),
        neg(`nobody.${ZONE}`, 'AAAA', 'NXDOMAIN'),
        neg(`zz-${fx.opts.seed ?? 1}.${ZONE}`, 'A', 'NXDOMAIN'),
      ]);
    },
  },
  {
    id: 'dns.records.refused-out-of-zone',
    title: `names outside the zone (example.com, ${ZONE}.example, x${ZONE}) answer REFUSED when no forwarder is configured`,
    gate: '!forwarder-configured',
    skipIf: (fx) =>
      fx.opts.options && 'forwarder' in fx.opts.options
        ? 'a forwarder is configured in the plugin options: out-of-zone names are forwarded'
        : undefined,
    async run(t, fx) {
      await fx.serving();
      await expectAnswers(t, fx, [
        q('example.com', 'A', 'REFUSED', [], false),
        q(`${ZONE}.example`, 'A', 'REFUSED', [], false),
        q(`x${ZONE}`, 'A', 'REFUSED', [], false),
      ]);
    },
  },
];
