import type { KitTest } from '../../define.js';
import { MATRIX_RULES, probe, type Flow } from '../flows.js';
import type { PolicyFixture } from '../fixture.js';
import { applyOnA } from './helpers.js';

type T = KitTest<PolicyFixture>;

/** The `policy.counters.*` tests, in run order. */
export const countersTests: T[] = [
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
      t.check(
        missing.length === 0,
        'counters() does not list every rule id',
        ids,
        c0.map((c) => c.ruleId),
      );
      t.begin('5 new UDP flows b -> a:5000 (rule udp-range) and one TCP flow b -> a:8443 (rule no-b-8443, drop)');
      const udp: Flow = { from: 'b', proto: 'udp', port: 5000, action: 'accept', ruleId: 'udp-range' };
      const got = await Promise.all([
        ...Array.from({ length: 5 }, () => probe(fx, udp)),
        probe(fx, { from: 'b', proto: 'tcp', port: 8443, action: 'drop', ruleId: 'no-b-8443' }),
      ]);
      t.check(
        got.slice(0, 5).every(Boolean) && !got[5],
        'the probes did not behave as the rules say',
        [true, true, true, true, true, false],
        got,
      );
      t.begin('counters() after the traffic');
      const c1 = await t.ok('counters()', fx.counters(fx.a.plugin));
      const delta = (id: string): { packets: number; bytes: number } => {
        const x = c1.find((c) => c.ruleId === id);
        const y = c0.find((c) => c.ruleId === id);
        return { packets: (x?.packets ?? 0) - (y?.packets ?? 0), bytes: (x?.bytes ?? 0) - (y?.bytes ?? 0) };
      };
      const d = { 'udp-range': delta('udp-range'), 'no-b-8443': delta('no-b-8443'), ssh: delta('ssh') };
      t.check(
        d['udp-range'].packets >= 5 && d['udp-range'].bytes > 0,
        'the accept rule udp-range did not count the 5 new flows',
        'packets >= 5, bytes > 0',
        d['udp-range'],
      );
      t.check(
        d['no-b-8443'].packets >= 1 && d['no-b-8443'].bytes > 0,
        'the drop rule no-b-8443 did not count the dropped SYN(s)',
        'packets >= 1, bytes > 0',
        d['no-b-8443'],
      );
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
