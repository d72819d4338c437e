import type { KitTest } from '../../define.js';
import type { BackendFixture } from '../fixture.js';
import type { StepContext } from '../../step-context.js';
import { expectDelivery } from './delivery.js';

type T = KitTest<BackendFixture>;

/** An overlay IPv4 address in no peer's allowed IPs. */
const OUTSIDE = '100.64.250.9';
/** An overlay IPv6 address (in the suite's `fd00:7e57::/64`) in no peer's allowed IPs. */
const OUTSIDE6 = 'fd00:7e57::fa:9';

/**
 * Cryptokey routing on ingress for one address family: from b, datagrams with c's address or an
 * address in no peer's allowed IPs as source are not delivered on a, b's own address is.
 */
async function spoofedSources(t: StepContext, fx: BackendFixture, family: 4 | 6): Promise<void> {
  await fx.mesh();
  const { a, b, c } = fx.nodes;
  const [own, other, outside, bits] = family === 4 ? [b.ip4, c.ip4, OUTSIDE, 32] : [b.ip6, c.ip6, OUTSIDE6, 128];
  t.begin(`put ${other} (c's address) and ${outside} on b's loopback`);
  const cidrs = [`${other}/${bits}`, `${outside}/${bits}`];
  // nodad: an IPv6 address is usable at once (no duplicate address detection)
  const add = (x: string): string[] => ['addr', 'replace', x, 'dev', 'lo', ...(family === 6 ? ['nodad'] : [])];
  await Promise.all(cidrs.map((x) => b.host.exec('ip', add(x))));
  try {
    await expectDelivery(
      t,
      fx,
      b,
      [
        { src: own, want: true, why: "control: b's own address" },
        { src: other, want: false, why: "the source is c's allowed IP, not b's" },
        { src: outside, want: false, why: "the source is in no peer's allowed IPs" },
      ],
      family === 4 ? a.ip4 : a.ip6,
    );
  } finally {
    await Promise.all(cidrs.map((x) => b.host.exec('ip', ['addr', 'del', x, 'dev', 'lo'], { reject: false })));
  }
}

export const isolationTests: T[] = [
  {
    id: 'backend.isolation.spoofed-source',
    title: "cryptokey routing: from b, datagrams with a source in c's allowed IPs or in no peer's are not delivered on a",
    run: (t, fx) => spoofedSources(t, fx, 4),
  },
  {
    id: 'backend.isolation.spoofed-source-ipv6',
    title:
      "cryptokey routing over IPv6: from b, datagrams with c's IPv6 address or an IPv6 source in no peer's allowed IPs are not delivered on a",
    gate: 'ipv6',
    skipIf: (fx) => (fx.caps.ipv6 ? undefined : `${fx.manifest.name} does not claim ipv6`),
    run: (t, fx) => spoofedSources(t, fx, 6),
  },
];
