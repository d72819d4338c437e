import type { AclRule, PolicyInput } from '@rustynet/plugin-api';
import type { KitTest } from '../../define.js';
import type { NodeName } from '../../backend/fixture.js';
import { expectFlows } from '../flows.js';
import type { PolicyFixture } from '../fixture.js';
import { applyInput, flow } from './helpers.js';

type T = KitTest<PolicyFixture>;

/** Rules of the selector tests: `tag:fleet` may reach a on tcp/9000 and udp/5002. */
const FLEET_RULES: AclRule[] = [
  { id: 'fleet-tcp', action: 'accept', src: ['tag:fleet'], dst: ['a'], proto: 'tcp', ports: [9000] },
  { id: 'fleet-udp', action: 'accept', src: ['tag:fleet'], dst: ['tag:server'], proto: 'udp', ports: [5002] },
];

/** A policy input for a with `rules` and the suite's nodes, their tags replaced by `tags`. */
async function inputWithTags(fx: PolicyFixture, rules: AclRule[], tags: Partial<Record<NodeName, string[]>>): Promise<PolicyInput> {
  const input = await fx.input(rules);
  return { ...input, nodes: input.nodes.map((n) => ({ ...n, tags: tags[n.id as NodeName] ?? n.tags ?? [] })) };
}

/** The `policy.selectors.*` tests, in run order. */
export const selectorsTests: T[] = [
  {
    id: 'policy.selectors.tag-several-nodes',
    title:
      'a tag carried by b and c (`tag:fleet`) in src selects both: each reaches a on tcp/9000 and udp/5002; flows no rule names stay dropped',
    deadlineMs: 30_000,
    async run(t, fx) {
      const tags = { a: ['server'], b: ['ops', 'fleet'], c: ['dev', 'fleet'] };
      await applyInput(t, fx, await inputWithTags(fx, FLEET_RULES, tags), 'tag:fleet rules (b and c carry fleet)');
      await expectFlows(
        t,
        fx,
        [
          flow('b', 'tcp', 9000, 'accept'),
          flow('c', 'tcp', 9000, 'accept'),
          flow('b', 'udp', 5002, 'accept'),
          flow('c', 'udp', 5002, 'accept'),
          flow('b', 'tcp', 22, 'drop'),
          flow('c', 'udp', 5000, 'drop'),
        ],
        'tag:fleet selects b and c',
      );
    },
  },
  {
    id: 'policy.selectors.node-set-change',
    title:
      'the same rules applied again with another node set are resolved again: when `tag:fleet` moves from b to c, c gets through and b is dropped; when c leaves the netmap, its address is dropped',
    deadlineMs: 40_000,
    async run(t, fx) {
      await applyInput(t, fx, await inputWithTags(fx, FLEET_RULES, { b: ['ops', 'fleet'], c: ['dev'] }), 'tag:fleet on b');
      await expectFlows(t, fx, [flow('b', 'tcp', 9000, 'accept'), flow('c', 'tcp', 9000, 'drop')], 'fleet = {b}');
      await applyInput(t, fx, await inputWithTags(fx, FLEET_RULES, { b: ['ops'], c: ['dev', 'fleet'] }), 'the same rules, tag:fleet on c');
      await expectFlows(t, fx, [flow('b', 'tcp', 9000, 'drop'), flow('c', 'tcp', 9000, 'accept')], 'fleet = {c}');
      const both = await inputWithTags(fx, FLEET_RULES, { b: ['ops', 'fleet'], c: ['dev', 'fleet'] });
      await applyInput(t, fx, both, 'the same rules, tag:fleet on b and c');
      await expectFlows(t, fx, [flow('b', 'udp', 5002, 'accept'), flow('c', 'udp', 5002, 'accept')], 'fleet = {b, c}');
      await applyInput(t, fx, { ...both, nodes: both.nodes.filter((n) => n.id !== 'c') }, 'the same rules, c left the netmap');
      await expectFlows(t, fx, [flow('b', 'udp', 5002, 'accept'), flow('c', 'udp', 5002, 'drop')], 'c left the netmap');
    },
  },
];
