import type { AclRule } from '@rustynet/plugin-api';
import type { KitTest } from '../../define.js';
import { expectFlows, MATRIX_RULES, MATRIX_V4 } from '../flows.js';
import type { PolicyFixture } from '../fixture.js';
import { applyOnA } from './helpers.js';

type T = KitTest<PolicyFixture>;

interface BadCase {
  what: string;
  rule: Record<string, unknown>;
  field: RegExp;
}

/** Invalid second rules (the first, valid one would open everything if applied). */
const BAD_CASES: BadCase[] = [
  {
    what: 'port 70000',
    rule: { id: 'bad', action: 'accept', src: ['b'], dst: ['a'], proto: 'tcp', ports: [80, 70000] },
    field: /^acl\.rules\[1\]\.ports\[1\]$/,
  },
  {
    what: 'unknown node in src',
    rule: { id: 'bad', action: 'accept', src: ['nobody'], dst: ['a'], proto: 'tcp', ports: [80] },
    field: /^acl\.rules\[1\]\.src\[0\]$/,
  },
  {
    what: 'ports with icmp',
    rule: { id: 'bad', action: 'accept', src: ['b'], dst: ['a'], proto: 'icmp', ports: [22] },
    field: /^acl\.rules\[1\]\.ports$/,
  },
  {
    what: 'unknown proto',
    rule: { id: 'bad', action: 'accept', src: ['b'], dst: ['a'], proto: 'sctp' },
    field: /^acl\.rules\[1\]\.proto$/,
  },
];

const OPEN_ALL: AclRule = { id: 'open-all', action: 'accept', src: ['*'], dst: ['*'], proto: 'any' };

/** The `policy.bad-input.*` tests, in run order. */
export const badInputTests: T[] = [
  {
    id: 'policy.bad-input.rejected-unchanged',
    title:
      'an invalid policy (port 70000, unknown node, ports with icmp, bad proto) -> INVALID_INPUT naming the field from validate and apply; ruleset and traffic unchanged',
    deadlineMs: 30_000,
    async run(t, fx) {
      await applyOnA(t, fx, MATRIX_RULES, 'the matrix ACL');
      t.begin('snapshot nft -s list ruleset on a');
      const before = await fx.ruleset(fx.a.host);
      for (const c of BAD_CASES) {
        const input = await fx.input<unknown>([OPEN_ALL, c.rule]);
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
