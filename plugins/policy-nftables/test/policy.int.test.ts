/**
 * Integration: the policy plugin enforcing real packets between two network namespaces.
 * Needs root. Everything happens inside namespaces this test creates (see support/netns.ts).
 */
import { expect } from 'chai';
import { isRustynetError, type AclRule, type PolicyInput } from '@rustynet/plugin-api';
import fc from 'fast-check';
import { compileRuleset, createPlugin, resolvePolicy, DEFAULT_OPTIONS, type NftablesPolicyPlugin } from '../src/index.js';
import { policyArb } from './arbitraries.js';
import { Agent } from './support/agents.js';
import { makeContext, type RecordingMetrics } from './support/fakes.js';
import { NetnsRunner } from './support/netns-runner.js';
import { PolicyTestNet } from './support/netns.js';

type Proto = 'tcp' | 'udp' | 'icmp';
interface Flow {
  from: 'b' | 'c';
  proto: Proto;
  port?: number;
  v6?: boolean;
  expect: boolean;
}

const TCP_PORTS = [22, 80, 8080, 8081, 8082, 8443, 9000];
const UDP_PORTS = [53, 5000, 5001, 5002];

const RULES: AclRule[] = [
  { id: 'ssh', action: 'accept', src: ['tag:ops'], dst: ['tag:server'], proto: 'tcp', ports: [22] },
  { id: 'web', action: 'accept', src: ['*'], dst: ['a'], proto: 'tcp', ports: [80, '8080-8081'] },
  { id: 'dns', action: 'accept', src: ['c'], dst: ['a'], proto: 'udp', ports: [53] },
  { id: 'no-dev-icmp', action: 'drop', src: ['tag:dev'], dst: ['*'], proto: 'icmp' },
  { id: 'icmp', action: 'accept', src: ['*'], dst: ['*'], proto: 'icmp' },
  { id: 'udp-range', action: 'accept', src: ['100.64.0.2/32'], dst: ['node:a'], proto: 'udp', ports: ['5000-5001'] },
  { id: 'no-b-8443', action: 'drop', src: ['b'], dst: ['a'], proto: 'tcp', ports: [8443] },
  { id: 'tls-alt', action: 'accept', src: ['*'], dst: ['*'], proto: 'tcp', ports: [8443] },
];

const MATRIX: Flow[] = [
  { from: 'b', proto: 'tcp', port: 22, expect: true },
  { from: 'c', proto: 'tcp', port: 22, expect: false },
  { from: 'b', proto: 'tcp', port: 80, expect: true },
  { from: 'c', proto: 'tcp', port: 8081, expect: true },
  { from: 'c', proto: 'tcp', port: 8082, expect: false },
  { from: 'b', proto: 'tcp', port: 9000, expect: false },
  { from: 'c', proto: 'udp', port: 53, expect: true },
  { from: 'b', proto: 'udp', port: 53, expect: false },
  { from: 'c', proto: 'icmp', expect: false },
  { from: 'b', proto: 'icmp', expect: true },
  { from: 'b', proto: 'udp', port: 5000, expect: true },
  { from: 'b', proto: 'udp', port: 5001, expect: true },
  { from: 'c', proto: 'udp', port: 5000, expect: false },
  { from: 'b', proto: 'udp', port: 5002, expect: false },
  { from: 'b', proto: 'tcp', port: 8443, expect: false },
  { from: 'c', proto: 'tcp', port: 8443, expect: true },
  { from: 'b', proto: 'tcp', port: 22, v6: true, expect: true },
  { from: 'c', proto: 'tcp', port: 22, v6: true, expect: false },
  { from: 'b', proto: 'icmp', v6: true, expect: true },
  { from: 'c', proto: 'icmp', v6: true, expect: false },
  { from: 'c', proto: 'udp', port: 53, v6: true, expect: true },
  { from: 'b', proto: 'udp', port: 5000, v6: true, expect: false },
  { from: 'b', proto: 'tcp', port: 8081, v6: true, expect: true },
];

describe('policy-nftables in network namespaces (integration, root)', function () {
  this.timeout(120_000);
  let net: PolicyTestNet;
  let runner: NetnsRunner;
  let plugin: NftablesPolicyPlugin;
  let metrics: RecordingMetrics;
  let clientB: Agent;
  let clientA: Agent;
  const agents: Agent[] = [];

  const addr = (who: 'a' | 'b' | 'c', v6 = false): string => {
    const host = { a: 1, b: 2, c: 3 }[who];
    return v6 ? net.ip6(host) : `100.64.0.${host}`;
  };
  const input = (rules: AclRule[]): PolicyInput => ({
    self: 'a',
    interfaces: [net.meshIf],
    nodes: [
      { id: 'a', addresses: [`${addr('a')}/32`, `${addr('a', true)}/128`], tags: ['server'] },
      { id: 'b', addresses: [`${addr('b')}/32`, `${addr('b', true)}/128`], tags: ['ops'] },
      { id: 'c', addresses: [`${addr('c')}/32`, `${addr('c', true)}/128`], tags: ['dev'] },
    ],
    acl: { rules },
  });
  const label = (f: Flow): string => `${f.from}->a ${f.proto}${f.port ? `/${f.port}` : ''}${f.v6 ? ' (v6)' : ''}`;
  const probeAll = (flows: Flow[]): Promise<boolean[]> =>
    Promise.all(flows.map((f) => clientB.probe(f.proto, addr(f.from, f.v6), addr('a', f.v6), f.port)));
  const nft = (...args: string[]): Promise<string> => net.exec(net.a, 'nft', args);
  /** Ruleset text without counter values (stray packets such as IPv6 MLD may move them). */
  const structure = async (...args: string[]): Promise<string> =>
    (await nft(...args)).replace(/packets \d+ bytes \d+/g, 'packets - bytes -');

  before(async function () {
    if (process.getuid?.() !== 0) this.skip();
    net = await PolicyTestNet.create();
    net.beforeDestroy.push(() => agents.forEach((a) => a.stop()));
    agents.push(await Agent.start(net.a, 'server', ['--tcp', TCP_PORTS.join(','), '--udp', UDP_PORTS.join(',')]));
    agents.push(await Agent.start(net.b, 'server', ['--tcp', '7000', '--udp', '7001']));
    clientB = await Agent.start(net.b, 'client');
    clientA = await Agent.start(net.a, 'client');
    agents.push(clientB, clientA);
    // Tables that are not ours: they must survive everything the plugin does.
    await net.exec(
      net.a,
      'nft',
      ['-f', '-'],
      'table inet othertbl {\n chain c {\n  type filter hook input priority 0; policy accept;\n  counter\n }\n}\ntable ip other4 {\n}\n',
    );
    runner = new NetnsRunner(net.a);
    const ctx = makeContext({ runner });
    metrics = ctx.metrics;
    plugin = createPlugin(ctx);
  });

  after(async () => {
    try {
      await plugin?.stop();
    } catch {
      /* namespace teardown removes it anyway */
    }
    agents.forEach((a) => a.stop());
    await net?.destroy();
  });

  it('baseline: without the policy every probed flow gets through', async () => {
    const got = await probeAll(MATRIX);
    const blocked = MATRIX.filter((_, i) => !got[i]).map(label);
    expect(blocked, 'flows blocked without any policy').to.deep.equal([]);
  });

  it('default deny with an empty policy; return traffic and non-mesh traffic still flow', async () => {
    await plugin.start();
    await plugin.apply(input([]));
    const got = await probeAll(MATRIX);
    expect(MATRIX.filter((_, i) => got[i]).map(label), 'flows that got through an empty policy').to.deep.equal([]);
    // a's own flows out to the mesh come back (established/related)
    expect(await clientA.probe('tcp', addr('a'), addr('b'), 7000)).to.equal(true);
    expect(await clientA.probe('udp', addr('a'), addr('b'), 7001)).to.equal(true);
    expect(await clientA.probe('icmp', addr('a', true), addr('b', true))).to.equal(true);
    // the underlay veth is not a mesh interface: untouched
    expect(await clientB.probe('tcp', '198.18.0.2', '198.18.0.1', 22)).to.equal(true);
    expect(await clientB.probe('icmp', '198.18.0.2', '198.18.0.1')).to.equal(true);
  });

  it('allowed/denied matrix (tcp/udp/icmp, ports, v4+v6) matches the rules exactly, and explain() agrees', async () => {
    await plugin.apply(input(RULES));
    const got = await probeAll(MATRIX);
    const wrong: string[] = [];
    MATRIX.forEach((f, i) => {
      const d = plugin.explain(input(RULES), {
        src: addr(f.from, f.v6),
        dst: addr('a', f.v6),
        proto: f.proto,
        ...(f.port !== undefined && { port: f.port }),
      });
      if (got[i] !== f.expect) wrong.push(`${label(f)}: kernel ${got[i] ? 'passed' : 'dropped'}, expected ${f.expect ? 'pass' : 'drop'}`);
      if ((d.action === 'accept') !== got[i]) wrong.push(`${label(f)}: explain says ${d.action} (${d.reason})`);
    });
    expect(wrong).to.deep.equal([]);
  });

  it('counters move per rule, and drops reach the metrics', async () => {
    const byId = new Map((await plugin.counters()).map((c) => [c.ruleId, c]));
    expect([...byId.keys()]).to.deep.equal(RULES.map((r) => r.id));
    expect(byId.get('ssh')!.packets).to.be.at.least(2); // v4 + v6 SYN
    expect(byId.get('no-dev-icmp')!.packets).to.be.at.least(2);
    expect(byId.get('no-b-8443')!.packets).to.be.at.least(1);
    expect(byId.get('udp-range')!.bytes).to.be.greaterThan(0);
    expect(metrics.counterValue('policy_rule_packets_total', { rule: 'no-dev-icmp', action: 'drop' })).to.be.at.least(2);
    expect(metrics.counterValue('policy_rule_packets_total', { rule: '(default)', action: 'drop' })).to.be.at.least(4);
    // more denied traffic: the counters go up
    await clientB.probe('icmp', addr('c'), addr('a'));
    const again = new Map((await plugin.counters()).map((c) => [c.ruleId, c]));
    expect(again.get('no-dev-icmp')!.packets).to.be.greaterThan(byId.get('no-dev-icmp')!.packets);
  });

  it('an invalid policy is rejected before anything changes (nft list table identical)', async () => {
    const before = await structure('list', 'ruleset');
    const calls = runner.calls.length;
    const bad: Array<[AclRule[], string]> = [
      [[...RULES.slice(0, 3), { action: 'accept', src: ['*'], dst: ['*'], proto: 'icmp', ports: [1] }], 'acl.rules[3].ports'],
      [[{ action: 'accept', src: ['tag:nobody'], dst: ['*'], proto: 'any' }], 'acl.rules[0].src[0]'],
      [[{ action: 'accept', src: ['*'], dst: ['*'], proto: 'tcp', ports: ['9-1'] }], 'acl.rules[0].ports[0]'],
    ];
    for (const [rules, field] of bad) {
      try {
        await plugin.apply(input(rules));
        expect.fail('invalid policy accepted');
      } catch (err) {
        expect(isRustynetError(err, 'INVALID_INPUT'), String(err)).to.equal(true);
        expect((err as { field?: string }).field).to.equal(field);
      }
    }
    expect(runner.calls.length, 'no nft command for an invalid policy').to.equal(calls);
    expect(await structure('list', 'ruleset')).to.equal(before);
    expect(await probeAll([MATRIX[0], MATRIX[1]])).to.deep.equal([true, false]);
  });

  it('when nft itself fails, the previous ruleset stays (atomic transaction)', async () => {
    const before = await structure('list', 'table', 'inet', 'rustynet_policy');
    const countersBefore = await plugin.counters();
    // A valid policy that would open everything; the runner corrupts its transaction's tail.
    runner.filter = (_f, args, stdin) =>
      args.join(' ') === '-f -' && stdin ? `${stdin}add rule inet rustynet_policy acl bogus expression\n` : stdin;
    try {
      await plugin.apply(input([{ id: 'open', action: 'accept', src: ['*'], dst: ['*'], proto: 'any' }]));
      expect.fail('apply succeeded despite nft failure');
    } catch (err) {
      expect(isRustynetError(err, 'POLICY_FAILED'), String(err)).to.equal(true);
      expect(String((err as { details?: Record<string, unknown> }).details?.['stderr'])).to.match(/bogus/);
    } finally {
      runner.filter = undefined;
    }
    expect(await structure('list', 'table', 'inet', 'rustynet_policy')).to.equal(before);
    // not even recreated: the counters did not restart
    const ssh = (cs: Array<{ ruleId: string; packets: number }>): number => cs.find((c) => c.ruleId === 'ssh')!.packets;
    expect(ssh(countersBefore)).to.be.greaterThan(0);
    expect(ssh(await plugin.counters())).to.be.at.least(ssh(countersBefore));
    expect(await probeAll([MATRIX[1], MATRIX[4]])).to.deep.equal([false, false]);
  });

  it('updates never open a gap: continuous probes of denied flows during repeated swaps never get through', async () => {
    // Both policies deny c->a tcp/22 and udp/5002 and allow b->a tcp/22, with different rule sets.
    const p1 = input(RULES);
    const p2 = input([
      { id: 'dns', action: 'accept', src: ['c'], dst: ['a'], proto: 'udp', ports: [53] },
      { id: 'ssh-b', action: 'accept', src: ['b'], dst: ['a'], proto: 'tcp', ports: [22, 80] },
      { id: 'deny-c', action: 'drop', src: ['tag:dev'], dst: ['*'], proto: 'any' },
      { id: 'icmp', action: 'accept', src: ['*'], dst: ['*'], proto: 'icmp' },
      { id: 'high', action: 'accept', src: ['*'], dst: ['a'], proto: 'tcp', ports: ['1024-65535'] },
    ]);
    for (const p of [p1, p2]) {
      expect(plugin.explain(p, { src: 'c', dst: 'a', proto: 'tcp', port: 22 }).action).to.equal('drop');
      expect(plugin.explain(p, { src: 'c', dst: 'a', proto: 'udp', port: 5002 }).action).to.equal('drop');
      expect(plugin.explain(p, { src: 'b', dst: 'a', proto: 'tcp', port: 22 }).action).to.equal('accept');
    }
    const stopDeniedTcp = await clientB.loop('tcp', addr('c'), addr('a'), 22, 3, 400);
    const stopDeniedUdp = await clientB.loop('udp', addr('c'), addr('a'), 5002, 1, 400);
    const stopDeniedTcp6 = await clientB.loop('tcp', addr('c', true), addr('a', true), 22, 3, 400);
    const stopAllowed = await clientB.loop('tcp', addr('b'), addr('a'), 22, 10, 2000);
    const swaps = 40;
    for (let i = 0; i < swaps; i++) await plugin.apply(i % 2 === 0 ? p2 : p1);
    const [tcp, udp, tcp6, allowed] = await Promise.all([stopDeniedTcp(), stopDeniedUdp(), stopDeniedTcp6(), stopAllowed()]);
    expect(tcp.attempts, 'tcp probes sent').to.be.greaterThan(50);
    expect(udp.attempts, 'udp probes sent').to.be.greaterThan(100);
    expect({ tcp: tcp.successes, udp: udp.successes, tcp6: tcp6.successes }, 'denied probes that got through').to.deep.equal({
      tcp: 0,
      udp: 0,
      tcp6: 0,
    });
    expect(allowed.attempts).to.be.greaterThan(10);
    expect(allowed.successes, 'allowed flow kept working through every swap').to.equal(allowed.attempts);
  });

  it('nft accepts the compiled ruleset of every generated policy (nft -c, nothing committed)', async () => {
    const before = await structure('list', 'ruleset');
    const samples = fc.sample(policyArb, { numRuns: 60, seed: 20261123 });
    const rejected: string[] = [];
    for (const { input: p } of samples) {
      const text = compileRuleset(resolvePolicy({ ...p, interfaces: ['rn0', 'rn*'] }), {
        ...DEFAULT_OPTIONS,
        table: 'rnpl_check',
      });
      const r = await runner.run('nft', ['-c', '-f', '-'], { input: text, reject: false });
      if (r.exitCode !== 0) rejected.push(`${r.stderr.trim()}\n${text}`);
    }
    expect(rejected.slice(0, 1)).to.deep.equal([]);
    expect(await structure('list', 'ruleset')).to.equal(before);
  });

  it('stop removes its table and nothing else; idempotent; traffic is no longer filtered', async () => {
    const otherBefore = await structure('list', 'table', 'inet', 'othertbl');
    expect(await nft('list', 'tables')).to.include('table inet rustynet_policy');
    await plugin.stop();
    const tables = await nft('list', 'tables');
    expect(tables).not.to.include('rustynet_policy');
    expect(tables).to.include('table inet othertbl');
    expect(tables).to.include('table ip other4');
    expect(await structure('list', 'table', 'inet', 'othertbl')).to.equal(otherBefore);
    await plugin.stop();
    try {
      await plugin.counters();
      expect.fail('counters after stop');
    } catch (err) {
      expect(isRustynetError(err, 'NOT_RUNNING')).to.equal(true);
    }
    expect(await probeAll([MATRIX[1]])).to.deep.equal([true]);
  });
});
