import type { KitTest } from '../../define.js';
import { expectFlows, MATRIX_RULES } from '../flows.js';
import type { PolicyFixture } from '../fixture.js';
import { ALLOWED_B_80, DENIED_B_9000 } from './helpers.js';

type T = KitTest<PolicyFixture>;

const SENTINEL = 'rnt_kit_sentinel';

/** The `policy.teardown.*` tests, in run order. */
export const teardownTests: T[] = [
  {
    id: 'policy.teardown.clean',
    title:
      'after use and stop, `nft list ruleset` on a equals the one before start (a foreign table survives), and nothing filters the mesh any more',
    deadlineMs: 30_000,
    async run(t, fx) {
      await fx.protectedNode();
      const host = fx.a.host;
      t.begin('stop the policy on a; add a foreign sentinel table');
      await t.ok('stop', fx.stop(fx.a.plugin));
      await host.exec('nft', ['-f', '-'], {
        input: `table inet ${SENTINEL} {\n chain c { type filter hook input priority 100; policy accept; }\n}\n`,
      });
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
