/** Delivery checks: which overlay source addresses of a peer may reach a socket on node a. */
import type { StepContext } from '../../step-context.js';
import type { BackendFixture, SuiteNode } from '../fixture.js';
import { udpFrom, udpSink } from './traffic.js';

/** UDP port of the recording sink on a. */
export const SINK_PORT = 7010;

/** One source address of {@link expectDelivery}: whether a datagram from it must reach a, and why. */
export interface DeliveryCase {
  src: string;
  want: boolean;
  why: string;
}

/**
 * Sends marked datagrams from each case's source address on `from` to a recording sink on a
 * (one sink, one sender process) and asserts which were delivered to the socket.
 * @param to a's address the datagrams go to: its overlay IPv4 address (default) or, for IPv6
 *   sources, its overlay IPv6 address.
 */
export async function expectDelivery(
  t: StepContext,
  fx: BackendFixture,
  from: SuiteNode,
  cases: readonly DeliveryCase[],
  to: string = fx.nodes.a.ip4,
): Promise<void> {
  const a = fx.nodes.a;
  t.begin(`UDP from ${cases.map((c) => `${c.src} (${c.want ? 'arrives' : 'must not arrive'})`).join(', ')} on ${from.name} to a (${to})`);
  const prefix = `kit-${from.name}-${Date.now()}`;
  const sink = await udpSink(a.host, SINK_PORT);
  const delivered = (): Set<string> =>
    new Set(
      sink
        .received()
        .filter((r) => r.payload === `${prefix}:${r.from}`)
        .map((r) => r.from),
    );
  let got: Set<string>;
  try {
    await udpFrom(
      from.host,
      cases.map((c) => c.src),
      to,
      SINK_PORT,
      prefix,
      3,
    );
    const wanted = cases.filter((c) => c.want).length;
    for (let i = 0; i < 10 && delivered().size < wanted; i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 100)); // late unwanted arrivals
    got = delivered();
  } finally {
    await sink.close();
  }
  for (const c of cases)
    t.check(
      got.has(c.src) === c.want,
      c.want
        ? `a datagram from ${c.src} on ${from.name} did not reach a (${c.why})`
        : `a datagram from ${c.src} on ${from.name} was delivered on a although ${c.why}`,
      c.want ? 'delivered' : 'not delivered',
      got.has(c.src) ? 'delivered' : 'not delivered',
    );
}
