import type { KitTest } from '../../define.js';
import { MATRIX_RULES } from '../flows.js';
import type { PolicyFixture } from '../fixture.js';
import { applyOnA } from './helpers.js';

type T = KitTest<PolicyFixture>;

/** UDP port on a that the matrix ACL opens to c only (`c-6000`). */
const PORT = 6000;

/** Sends 3 UDP datagrams `payload` from `src` (an address of this namespace) to `dst:port`. */
const SEND_FROM = `
const dgram = require('node:dgram');
const [src, dst, port, payload] = process.argv.slice(1);
const s = dgram.createSocket('udp4');
s.bind(0, src, () => {
  let n = 0;
  const next = () => (n++ < 3 ? s.send(payload, Number(port), dst, () => setTimeout(next, 100)) : s.close());
  next();
});
`;

/** The `policy.spoof.*` tests, in run order. */
export const spoofTests: T[] = [
  {
    id: 'policy.spoof.underlay-overlay-source',
    title:
      "datagrams that claim c's overlay address as source but arrive over the underlay (from d, not through the tunnel) do not reach a's udp/6000, which the ACL opens to c; c's own datagrams through the tunnel do",
    deadlineMs: 30_000,
    async run(t, fx) {
      await applyOnA(t, fx, MATRIX_RULES, 'the matrix ACL (c-6000: c may send to a udp/6000)');
      const { a, c, d } = { a: fx.node('a'), c: fx.node('c'), d: fx.node('d') };
      t.begin(`capture a's replies from ${a.ip4} udp/${PORT} (any interface)`);
      const cap = await a.host.capture({ iface: 'any', filter: ['udp', 'and', 'src', 'host', a.ip4, 'and', 'src', 'port', String(PORT)] });
      const spoofed = `policy-spoof-${Date.now()}`;
      try {
        t.begin(`d: ${c.ip4} on lo, a route to ${a.ip4} via a's underlay address`);
        await d.host.exec('ip', ['addr', 'replace', `${c.ip4}/32`, 'dev', 'lo']);
        await d.host.exec('ip', ['route', 'replace', `${a.ip4}/32`, 'via', a.host.underlayAddress, 'src', c.ip4]);
        t.begin(`d sends to ${a.ip4}:${PORT} from ${c.ip4} over the underlay`);
        await d.host.exec(process.execPath, ['-e', SEND_FROM, c.ip4, a.ip4, String(PORT), spoofed], { timeoutMs: 5000 });
        t.begin(`control: c sends to ${a.ip4}:${PORT} through the tunnel`);
        const ctl = `policy-spoof-control-${Date.now()}`;
        const echo = await c.host.udpSend(a.ip4, PORT, ctl, { timeoutMs: 1000, attempts: 3 });
        t.check(
          echo?.toString() === ctl,
          "c's own datagram to udp/6000 was not echoed: the test is inconclusive",
          ctl,
          echo?.toString() ?? null,
        );
        t.begin("a's replies seen by the capture");
        await new Promise((r) => setTimeout(r, 300));
        const seen = (await cap.stop()).toString('latin1');
        t.check(
          seen.includes(ctl),
          "the capture on a did not see the control reply: it cannot see a's replies",
          'control reply captured',
          'not captured',
        );
        t.check(
          !seen.includes(spoofed),
          "a's echo server got datagrams with c's address as source from the underlay: the ACL's source check can be bypassed by spoofing",
          'spoofed datagrams dropped',
          'a replied to them',
        );
      } finally {
        await cap.stop().catch(() => undefined);
        await d.host.exec('ip', ['route', 'del', `${a.ip4}/32`], { reject: false });
        await d.host.exec('ip', ['addr', 'del', `${c.ip4}/32`, 'dev', 'lo'], { reject: false });
      }
    },
  },
];
