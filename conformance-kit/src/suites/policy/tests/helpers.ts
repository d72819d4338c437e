/** Helpers shared by several areas of the suite. */
import type { AclRule, PolicyInput } from '@rustynet/plugin-api';
import type { StepContext } from '../../step-context.js';
import type { Flow } from '../flows.js';
import type { PolicyFixture } from '../fixture.js';

/** Ensures the protected node a runs the policy and applies `rules` on it (step `apply <what> on a`). */
export async function applyOnA(t: StepContext, fx: PolicyFixture, rules: AclRule[], what: string): Promise<void> {
  await fx.protectedNode();
  t.begin(`apply ${what} on a`);
  await t.ok(`apply(${what})`, fx.apply(fx.a.plugin, await fx.input(rules)));
}

/** b -> a tcp/9000: dropped by the MATRIX_RULES rule `b-rest`. */
export const DENIED_B_9000: Flow = { from: 'b', proto: 'tcp', port: 9000, action: 'drop', ruleId: 'b-rest' };
/** b -> a tcp/80: accepted by the MATRIX_RULES rule `web`. */
export const ALLOWED_B_80: Flow = { from: 'b', proto: 'tcp', port: 80, action: 'accept', ruleId: 'web' };

/** A probe of `from` -> a `proto`/`port` expected to be `action`ed (no rule id: explain is not checked). */
export const flow = (from: 'b' | 'c', proto: 'tcp' | 'udp', port: number, action: 'accept' | 'drop'): Flow => ({
  from,
  proto,
  port,
  action,
  ruleId: null,
});

/** Applies `input` on a (step `apply <what> on a`). */
export async function applyInput(t: StepContext, fx: PolicyFixture, input: PolicyInput, what: string): Promise<void> {
  await fx.protectedNode();
  t.begin(`apply ${what} on a`);
  await t.ok(`apply(${what})`, fx.apply(fx.a.plugin, input));
}
