import type { AclRule } from '@rustynet/plugin-api';
import type { KitTest } from '../../define.js';
import type { StepContext } from '../../step-context.js';
import { ECHO_TCP_PORT, ECHO_UDP_PORT, type SuiteNode } from '../../backend/fixture.js';
import { expectFlows } from '../flows.js';
import type { PolicyFixture } from '../fixture.js';
import { applyOnA, DENIED_B_9000 } from './helpers.js';

type T = KitTest<PolicyFixture>;

/** b -> c and c -> b through a: what may be forwarded. */
const FORWARD_RULES: AclRule[] = [
  { id: 'b-to-c-udp', action: 'accept', src: ['b'], dst: ['c'], proto: 'udp', ports: [ECHO_UDP_PORT] },
  { id: 'b-to-a-80', action: 'accept', src: ['b'], dst: ['a'], proto: 'tcp', ports: [80] },
];

/** A probe from `from` to `to`'s overlay address through a; true when its echo came back. */
async function routed(from: SuiteNode, to: SuiteNode, proto: 'udp' | 'tcp', expectOpen: boolean): Promise<boolean> {
  const payload = `policy-forward-${from.name}-${to.name}-${proto}-${Date.now()}`;
  const r =
    proto === 'udp'
      ? await from.host.udpSend(to.ip4, ECHO_UDP_PORT, payload, { timeoutMs: expectOpen ? 1000 : 700, attempts: expectOpen ? 3 : 2 })
      : await from.host.tcpSend(to.ip4, ECHO_TCP_PORT, payload, { timeoutMs: expectOpen ? 3000 : 1500 });
  return r?.toString() === payload;
}

/** Routes b <-> c through a (hub): b and c get each other's overlay address in a's allowed IPs and a route; a forwards. */
async function hub(fx: PolicyFixture, on: boolean): Promise<void> {
  const { a, b, c } = { a: fx.node('a'), b: fx.node('b'), c: fx.node('c') };
  await a.host.exec('sysctl', ['-qw', `net.ipv4.ip_forward=${on ? 1 : 0}`]);
  for (const [n, other] of [
    [b, c],
    [c, b],
  ] as const) {
    const route = { destination: `${other.ip4}/32`, peer: 'a' };
    await fx.backend.applyPeers(n, { upsert: [fx.backend.peerOf(a, on ? [`${other.ip4}/32`] : [])] });
    await fx.backend.applyRoutes(n, on ? { add: [route] } : { remove: [route] });
  }
}

async function expectRouted(t: StepContext, fx: PolicyFixture, want: { udp: boolean; tcp: boolean }, why: string): Promise<void> {
  const { b, c } = { b: fx.node('b'), c: fx.node('c') };
  t.begin(`b -> c through a: UDP and TCP echo (${why})`);
  const [udp, tcp, back] = await Promise.all([routed(b, c, 'udp', want.udp), routed(b, c, 'tcp', want.tcp), routed(c, b, 'udp', want.tcp)]);
  t.equal(
    { 'b->c udp': udp, 'b->c tcp': tcp, 'c->b udp': back },
    { 'b->c udp': want.udp, 'b->c tcp': want.tcp, 'c->b udp': want.tcp },
    `traffic a forwards between its tunnel peers is not filtered as the rules say (${why})`,
  );
}

/** The `policy.forward.*` tests, in run order. */
export const forwardTests: T[] = [
  {
    id: 'policy.forward.routed',
    title:
      'traffic a routes between two tunnel peers (b -> c through a, the forward path) is filtered like traffic to a: b -> c udp allowed by a rule gets through, b -> c tcp and c -> b udp (no rule) are dropped; the input path still holds',
    gate: 'backend lanRoutes',
    deadlineMs: 40_000,
    skipIf: (fx) => (fx.backend.caps.lanRoutes ? undefined : `the backend ${fx.backend.manifest.name} does not claim lanRoutes`),
    async run(t, fx) {
      await fx.protectedNode();
      t.begin('route b <-> c through a (allowed IPs, routes, ip_forward on a)');
      let hubOn = true;
      try {
        await t.ok('hub on', hub(fx, true));
        await applyOnA(t, fx, [{ id: 'all', action: 'accept', src: ['*'], dst: ['*'], proto: 'any' }], 'accept-all');
        await expectRouted(t, fx, { udp: true, tcp: true }, 'accept-all: the hub works');
        await applyOnA(t, fx, FORWARD_RULES, 'rules allowing only b -> c udp (and b -> a tcp/80)');
        await expectRouted(t, fx, { udp: true, tcp: false }, 'only b -> c udp allowed');
        await expectFlows(t, fx, [DENIED_B_9000], 'the input path is still filtered');
        t.begin('undo the hub');
        await t.ok('hub off', hub(fx, false));
        hubOn = false;
      } finally {
        // a failure marks the fixture dirty (the mesh is rebuilt); undo what can be undone now
        if (hubOn) await hub(fx, false).catch(() => undefined);
      }
    },
  },
];
