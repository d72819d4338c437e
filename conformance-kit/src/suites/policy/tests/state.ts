import type { PolicyDecision } from '@rustynet/plugin-api';
import type { KitTest } from '../../define.js';
import { expectFlows, MATRIX_RULES } from '../flows.js';
import type { PolicyFixture } from '../fixture.js';
import { ALLOWED_B_80, applyOnA, DENIED_B_9000 } from './helpers.js';

type T = KitTest<PolicyFixture>;

function counterStateOk(fx: PolicyFixture): Promise<string | string[]> {
  return Promise.resolve(fx.caps.counters ? 'NOT_RUNNING' : ['NOT_RUNNING', 'UNSUPPORTED']);
}

/** The `policy.state.*` tests, in run order. */
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
      const dec = await t.ok(
        'explain before start',
        fresh.call<PolicyDecision>('explain', [input, { src: b.ip4, dst: d.ip4, proto: 'tcp', port: 22 }]),
      );
      t.equal(
        { action: dec.action, ruleId: dec.ruleId },
        { action: 'drop', ruleId: null },
        'explain(b -> d tcp/22): no rule names d, so the default deny decides',
      );
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
