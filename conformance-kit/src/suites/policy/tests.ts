import type { AclRule, PolicyDecision } from '@rustynet/plugin-api';
import type { KitTest } from '../define.js';
import type { StepContext } from '../step-context.js';
import { ECHO_TCP_PORT } from '../backend/fixture.js';
import { checkCapabilities, checkManifest } from '../common/manifest-checks.js';
import { expectFlows, flowName, MATRIX_RULES, MATRIX_V4, MATRIX_V6, probe, type Flow } from './flows.js';
import type { PolicyFixture } from './fixture.js';
import { gapTests } from './tests-gap.js';

type T = KitTest<PolicyFixture>;

/** The capability names of a policy plugin, in contract order. */
export const POLICY_CAPABILITY_KEYS = ['ipv6', 'counters', 'atomicUpdate'] as const;

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
      wrong.push({ flow: flowName(f), expected: { action: f.action, ruleId: f.ruleId }, actual: { action: d.action, ruleId: d.ruleId, reason: d.reason } });
    }
  }
  t.check(
    wrong.length === 0,
    `explain() disagrees with the rules for ${wrong.length} flows: ${wrong.map((w) => w.flow).join('; ')}`,
    wrong.map((w) => ({ flow: w.flow, decision: w.expected })),
    wrong.map((w) => ({ flow: w.flow, decision: w.actual })),
  );
}

async function applyOnA(t: StepContext, fx: PolicyFixture, rules: AclRule[], what: string): Promise<void> {
  await fx.protectedNode();
  t.begin(`apply ${what} on a`);
  await t.ok(`apply(${what})`, fx.apply(fx.a.plugin, await fx.input(rules)));
}

const DENIED_B_9000: Flow = { from: 'b', proto: 'tcp', port: 9000, action: 'drop', ruleId: 'b-rest' };
const ALLOWED_B_80: Flow = { from: 'b', proto: 'tcp', port: 80, action: 'accept', ruleId: 'web' };

export const manifestTests: T[] = [
  {
    id: 'policy.manifest.schema-valid',
    title: 'rustynet-plugin.json matches the manifest schema, kind policy, every policy capability declared',
    async run(t, fx) {
      await checkManifest(t, fx.a.plugin.loaded.dir, fx.manifest, 'policy', POLICY_CAPABILITY_KEYS);
    },
  },
  {
    id: 'policy.manifest.capabilities-match',
    title: 'capabilities() at run time equals the manifest capabilities (fresh and running instance)',
    async run(t, fx) {
      const fresh = await fx.freshInstance('d');
      await checkCapabilities(t, fresh, fx.manifest, 'a fresh instance');
      await fresh.close();
      await fx.protectedNode();
      await checkCapabilities(t, fx.a.plugin, fx.manifest, 'a running instance');
    },
  },
];

async function counterStateOk(fx: PolicyFixture): Promise<string | string[]> {
  return fx.caps.counters ? 'NOT_RUNNING' : ['NOT_RUNNING', 'UNSUPPORTED'];
}

export const stateTests: T[] = [
  {
    id: 'policy.state.not-running-before-start',
    title: 'apply and counters fail with NOT_RUNNING before start; validate and explain work (pure); stop before start succeeds',
    async run(t, fx) {
      t.begin('load a fresh instance on d; start the backend on d for its interfaces');
      const [fresh] = await Promise.all([fx.freshInstance('d'), fx.backendOnD()]);
      const input = await fx.input(MATRIX_RULES, 'd');
      t.begin('apply before start');
      await t.rejects('apply before start', fresh.call('apply', [input]), 'NOT_RUNNING');
      t.begin('counters before start');
      await t.rejects('counters before start', fresh.call('counters'), await counterStateOk(fx));
      t.begin('validate before start');
      await t.ok('validate(valid input) before start', fresh.call('validate', [input]));
      t.begin('explain before start');
      const b = fx.node('b');
      const d = fx.node('d');
      const dec = await t.ok('explain before start', fresh.call<PolicyDecision>('explain', [input, { src: b.ip4, dst: d.ip4, proto: 'tcp', port: 22 }]));
      t.equal({ action: dec.action, ruleId: dec.ruleId }, { action: 'drop', ruleId: null }, 'explain(b -> d tcp/22): no rule names d, so the default deny decides');
      t.begin('stop before start is a no-op');
      await t.ok('stop() before start', fresh.call('stop'));
      await fresh.close();
    },
  },
  {
    id: 'policy.state.already-running',
    title: 'a second start fails with ALREADY_RUNNING and leaves the instance running (apply still works)',
    async run(t, fx) {
      const [fresh] = await Promise.all([fx.freshInstance('d'), fx.backendOnD()]);
      t.begin('first start');
      await t.ok('start', fx.start(fresh));
      t.begin('second start');
      await t.rejects('second start', fresh.call('start'), 'ALREADY_RUNNING');
      t.begin('still running: apply works');
      await t.ok('apply after the refused start', fx.apply(fresh, await fx.input(MATRIX_RULES, 'd')));
      t.begin('stop');
      await t.ok('stop', fx.stop(fresh));
      await fresh.close();
    },
  },
  {
    id: 'policy.state.stop-idempotent',
    title: 'stop twice in a row succeeds both times',
    async run(t, fx) {
      const [fresh] = await Promise.all([fx.freshInstance('d'), fx.backendOnD()]);
      t.begin('start and apply');
      await t.ok('start', fx.start(fresh));
      await t.ok('apply', fx.apply(fresh, await fx.input(MATRIX_RULES, 'd')));
      t.begin('first stop');
      await t.ok('first stop', fx.stop(fresh));
      t.begin('second stop');
      await t.ok('second stop', fx.stop(fresh));
      await fresh.close();
    },
  },
  {
    id: 'policy.state.not-running-after-stop',
    title: 'apply and counters fail with NOT_RUNNING after stop',
    async run(t, fx) {
      const [fresh] = await Promise.all([fx.freshInstance('d'), fx.backendOnD()]);
      const input = await fx.input(MATRIX_RULES, 'd');
      t.begin('start, apply, stop');
      await t.ok('start', fx.start(fresh));
      await t.ok('apply', fx.apply(fresh, input));
      await t.ok('stop', fx.stop(fresh));
      t.begin('apply after stop');
      await t.rejects('apply after stop', fresh.call('apply', [input]), 'NOT_RUNNING');
      t.begin('counters after stop');
      await t.rejects('counters after stop', fresh.call('counters'), await counterStateOk(fx));
      await fresh.close();
    },
  },
  {
    id: 'policy.state.restart',
    title: 'on a: stop lifts enforcement (a denied flow gets through); start + apply after stop enforces again',
    deadlineMs: 30_000,
    async run(t, fx) {
      await applyOnA(t, fx, MATRIX_RULES, 'the matrix ACL');
      await expectFlows(t, fx, [DENIED_B_9000, ALLOWED_B_80], 'before the restart');
      t.begin('stop the policy on a');
      await t.ok('stop', fx.stop(fx.a.plugin));
      await expectFlows(t, fx, [DENIED_B_9000], 'after stop nothing is enforced', () => 'accept');
      t.begin('start again');
      await t.ok('start after stop', fx.start(fx.a.plugin));
      fx.a.running = true;
      await t.ok('apply after restart', fx.apply(fx.a.plugin, await fx.input(MATRIX_RULES)));
      await expectFlows(t, fx, [DENIED_B_9000, ALLOWED_B_80], 'after the restart');
    },
  },
];

export const enforceTests: T[] = [
  {
    id: 'policy.enforce.matrix-ipv4',
    title: '19 IPv4 flows (tcp/udp/icmp, ports, ranges) from b and c to a get through or are dropped exactly as the rules say; explain() agrees (by IP and by node id)',
    deadlineMs: 30_000,
    async run(t, fx) {
      await applyOnA(t, fx, MATRIX_RULES, 'the matrix ACL (10 rules)');
      await expectFlows(t, fx, MATRIX_V4, 'IPv4 matrix');
      await expectExplain(t, fx, MATRIX_V4, MATRIX_RULES);
      // by node id: every flow whose decision does not depend on the address family
      await expectExplain(t, fx, MATRIX_V4.filter((f) => f.ruleId !== 'udp-range'), MATRIX_RULES, true);
    },
  },
  {
    id: 'policy.enforce.matrix-ipv6',
    title: '9 IPv6 flows get through or are dropped exactly as the rules say (tags and node ids cover IPv6, the IPv4 CIDR does not); explain() agrees',
    gate: 'ipv6',
    deadlineMs: 30_000,
    skipIf: (fx) =>
      !fx.caps.ipv6 ? 'the policy plugin does not claim ipv6' : !fx.backend.caps.ipv6 ? `the backend ${fx.backend.manifest.name} does not claim ipv6` : undefined,
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
      t.equal({ action: d.action, ruleId: d.ruleId }, { action: 'drop', ruleId: null }, 'explain under the empty policy must be the default deny');
      t.begin('a -> b: ping and TCP echo through the tunnel (return traffic of flows a starts)');
      t.check(await a.host.ping(b.ip4, { count: 1, timeoutS: 1, attempts: 3 }), 'a gets no ping reply from b under the empty policy', 'replies to flows a starts are allowed', 'no reply');
      const echo = await a.host.tcpSend(b.ip4, ECHO_TCP_PORT, 'return-traffic', { timeoutMs: 3000 });
      t.check(echo?.toString() === 'return-traffic', 'a gets no TCP echo from b under the empty policy', 'return-traffic', echo?.toString() ?? null);
      t.begin('b -> a over the underlay (not a tunnel interface): ping and UDP');
      t.check(await b.host.ping(a.host.underlayAddress, { count: 1, timeoutS: 1, attempts: 3 }), 'underlay ping b -> a fails under the empty policy', 'the policy filters only the tunnel interfaces', 'no reply');
      const u = await b.host.udpSend(a.host.underlayAddress, 5002, 'underlay', { timeoutMs: 1000, attempts: 3 });
      t.check(u?.toString() === 'underlay', 'underlay UDP b -> a:5002 fails under the empty policy', 'echo', u?.toString() ?? null);
    },
  },
];

interface BadCase {
  what: string;
  rule: Record<string, unknown>;
  field: RegExp;
}

/** Invalid second rules (the first, valid one would open everything if applied). */
const BAD_CASES: BadCase[] = [
  { what: 'port 70000', rule: { id: 'bad', action: 'accept', src: ['b'], dst: ['a'], proto: 'tcp', ports: [80, 70000] }, field: /^acl\.rules\[1\]\.ports\[1\]$/ },
  { what: 'unknown node in src', rule: { id: 'bad', action: 'accept', src: ['nobody'], dst: ['a'], proto: 'tcp', ports: [80] }, field: /^acl\.rules\[1\]\.src\[0\]$/ },
  { what: 'ports with icmp', rule: { id: 'bad', action: 'accept', src: ['b'], dst: ['a'], proto: 'icmp', ports: [22] }, field: /^acl\.rules\[1\]\.ports$/ },
  { what: 'unknown proto', rule: { id: 'bad', action: 'accept', src: ['b'], dst: ['a'], proto: 'sctp' }, field: /^acl\.rules\[1\]\.proto$/ },
];
const OPEN_ALL: AclRule = { id: 'open-all', action: 'accept', src: ['*'], dst: ['*'], proto: 'any' };

export const badInputTests: T[] = [
  {
    id: 'policy.bad-input.rejected-unchanged',
    title: 'an invalid policy (port 70000, unknown node, ports with icmp, bad proto) -> INVALID_INPUT naming the field from validate and apply; ruleset and traffic unchanged',
    deadlineMs: 30_000,
    async run(t, fx) {
      await applyOnA(t, fx, MATRIX_RULES, 'the matrix ACL');
      t.begin('snapshot nft -s list ruleset on a');
      const before = await fx.ruleset(fx.a.host);
      for (const c of BAD_CASES) {
        const input = await fx.input([OPEN_ALL, c.rule as unknown as AclRule]);
        t.begin(`validate(${c.what})`);
        await t.rejects(`validate(${c.what})`, fx.validate(fx.a.plugin, input), 'INVALID_INPUT', c.field);
        t.begin(`apply(${c.what})`);
        await t.rejects(`apply(${c.what})`, fx.apply(fx.a.plugin, input), 'INVALID_INPUT', c.field);
      }
      t.begin('the ruleset on a is unchanged');
      const after = await fx.ruleset(fx.a.host);
      t.check(after === before, 'a refused apply changed the nftables ruleset', before, after);
      await expectFlows(t, fx, MATRIX_V4, 'after the refused applies: the last good policy still decides');
    },
  },
];

export const counterTests: T[] = [
  {
    id: 'policy.counters.move',
    title: 'counters() lists every rule; accept and drop rules count the packets that hit them, untouched rules stay put',
    gate: 'counters',
    deadlineMs: 30_000,
    skipIf: (fx) => (fx.caps.counters ? undefined : 'the plugin does not claim counters'),
    async run(t, fx) {
      await applyOnA(t, fx, MATRIX_RULES, 'the matrix ACL');
      t.begin('counters() after apply');
      const c0 = await t.ok('counters()', fx.counters(fx.a.plugin));
      const ids = MATRIX_RULES.map((r) => r.id!);
      const missing = ids.filter((id) => !c0.some((c) => c.ruleId === id));
      t.check(missing.length === 0, 'counters() does not list every rule id', ids, c0.map((c) => c.ruleId));
      t.begin('5 new UDP flows b -> a:5000 (rule udp-range) and one TCP flow b -> a:8443 (rule no-b-8443, drop)');
      const udp: Flow = { from: 'b', proto: 'udp', port: 5000, action: 'accept', ruleId: 'udp-range' };
      const got = await Promise.all([...Array.from({ length: 5 }, () => probe(fx, udp)), probe(fx, { from: 'b', proto: 'tcp', port: 8443, action: 'drop', ruleId: 'no-b-8443' })]);
      t.check(got.slice(0, 5).every(Boolean) && !got[5], 'the probes did not behave as the rules say', [true, true, true, true, true, false], got);
      t.begin('counters() after the traffic');
      const c1 = await t.ok('counters()', fx.counters(fx.a.plugin));
      const delta = (id: string): { packets: number; bytes: number } => {
        const x = c1.find((c) => c.ruleId === id);
        const y = c0.find((c) => c.ruleId === id);
        return { packets: (x?.packets ?? 0) - (y?.packets ?? 0), bytes: (x?.bytes ?? 0) - (y?.bytes ?? 0) };
      };
      const d = { 'udp-range': delta('udp-range'), 'no-b-8443': delta('no-b-8443'), ssh: delta('ssh') };
      t.check(d['udp-range'].packets >= 5 && d['udp-range'].bytes > 0, 'the accept rule udp-range did not count the 5 new flows', 'packets >= 5, bytes > 0', d['udp-range']);
      t.check(d['no-b-8443'].packets >= 1 && d['no-b-8443'].bytes > 0, 'the drop rule no-b-8443 did not count the dropped SYN(s)', 'packets >= 1, bytes > 0', d['no-b-8443']);
      t.check(d.ssh.packets === 0, 'rule ssh counted packets although no flow matched it', 'packets 0', d.ssh);
    },
  },
  {
    id: 'policy.counters.unsupported',
    title: 'without the counters capability, counters() fails with UNSUPPORTED',
    gate: '!counters',
    skipIf: (fx) => (fx.caps.counters ? 'the plugin claims counters (exercised in policy.counters.move)' : undefined),
    async run(t, fx) {
      await fx.protectedNode();
      t.begin('counters() on a running instance');
      await t.rejects('counters()', fx.counters(fx.a.plugin), 'UNSUPPORTED');
    },
  },
];

const SENTINEL = 'rnt_kit_sentinel';

export const teardownTests: T[] = [
  {
    id: 'policy.teardown.clean',
    title: "after use and stop, `nft list ruleset` on a equals the one before start (a foreign table survives), and nothing filters the mesh any more",
    deadlineMs: 30_000,
    async run(t, fx) {
      await fx.protectedNode();
      const host = fx.a.host;
      t.begin('stop the policy on a; add a foreign sentinel table');
      await t.ok('stop', fx.stop(fx.a.plugin));
      await host.exec('nft', ['-f', '-'], { input: `table inet ${SENTINEL} {\n chain c { type filter hook input priority 100; policy accept; }\n}\n` });
      try {
        t.begin('snapshot nft -s list ruleset before start');
        const before = await fx.ruleset(host);
        t.begin('start, apply, traffic, counters, stop');
        await t.ok('start', fx.start(fx.a.plugin));
        fx.a.running = true;
        await t.ok('apply', fx.apply(fx.a.plugin, await fx.input(MATRIX_RULES)));
        await expectFlows(t, fx, [DENIED_B_9000, ALLOWED_B_80], 'while enforced');
        if (fx.caps.counters) await t.ok('counters', fx.counters(fx.a.plugin));
        await t.ok('stop', fx.stop(fx.a.plugin));
        t.begin('compare nft -s list ruleset with the snapshot');
        const after = await fx.ruleset(host);
        t.check(after === before, 'the policy plugin left nftables state behind or removed what was not its own', before, after);
        await expectFlows(t, fx, [DENIED_B_9000], 'after stop nothing of the policy filters', () => 'accept');
        t.begin('compare with the ruleset before the plugin first started on a');
        await host.exec('nft', ['delete', 'table', 'inet', SENTINEL]);
        const now = await fx.ruleset(host);
        t.check(now === fx.baselineRuleset, 'nftables state differs from before the plugin first started on a', fx.baselineRuleset, now);
      } finally {
        await host.exec('nft', ['delete', 'table', 'inet', SENTINEL], { reject: false });
      }
    },
  },
];

/** Every policy test, in run order. Ids are stable API (see docs/conformance.md). */
export const allPolicyTests: T[] = [...manifestTests, ...stateTests, ...enforceTests, ...gapTests, ...badInputTests, ...counterTests, ...teardownTests];
