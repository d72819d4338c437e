import type { DnsZoneData } from '@rustynet/plugin-api';
import type { KitTest } from '../../define.js';
import { DNS_PORT, ZONE, type DnsFixture } from '../fixture.js';
import { expectAnswers, q } from './helpers.js';

type T = KitTest<DnsFixture>;

/** Zone v2: b moves to 100.64.0.22, c leaves, e joins. */
function zoneV2(fx: DnsFixture): DnsZoneData {
  const v1 = fx.zoneV1();
  return {
    zone: ZONE,
    nodes: [
      ...v1.nodes.filter((n) => n.id !== 'c').map((n) => (n.id === 'b' ? { ...n, addresses: ['100.64.0.22'] } : n)),
      { id: 'e', name: 'e', addresses: ['100.64.0.5'] },
    ],
  };
}

/** Inode numbers of the sockets bound to `port` in `fx.server`'s namespace (UDP and TCP). */
async function socketInodes(fx: DnsFixture, port: number): Promise<string[]> {
  const out: string[] = [];
  for (const proto of ['-uln', '-tln']) {
    const r = await fx.server.host.exec('ss', ['-H', proto, '-e', 'sport', '=', `:${port}`], { reject: false });
    for (const m of r.stdout.matchAll(/ino:(\d+)/g)) out.push(`${proto}:${m[1]}`);
  }
  return out.sort();
}

/** The zone's SOA serial as served now (`dig <zone> SOA` from b), or null when no SOA came back. */
async function soaSerial(fx: DnsFixture): Promise<number | null> {
  const r = await fx.ask(ZONE, 'SOA');
  const soa = r?.answers.find((a) => a.type === 'SOA');
  const serial = soa ? Number(soa.data.split(/\s+/)[2]) : NaN;
  return Number.isInteger(serial) ? serial : null;
}

/** RFC 1982 serial number arithmetic (32 bits): is `b` greater than `a`? */
export function serialGreater(a: number, b: number): boolean {
  const d = (b - a + 2 ** 32) % 2 ** 32;
  return d !== 0 && d < 2 ** 31;
}

/** The `dns.update.*` tests, in run order. */
export const updateTests: T[] = [
  {
    id: 'dns.update.no-restart',
    title: 'update() with a changed zone (b moves, c leaves, e joins) is answered at once, on the very same sockets (no restart)',
    async run(t, fx) {
      const s = await fx.serving();
      await expectAnswers(t, fx, [q(`b.${ZONE}`, 'A', 'NOERROR', ['100.64.0.2'])]);
      t.begin('note the sockets bound to the DNS port');
      const before = await socketInodes(fx, DNS_PORT);
      t.check(before.length >= 2, 'no UDP and TCP sockets found on the DNS port', `UDP and TCP sockets on port ${DNS_PORT}`, before);
      t.begin('update(zone v2)');
      await t.ok('update(v2)', fx.update(s.plugin, zoneV2(fx)));
      await expectAnswers(t, fx, [
        q(`b.${ZONE}`, 'A', 'NOERROR', ['100.64.0.22']),
        q(`c.${ZONE}`, 'A', 'NXDOMAIN'),
        q(`e.${ZONE}`, 'A', 'NOERROR', ['100.64.0.5']),
        q(`a.${ZONE}`, 'A', 'NOERROR', ['100.64.0.1']),
      ]);
      t.begin('the same sockets still serve');
      const after = await socketInodes(fx, DNS_PORT);
      t.equal(after, before, 'the sockets on the DNS port changed: update restarted the server');
      t.begin('update(zone v1) again');
      await t.ok('update(v1)', fx.update(s.plugin, fx.zoneV1()));
      await expectAnswers(t, fx, [
        q(`b.${ZONE}`, 'A', 'NOERROR', ['100.64.0.2']),
        q(`c.${ZONE}`, 'A', 'NOERROR', ['100.64.0.3']),
        q(`e.${ZONE}`, 'A', 'NXDOMAIN'),
      ]);
    },
  },
  {
    id: 'dns.update.invalid-unchanged',
    title: 'update() with a bad address or a bad zone name -> INVALID_INPUT naming the field; the served answers are unchanged',
    async run(t, fx) {
      const s = await fx.serving();
      const v1 = fx.zoneV1();
      const badAddress: DnsZoneData = {
        zone: ZONE,
        nodes: v1.nodes.map((n) =>
          n.id === 'b' ? { ...n, addresses: ['100.64.0.99'] } : n.id === 'c' ? { ...n, addresses: ['not-an-ip'] } : n,
        ),
      };
      t.begin('update with nodes[2].addresses[0] = "not-an-ip" (and b changed)');
      await t.rejects('update(bad address)', fx.update(s.plugin, badAddress), 'INVALID_INPUT', /^nodes\[2\]\.addresses\[0\]$/);
      t.begin('update with zone "bad..zone"');
      await t.rejects('update(bad zone)', fx.update(s.plugin, { ...v1, zone: 'bad..zone' }), 'INVALID_INPUT', /^zone$/);
      await expectAnswers(t, fx, [q(`b.${ZONE}`, 'A', 'NOERROR', ['100.64.0.2']), q(`c.${ZONE}`, 'A', 'NOERROR', ['100.64.0.3'])]);
    },
  },
  {
    id: 'dns.update.serial-increases',
    title: `the zone's SOA serial increases (RFC 1982) on every update(), also on three updates within one second and on an update with unchanged data`,
    async run(t, fx) {
      const s = await fx.serving();
      t.begin(`dig ${ZONE} SOA`);
      let prev = t.need(await soaSerial(fx), `no SOA answer for ${ZONE}`, `${ZONE}. SOA with a serial`, null);
      const seen = [prev];
      const zones = [zoneV2(fx), fx.zoneV1(), fx.zoneV1()];
      for (const [i, z] of zones.entries()) {
        t.begin(`update #${i + 1} (${i === 2 ? 'unchanged data' : 'changed data'}) and dig ${ZONE} SOA`);
        await t.ok(`update #${i + 1}`, fx.update(s.plugin, z));
        const next = t.need(await soaSerial(fx), `no SOA answer for ${ZONE} after update #${i + 1}`, 'a serial', null);
        seen.push(next);
        t.check(serialGreater(prev, next), `the SOA serial did not increase on update #${i + 1}`, `a serial greater than ${prev}`, seen);
        prev = next;
      }
      await expectAnswers(t, fx, [q(`c.${ZONE}`, 'A', 'NOERROR', ['100.64.0.3'])]);
    },
  },
];
