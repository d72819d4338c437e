import type { AclRule } from '@rustynet/plugin-api';
import type { KitTest } from '../../define.js';
import type { StepContext } from '../../step-context.js';
import { ECHO_TCP_PORT } from '../../backend/fixture.js';
import { expectFlows, flowName, MATRIX_RULES, MATRIX_V4, MATRIX_V6, type Flow } from '../flows.js';
import type { PolicyFixture } from '../fixture.js';
import { ALLOWED_B_80, applyOnA } from './helpers.js';

type T = KitTest<PolicyFixture>;

/** Checks that `explain()` gives every flow the decision the rules imply (action and rule id). */
async function expectExplain(t: StepContext, fx: PolicyFixture, flows: Flow[], rules: AclRule[], byNodeId = false): Promise<void> {
  t.begin(`explain() for ${flows.length} flows${byNodeId ? ' (src and dst as node ids)' : ' (src and dst as IP addresses)'}`);
  const input = await fx.input(rules);
  const a = fx.node('a');
  const wrong: { flow: string; expected: unknown; actual: unknown }[] = [];
  for (const f of flows) {
    const src = fx.node(f.from);
    const d = await t.ok(
      `explain(${flowName(f)})`,
      fx.explain(fx.a.plugin, input, {
        src: byNodeId ? f.from : f.v6 ? src.ip6 : src.ip4,
        dst: byNodeId ? 'a' : f.v6 ? a.ip6 : a.ip4,
        proto: f.proto,
        ...(f.port !== undefined && { port: f.port }),
      }),
    );
    if (d.action !== f.action || d.ruleId !== f.ruleId) {
      wrong.push({
        flow: flowName(f),
        expected: { action: f.action, ruleId: f.ruleId },
        actual: { action: d.action, ruleId: d.ruleId, reason: d.reason },
      });
    }
  }
  t.check(
    wrong.length === 0,
    `explain() disagrees with the rules for ${wrong.length} flows: ${wrong.map((w) => w.flow).join('; ')}`,
    wrong.map((w) => ({ flow: w.flow, decision: w.expected })),
    wrong.map((w) => ({ flow: w.flow, decision: w.actual })),
  );
}

/** The `policy.enforce.*` tests, in run order. */
export const enforceTests: T[] = [
  {
    id: 'policy.enforce.matrix-ipv4',
    title:
      '19 IPv4 flows (tcp/udp/icmp, ports, ranges) from b and c to a get through or are dropped exactly as the rules say; explain() agrees (by IP and by node id)',
    deadlineMs: 30_000,
    async run(t, fx) {
      await applyOnA(t, fx, MATRIX_RULES, 'the matrix ACL (10 rules)');
      await expectFlows(t, fx, MATRIX_V4, 'IPv4 matrix');
      await expectExplain(t, fx, MATRIX_V4, MATRIX_RULES);
      // by node id: every flow whose decision does not depend on the address family
      await expectExplain(
        t,
        fx,
        MATRIX_V4.filter((f) => f.ruleId !== 'udp-range'),
        MATRIX_RULES,
        true,
      );
    },
  },
  {
    id: 'policy.enforce.matrix-ipv6',
    title:
      '9 IPv6 flows get through or are dropped exactly as the rules say (tags and node ids cover IPv6, the IPv4 CIDR does not); explain() agrees',
    gate: 'ipv6',
    deadlineMs: 30_000,
    skipIf: (fx) =>
      !fx.caps.ipv6
        ? 'the policy plugin does not claim ipv6'
        : !fx.backend.caps.ipv6
          ? `the backend ${fx.backend.manifest.name} does not claim ipv6`
          : undefined,
    async run(t, fx) {
      await applyOnA(t, fx, MATRIX_RULES, 'the matrix ACL (10 rules)');
      await expectFlows(t, fx, MATRIX_V6, 'IPv6 matrix');
      await expectExplain(t, fx, MATRIX_V6, MATRIX_RULES);
    },
  },
  {
    id: 'policy.enforce.default-deny',
    title: 'an empty policy drops every new flow into a from the mesh; flows a starts get their replies; the underlay is untouched',
    deadlineMs: 30_000,
    async run(t, fx) {
      await applyOnA(t, fx, MATRIX_RULES, 'the matrix ACL');
      await expectFlows(t, fx, [ALLOWED_B_80], 'baseline: the ACL lets it through');
      await applyOnA(t, fx, [], 'the empty policy (no rules)');
      const flows = [...MATRIX_V4, ...(fx.ipv6 ? MATRIX_V6 : [])];
      await expectFlows(t, fx, flows, 'empty policy: default deny', () => 'drop');
      t.begin('explain() under the empty policy');
      const input = await fx.input([]);
      const { a, b } = { a: fx.node('a'), b: fx.node('b') };
      const d = await t.ok('explain(b -> a tcp/80)', fx.explain(fx.a.plugin, input, { src: b.ip4, dst: a.ip4, proto: 'tcp', port: 80 }));
      t.equal(
        { action: d.action, ruleId: d.ruleId },
        { action: 'drop', ruleId: null },
        'explain under the empty policy must be the default deny',
      );
      t.begin('a -> b: ping and TCP echo through the tunnel (return traffic of flows a starts)');
      t.check(
        await a.host.ping(b.ip4, { count: 1, timeoutS: 1, attempts: 3 }),
        'a gets no ping reply from b under the empty policy',
        'replies to flows a starts are allowed',
        'no reply',
      );
      const echo = await a.host.tcpSend(b.ip4, ECHO_TCP_PORT, 'return-traffic', { timeoutMs: 3000 });
      t.check(
        echo?.toString() === 'return-traffic',
        'a gets no TCP echo from b under the empty policy',
        'return-traffic',
        echo?.toString() ?? null,
      );
      t.begin('b -> a over the underlay (not a tunnel interface): ping and UDP');
      t.check(
        await b.host.ping(a.host.underlayAddress, { count: 1, timeoutS: 1, attempts: 3 }),
        'underlay ping b -> a fails under the empty policy',
        'the policy filters only the tunnel interfaces',
        'no reply',
      );
      const u = await b.host.udpSend(a.host.underlayAddress, 5002, 'underlay', { timeoutMs: 1000, attempts: 3 });
      t.check(u?.toString() === 'underlay', 'underlay UDP b -> a:5002 fails under the empty policy', 'echo', u?.toString() ?? null);
    },
  },
];
