import {
  DEFAULT_CALL_TIMEOUT_MS,
  RustynetError,
  type BackendPlugin,
  type CallOptions,
  type Logger,
  type PolicyInput,
  type PolicyPlugin,
} from '@rustynet/plugin-api';
import { throwIfAborted } from '@rustynet/plugin-kit';
import { toRustynetError } from '../util/errors.js';
import { routeKey } from './desired-state.js';
import type { ActualState } from './diff.js';
import { invertPeerBatch, invertRouteChange, type DnsDesired, type Plan } from './plan.js';

/**
 * The DNS step's target (the daemon's `DnsController`): takes the desired addresses and zone and
 * brings the DNS plugin in line. `sync` never throws: a failure is logged, counted, kept for
 * status and retried by the next sync.
 */
export interface DnsTarget {
  setDesired(meshAddresses: readonly string[], zone: DnsDesired['zone']): void;
  /** @returns true when DNS serves what is desired. */
  sync(): Promise<boolean>;
}

/** Where a plan's transaction is applied. Only the methods the reconciler calls. */
export interface ApplyTargets {
  backend: Pick<BackendPlugin, 'applyPeers' | 'applyRoutes'>;
  policy?: Pick<PolicyPlugin, 'apply'>;
  /** Deadline of each call in ms (default 30 000). */
  callTimeoutMs?: number;
  /**
   * Aborts the transaction (daemon stopping): checked before each step and passed to each step's
   * plugin call; the steps already done are then undone without it, under
   * {@link ABORTED_UNDO_TIMEOUT_MS}.
   */
  signal?: AbortSignal;
  logger?: Logger;
}

/** Deadline of each undo call once the transaction's signal fired (the daemon is stopping), ms. */
export const ABORTED_UNDO_TIMEOUT_MS = 2_000;

/** Steps of an apply's transaction, in order (the best-effort DNS step follows them). */
export type ApplyStep = 'peers' | 'routes' | 'policy';

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
  run: () => Promise<unknown>;
  undo: () => Promise<void>;
}

/**
 * Applies a plan's transaction in order backend peers -> routes -> policy, skipping empty steps (so an
 * empty plan makes no calls). With `targets.signal` aborted, the transaction stops at its next step
 * (or inside the running step's plugin call) and is rolled back like a failure (`ABORTED`). When a step fails, the steps already done are undone in reverse
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
  const timeoutMs = targets.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
  const signal = targets.signal;
  const opts = (): CallOptions => ({ timeoutMs, ...(signal && { signal }) });
  // Undo never takes the signal (a rollback must not be cut short by it), only a shorter deadline.
  const undoOpts = (): CallOptions => ({ timeoutMs: signal?.aborted ? Math.min(timeoutMs, ABORTED_UNDO_TIMEOUT_MS) : timeoutMs });
  const steps: Step[] = [];
  if (plan.peers.upsert.length > 0 || plan.peers.remove.length > 0) {
    const inverse = invertPeerBatch(plan.peers, actual.peers);
    steps.push({
      name: 'peers',
      run: () => targets.backend.applyPeers(plan.peers, opts()),
      undo: () => targets.backend.applyPeers(inverse, undoOpts()),
    });
  }
  if (plan.routes.add.length > 0 || plan.routes.remove.length > 0) {
    steps.push({
      name: 'routes',
      run: () => targets.backend.applyRoutes(plan.routes, opts()),
      undo: () => targets.backend.applyRoutes(invertRouteChange(plan.routes), undoOpts()),
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
      undo: async () => {
        const undo = actual.policy ?? (appliedPolicy && { ...appliedPolicy, acl: { rules: [] } });
        if (undo) await policy.apply(undo, undoOpts());
      },
    });
  }

  const done: Step[] = [];
  for (const step of steps) {
    try {
      throwIfAborted(signal, `the apply (before step ${step.name})`);
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
  if (policy) next.policy = policy;
  return { actual: next, steps: done.map((s) => s.name) };
}

/**
 * The apply's last step: points DNS at the plan's addresses and zone and syncs it. Best effort:
 * DNS is not a security boundary, so its failure never rolls back peers, routes or policy and
 * never fails the apply; the target keeps the failure for status and the daemon retries it
 * between cycles (`DataPlane.syncDrift`).
 * @returns true when DNS serves the plan's zone on the wanted listeners; undefined without DNS.
 */
export async function applyDnsStep(plan: Plan, dns: DnsTarget | undefined): Promise<boolean | undefined> {
  if (!dns || !plan.dns) return undefined;
  dns.setDesired(plan.dns.addresses, plan.dns.zone);
  return dns.sync();
}
