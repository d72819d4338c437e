import { expect } from 'chai';
import fc from 'fast-check';
import { BlockList, isIP } from 'node:net';
import { isRustynetError, type AclRule, type FlowQuery, type PolicyInput } from '@rustynet/plugin-api';
import { createPlugin } from '../src/index.js';
import { policyArb } from './arbitraries.js';
import { clone, sampleInput } from './fixtures.js';
import { makeContext, RecordingRunner } from './support/fakes.js';

const plugin = createPlugin(makeContext({ runner: new RecordingRunner() }));

describe('explain', () => {
  const table: Array<[FlowQuery, 'accept' | 'drop', string | null, RegExp]> = [
    [
      { src: 'b', dst: 'a', proto: 'tcp', port: 22 },
      'accept',
      'ssh',
      /rule ssh \(#0\) matches 100\.64\.0\.2 -> 100\.64\.0\.1 tcp\/22: src in tag:ops, dst in tag:web, tcp\/22 in ports 22 -> accept/,
    ],
    [{ src: 'd', dst: 'd', proto: 'tcp', port: 22 }, 'accept', 'ssh', /src in tag:ops, dst in tag:web/],
    [{ src: 'c', dst: 'a', proto: 'tcp', port: 22 }, 'drop', 'no-dev', /rule no-dev \(#2\) .* src in node:c, dst in \*, proto any -> drop/],
    [{ src: 'c', dst: 'a', proto: 'tcp', port: 8080 }, 'accept', 'web', /tcp\/8080 in ports 443,8000-8080/],
    [{ src: 'c', dst: 'a', proto: 'tcp', port: 8081 }, 'drop', 'no-dev', /no-dev/],
    [
      { src: 'b', dst: 'a', proto: 'tcp', port: 8081 },
      'drop',
      null,
      /no rule matches 100\.64\.0\.2 -> 100\.64\.0\.1 tcp\/8081 \(5 checked\): default deny; nearest: rule ssh \(#0\) matches src and dst but port 8081 not in 22/,
    ],
    [{ src: 'b', dst: 'a', proto: 'icmp' }, 'accept', 'ping', /proto icmp -> accept/],
    [{ src: 'b', dst: 'a', proto: 'udp', port: 53 }, 'accept', 'dns', /src in 100\.64\.0\.0\/10/],
    [{ src: 'fd00::2', dst: 'fd00::1', proto: 'udp', port: 53 }, 'accept', 'dns', /fd00::2 -> fd00::1 udp\/53: src in fd00::\/8/],
    [
      { src: '10.0.0.1', dst: 'a', proto: 'udp', port: 53 },
      'drop',
      null,
      /default deny; nearest: rule web \(#1\) matches src and dst but proto is tcp/,
    ],
    [{ src: 'b', dst: 'c', proto: 'udp', port: 53 }, 'drop', null, /no rule matches 100\.64\.0\.2 -> 100\.64\.0\.3 udp\/53/],
    [{ src: 'node:b', dst: '100.64.0.1', proto: 'tcp', port: 443 }, 'accept', 'web', /src in \*, dst in a/],
  ];
  for (const [flow, action, ruleId, reason] of table) {
    it(`${flow.src} -> ${flow.dst} ${flow.proto}${flow.port ? `/${flow.port}` : ''}: ${action} by ${ruleId ?? 'default'}`, () => {
      const d = plugin.explain(sampleInput(), flow);
      expect(d.action).to.equal(action);
      expect(d.ruleId).to.equal(ruleId);
      expect(d.ruleIndex).to.equal(ruleId === null ? null : sampleInput().acl.rules.findIndex((r) => r.id === ruleId));
      expect(d.reason).to.match(reason);
    });
  }

  it('says so when the policy is empty', () => {
    const d = plugin.explain({ ...sampleInput(), acl: { rules: [] } }, { src: 'b', dst: 'a', proto: 'icmp' });
    expect(d).to.deep.equal({
      action: 'drop',
      ruleId: null,
      ruleIndex: null,
      reason: 'no rules: default deny of 100.64.0.2 -> 100.64.0.1 icmp (only return traffic of established flows passes)',
    });
  });

  it('mentions a different IPv6 decision for dual-stack node ids', () => {
    const i = clone(sampleInput());
    i.acl.rules = [{ id: 'v4only', action: 'accept', src: ['100.64.0.0/10'], dst: ['*'], proto: 'any' }];
    const d = plugin.explain(i, { src: 'b', dst: 'a', proto: 'icmp' });
    expect(d.ruleId).to.equal('v4only');
    expect(d.reason).to.match(/Over IPv6 the decision differs: no rule matches fd00::2 -> fd00::1 icmp/);
  });

  const bad: Array<[FlowQuery, string]> = [
    [{ src: 'zz', dst: 'a', proto: 'icmp' }, 'flow.src'],
    [{ src: 'b', dst: '', proto: 'icmp' }, 'flow.dst'],
    [{ src: 'b', dst: 'a', proto: 'tcp' }, 'flow.port'],
    [{ src: 'b', dst: 'a', proto: 'udp', port: 0 }, 'flow.port'],
    [{ src: 'b', dst: 'a', proto: 'icmp', port: 1 }, 'flow.port'],
    [{ src: 'b', dst: 'a', proto: 'gre' as 'icmp' }, 'flow.proto'],
    [{ src: 'c', dst: 'fd00::1', proto: 'icmp' }, 'flow.dst'],
  ];
  for (const [flow, field] of bad) {
    it(`rejects ${JSON.stringify(flow)} with INVALID_INPUT ${field}`, () => {
      try {
        plugin.explain(sampleInput(), flow);
        expect.fail('no error');
      } catch (err) {
        expect(isRustynetError(err, 'INVALID_INPUT'), String(err)).to.equal(true);
        expect((err as { field?: string }).field).to.equal(field);
      }
    });
  }

  it('rejects an invalid policy like validate() does', () => {
    const i = clone(sampleInput());
    i.acl.rules[0].src = ['tag:ghost'];
    expect(() => plugin.explain(i, { src: 'b', dst: 'a', proto: 'icmp' })).to.throw(/unknown tag/);
  });
});

/**
 * Naive reference evaluator written straight from the AclPolicy documentation, with Node's
 * own BlockList for prefix matching: independent of the resolver/evaluator under test.
 */
function naive(
  input: PolicyInput,
  src: string,
  dst: string,
  proto: 'tcp' | 'udp' | 'icmp',
  port?: number,
): { action: string; ruleIndex: number | null } {
  const fam = (ip: string): 'ipv4' | 'ipv6' => (isIP(ip) === 4 ? 'ipv4' : 'ipv6');
  const host = (cidr: string): string => cidr.split('/')[0];
  const inSel = (sel: string, ip: string): boolean => {
    if (sel === '*') return true;
    if (sel.startsWith('tag:'))
      return input.nodes.some((n) => n.tags?.includes(sel.slice(4)) && n.addresses.some((a) => sameIp(host(a), ip)));
    if (sel.includes('/') || isIP(sel)) {
      const [net, len] = sel.includes('/') ? sel.split('/') : [sel, isIP(sel) === 4 ? '32' : '128'];
      if (isIP(net) !== isIP(ip)) return false;
      const bl = new BlockList();
      bl.addSubnet(net, Number(len), fam(net));
      return bl.check(ip, fam(ip));
    }
    const id = sel.startsWith('node:') ? sel.slice(5) : sel;
    return input.nodes.some((n) => n.id === id && n.addresses.some((a) => sameIp(host(a), ip)));
  };
  const portOk = (r: AclRule): boolean =>
    r.ports === undefined ||
    r.ports.some((p) => {
      if (typeof p === 'number') return p === port;
      const [lo, hi] = p.split('-').map(Number);
      return port !== undefined && port >= lo && port <= (hi ?? lo);
    });
  for (const [i, r] of input.acl.rules.entries()) {
    if (r.src.some((s) => inSel(s, src)) && r.dst.some((s) => inSel(s, dst)) && (r.proto === 'any' || r.proto === proto) && portOk(r)) {
      return { action: r.action, ruleIndex: i };
    }
  }
  return { action: 'drop', ruleIndex: null };
}

function sameIp(a: string, b: string): boolean {
  if (isIP(a) !== isIP(b)) return false;
  const bl = new BlockList();
  bl.addAddress(a, isIP(a) === 4 ? 'ipv4' : 'ipv6');
  return bl.check(b, isIP(b) === 4 ? 'ipv4' : 'ipv6');
}

describe('explain agrees with a naive reference evaluator (property)', () => {
  it('same action and same deciding rule for every generated policy and flow', () => {
    fc.assert(
      fc.property(policyArb, ({ input, flow }) => {
        const node = (x: string): (typeof input.nodes)[number] | undefined => input.nodes.find((n) => n.id === x);
        const first = (x: string, family: 4 | 6): string | undefined =>
          isIP(x)
            ? isIP(x) === family
              ? x
              : undefined
            : node(x)
                ?.addresses.map((a) => a.split('/')[0])
                .find((a) => isIP(a) === family);
        const family = ([4, 6] as const).find((f) => first(flow.src, f) && first(flow.dst, f));
        const q: FlowQuery = flow.proto === 'icmp' ? { src: flow.src, dst: flow.dst, proto: 'icmp' } : flow;
        if (family === undefined) {
          expect(() => plugin.explain(input, q)).to.throw(/no address family in common/);
          return;
        }
        const ref = naive(input, first(flow.src, family)!, first(flow.dst, family)!, flow.proto, q.port);
        const got = plugin.explain(input, q);
        expect({ action: got.action, ruleIndex: got.ruleIndex }).to.deep.equal(ref);
      }),
      { numRuns: 2000 },
    );
  });
});
