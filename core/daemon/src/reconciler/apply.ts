import {
  DEFAULT_CALL_TIMEOUT_MS,
  RustynetError,
  type BackendPlugin,
  type CallOptions,
  type DnsPlugin,
  type Logger,
  type PolicyInput,
  type PolicyPlugin,
} from '@rustynet/plugin-api';
import { toRustynetError } from '../util/errors.js';
import { routeKey } from './desired-state.js';
import type { ActualState } from './diff.js';
import { invertPeerBatch, invertRouteChange, type Plan } from './plan.js';

/** Where a plan is applied. Only the methods the reconciler calls. */
export interface ApplyTargets {
  backend: Pick<BackendPlugin, 'applyPeers' | 'applyRoutes'>;
  policy?: Pick<PolicyPlugin, 'apply'>;
  dns?: Pick<DnsPlugin, 'update'>;
  /** Deadline of each call in ms (default 30 000). */
  callTimeoutMs?: number;
  logger?: Logger;
}

/** Steps of an apply, in order. */
export type ApplyStep = 'peers' | 'routes' | 'policy' | 'dns';

/** Result of a successful {@link applyPlan}. */
export interface ApplyOutcome {
  /** The new actual state. */
  actual: ActualState;
  /** Steps that made calls, in order. */
  steps: ApplyStep[];
}

interface Step {
  name: ApplyStep;
  /** Runs the step; resolves `false` when it decided at run time that there was nothing to do. */
  run: () => Promise<boolean | void>;
  undo: () => Promise<void>;
}

/**
 * Applies a plan in order backend peers -> routes -> policy -> dns, skipping empty steps (so an
 * empty plan makes no calls). When a step fails, the steps already done are undone in reverse
 * order with their inverse diffs (the failed step changed nothing, per the plugin contracts).
 *
 * A plan with `policyAtApply` computes its policy input when the policy step is reached, i.e.
 * after peers and routes were applied (a backend may create its tunnel devices per peer). When it
 * resolves `undefined` the step is skipped; when it throws, the step fails and peers and routes
 * are rolled back (fail closed: no new peer without its policy).
 *
 * @returns the new actual state.
 * @throws RustynetError with the failing step's code (e.g. `BACKEND_FAILED`, `POLICY_FAILED`);
 *   `details.step` names the step, `details.rolledBack` the undone steps, and
 *   `details.rollbackFailed` is true when an undo failed too (state then unknown: resync).
 */
export async function applyPlan(plan: Plan, actual: ActualState, targets: ApplyTargets): Promise<ApplyOutcome> {
  const opts = (): CallOptions => ({ timeoutMs: targets.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS });
  const steps: Step[] = [];
  if (plan.peers.upsert.length > 0 || plan.peers.remove.length > 0) {
    const inverse = invertPeerBatch(plan.peers, actual.peers);
    steps.push({
      name: 'peers',
      run: () => targets.backend.applyPeers(plan.peers, opts()),
      undo: () => targets.backend.applyPeers(inverse, opts()),
    });
  }
  if (plan.routes.add.length > 0 || plan.routes.remove.length > 0) {
    steps.push({
      name: 'routes',
      run: () => targets.backend.applyRoutes(plan.routes, opts()),
      undo: () => targets.backend.applyRoutes(invertRouteChange(plan.routes), opts()),
    });
  }
  let appliedPolicy: PolicyInput | undefined;
  if ((plan.policy || plan.policyAtApply) && targets.policy) {
    const policy = targets.policy;
    const atApply = plan.policyAtApply;
    const planned = plan.policy;
    steps.push({
      name: 'policy',
      run: async () => {
        const input = atApply ? await atApply() : planned;
        if (!input) return false;
        await policy.apply(input, opts());
        appliedPolicy = input;
        return true;
      },
      undo: () => policy.apply(actual.policy ?? { ...appliedPolicy!, acl: { rules: [] } }, opts()),
    });
  }
  if (plan.dns && targets.dns) {
    const dns = targets.dns;
    const zone = plan.dns;
    const previous = actual.dns ?? { zone: zone.zone, nodes: [] };
    steps.push({ name: 'dns', run: () => dns.update(zone, opts()), undo: () => dns.update(previous, opts()) });
  }

  const done: Step[] = [];
  for (const step of steps) {
    try {
      if ((await step.run()) !== false) done.push(step);
    } catch (err) {
      const cause = toRustynetError(err, 'INTERNAL');
      const rolledBack: ApplyStep[] = [];
      let rollbackFailed = false;
      for (const prev of [...done].reverse()) {
        try {
          await prev.undo();
          rolledBack.push(prev.name);
        } catch (undoErr) {
          rollbackFailed = true;
          targets.logger?.error({ step: prev.name, err: toRustynetError(undoErr).message }, 'rollback step failed');
        }
      }
      throw new RustynetError(cause.code, `apply failed at step ${step.name}: ${cause.message}`, {
        cause,
        ...(cause.field !== undefined && { field: cause.field }),
        ...(cause.plugin !== undefined && { plugin: cause.plugin }),
        details: { ...cause.details, step: step.name, rolledBack, rollbackFailed },
      });
    }
  }

  const next: ActualState = { peers: new Map(actual.peers), routes: new Map(actual.routes) };
  for (const id of plan.peers.remove) next.peers.delete(id);
  for (const p of plan.peers.upsert) next.peers.set(p.id, p);
  for (const r of plan.routes.remove) next.routes.delete(routeKey(r));
  for (const r of plan.routes.add) next.routes.set(routeKey(r), r);
  const policy = appliedPolicy ?? actual.policy;
  const dns = plan.dns && targets.dns ? plan.dns : actual.dns;
  if (policy) next.policy = policy;
  if (dns) next.dns = dns;
  return { actual: next, steps: done.map((s) => s.name) };
}
