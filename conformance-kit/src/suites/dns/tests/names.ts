import type { KitTest } from '../../define.js';
import { ZONE, type DnsFixture } from '../fixture.js';
import { type Expect, expectAnswers, q } from './helpers.js';

type T = KitTest<DnsFixture>;

/** NXDOMAIN from the authoritative server: AA, no records, the zone's SOA in AUTHORITY. */
const nx = (name: string, type = 'A'): Expect => ({ name, type, status: 'NXDOMAIN', data: [], soa: true });

/** Nodes registered with mixed-case names (added on top of zone v1 by `dns.names.mixed-case`). */
const MIXED = [
  { id: 'n8', name: 'Ops-Box', addresses: ['100.64.0.8'] },
  { id: 'n9', name: 'WEB-Two', addresses: ['100.64.0.9'] },
];

/** The `dns.names.*` tests, in run order. */
export const namesTests: T[] = [
  {
    id: 'dns.names.near-miss',
    title: `names below a node (x.b.${ZONE}), prefixes, extensions and a doubled zone of registered names answer NXDOMAIN with the SOA, never a node's address`,
    async run(t, fx) {
      await fx.serving();
      await expectAnswers(t, fx, [
        nx(`x.b.${ZONE}`),
        nx(`a.b.${ZONE}`),
        nx(`X.WEB.${ZONE.toUpperCase()}`),
        nx(`b.${ZONE}.${ZONE}`),
        nx(`bb.${ZONE}`),
        nx(`we.${ZONE}`),
        nx(`web2.${ZONE}`),
        nx(`b-.${ZONE}`),
        nx(`n77.${ZONE}`),
        nx(`x.n7.${ZONE}`),
        nx(`x.b.${ZONE}`, 'AAAA'),
        q(`b.${ZONE}`, 'A', 'NOERROR', ['100.64.0.2']),
      ]);
    },
  },
  {
    id: 'dns.names.mixed-case',
    title: `nodes registered in mixed case (Ops-Box, WEB-Two) answer queries in any case (lower, upper, mixed) with their address; the question is echoed as asked (RFC 4343)`,
    async run(t, fx) {
      const s = await fx.serving();
      const v1 = fx.zoneV1();
      t.begin('update(zone v1 + Ops-Box, WEB-Two)');
      fx.dirty = true;
      await t.ok('update with mixed-case names', fx.update(s.plugin, { ...v1, nodes: [...v1.nodes, ...MIXED] }));
      const names = [
        `ops-box.${ZONE}`,
        `OPS-BOX.${ZONE.toUpperCase()}`,
        `oPs-bOx.${ZONE}`,
        `Ops-Box.${ZONE}`,
        `web-two.${ZONE}`,
        `Web-Two.RustyNet`,
      ];
      await expectAnswers(
        t,
        fx,
        names.map((n) => q(n, 'A', 'NOERROR', [n.toLowerCase().startsWith('ops') ? '100.64.0.8' : '100.64.0.9'])),
      );
      t.begin('the answer names the node as asked (case-insensitively)');
      const r = await fx.ask(`oPs-bOx.${ZONE}`);
      const owners = r?.answers.map((a) => a.name.toLowerCase()) ?? [];
      t.check(
        owners.length > 0 && owners.every((o) => o === `ops-box.${ZONE}.`),
        'the answer is not owned by the asked name',
        `ops-box.${ZONE}.`,
        owners,
      );
      t.begin('update(zone v1) again');
      await t.ok('update back to v1', fx.update(s.plugin, v1));
      await expectAnswers(t, fx, [nx(`ops-box.${ZONE}`), q(`b.${ZONE}`, 'A', 'NOERROR', ['100.64.0.2'])]);
      fx.dirty = false;
    },
  },
];
