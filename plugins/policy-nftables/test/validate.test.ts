import { expect } from 'chai';
import { isRustynetError, type PolicyInput } from '@rustynet/plugin-api';
import { resolvePolicy } from '../src/resolve.js';
import { clone, sampleInput } from './fixtures.js';

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(isRustynetError(err, 'INVALID_INPUT'), String(err)).to.equal(true);
    return (err as { field?: string }).field;
  }
  expect.fail('expected INVALID_INPUT');
}

describe('validation (resolvePolicy)', () => {
  it('accepts the sample policy and an empty rule list', () => {
    expect(resolvePolicy(sampleInput()).rules).to.have.length(5);
    const empty = { ...sampleInput(), acl: { rules: [] } };
    expect(resolvePolicy(empty).rules).to.deep.equal([]);
  });

  const cases: Array<[string, (i: PolicyInput) => void, string]> = [
    ['port with icmp', (i) => Object.assign(i.acl.rules[3], { ports: [7] }), 'acl.rules[3].ports'],
    ['port with any', (i) => Object.assign(i.acl.rules[2], { ports: [7] }), 'acl.rules[2].ports'],
    ['port 0', (i) => (i.acl.rules[0].ports = [22, 0]), 'acl.rules[0].ports[1]'],
    ['port 70000 as string', (i) => (i.acl.rules[0].ports = ['70000']), 'acl.rules[0].ports[0]'],
    ['reversed range', (i) => (i.acl.rules[1].ports = [443, '9000-8000']), 'acl.rules[1].ports[1]'],
    ['malformed port string', (i) => (i.acl.rules[1].ports = ['80,81']), 'acl.rules[1].ports[0]'],
    ['unknown node', (i) => (i.acl.rules[4].dst = ['a', 'zz']), 'acl.rules[4].dst[1]'],
    ['unknown node: prefix', (i) => (i.acl.rules[2].src = ['node:nope']), 'acl.rules[2].src[0]'],
    ['unknown tag', (i) => (i.acl.rules[0].src = ['tag:nobody']), 'acl.rules[0].src[0]'],
    ['garbage selector', (i) => (i.acl.rules[0].src = ['Not A Selector']), 'acl.rules[0].src[0]'],
    ['CIDR with host bits', (i) => (i.acl.rules[4].src = ['100.64.0.1/10']), 'acl.rules[4].src[0]'],
    ['CIDR prefix too long', (i) => (i.acl.rules[4].src = ['100.64.0.0/33']), 'acl.rules[4].src[0]'],
    ['empty src', (i) => (i.acl.rules[1].src = []), 'acl.rules[1].src'],
    ['bad proto', (i) => ((i.acl.rules[1] as unknown as { proto: string }).proto = 'sctp'), 'acl.rules[1].proto'],
    ['bad action', (i) => ((i.acl.rules[1] as unknown as { action: string }).action = 'allow'), 'acl.rules[1].action'],
    ['missing dst', (i) => delete (i.acl.rules[2] as unknown as { dst?: unknown }).dst, 'acl.rules[2].dst'],
    ['extra property', (i) => ((i.acl.rules[0] as unknown as Record<string, unknown>)['comment'] = 'x'), 'acl.rules[0].comment'],
    ['duplicate rule id', (i) => (i.acl.rules[3].id = 'ssh'), 'acl.rules[3].id'],
    ['default id collides', (i) => ((i.acl.rules[4].id = 'rule-2'), delete i.acl.rules[2].id), 'acl.rules[4].id'],
    ['bad rule id', (i) => (i.acl.rules[0].id = 'has space'), 'acl.rules[0].id'],
    ['no interfaces', (i) => (i.interfaces = []), 'interfaces'],
    ['bad interface', (i) => (i.interfaces = ['rn0', 'a"b']), 'interfaces[1]'],
    ['interface too long', (i) => (i.interfaces = ['abcdefghijklmnop']), 'interfaces[0]'],
    ['unknown self', (i) => (i.self = 'x'), 'self'],
    ['duplicate node', (i) => (i.nodes[2].id = 'b'), 'nodes[2].id'],
    ['bad node address', (i) => (i.nodes[1].addresses = ['100.64.0.2/32', 'nope']), 'nodes[1].addresses[1]'],
    ['rules not an array', (i) => ((i.acl as unknown as { rules: unknown }).rules = {}), 'acl.rules'],
  ];
  for (const [name, mutate, field] of cases) {
    it(`rejects ${name} with field ${field}`, () => {
      const input = clone(sampleInput());
      mutate(input);
      expect(fieldOf(() => resolvePolicy(input))).to.equal(field);
    });
  }

  it('accepts wildcard interfaces, bare IPs as hosts and node:<id>', () => {
    const i = clone(sampleInput());
    i.interfaces = ['rn*', 'tun0', 'rn*'];
    i.acl.rules[4].src = ['100.64.0.2', 'fd00::2', 'node:b'];
    const p = resolvePolicy(i);
    expect(p.interfaces).to.deep.equal(['rn*', 'tun0']);
    expect(p.rules[4].src.v4.map((x) => x.prefixLength)).to.deep.equal([32]);
  });
});
