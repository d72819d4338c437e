import type { BackendPlugin, DnsPlugin, Logger, Netmap, NodeId, PeerPath, PolicyPlugin } from '@rustynet/plugin-api';
import type { DaemonHooks } from '../hooks/daemon-hooks.js';
import { applyPlan, type ApplyStep } from './apply.js';
import { computeDesiredState, createPeerKeyValidator, validatePeerKeys, type PeerKeyValidator, type RouteCapabilities, type SkippedPrefix } from './desired-state.js';
import { emptyActualState, type ActualState } from './diff.js';
import { buildPlan, dnsZoneFrom, isEmptyPlan, policyInputFrom, type FullDesiredState, type Plan } from './plan.js';

/** Options of {@link Reconciler}. */
export interface ReconcilerOptions {
  backend: Pick<BackendPlugin, 'applyPeers' | 'applyRoutes'>;
  /** From the backend manifest: protocol id and `peerKeySchema`. */
  backendProtocol: string;
  peerKeySchema: Record<string, unknown>;
  policy?: Pick<PolicyPlugin, 'apply'>;
  dns?: Pick<DnsPlugin, 'update'>;
  /** Endpoint waterfall (`resolvePeerEndpoint`). */
  hooks?: Pick<DaemonHooks, 'runResolvePeerEndpoint'>;
  /** Path-controller seam: the path currently chosen for a peer. */
  pathFor?: (peer: NodeId) => PeerPath;
  persistentKeepalive?: number;
  /** Backend capabilities deciding which prefixes are asked for (see `computeDesiredState`). */
  capabilities?: RouteCapabilities;
  callTimeoutMs?: number;
  logger?: Logger;
}

/** Result of {@link Reconciler.reconcile}. */
export interface ReconcileResult {
  plan: Plan;
  steps: ApplyStep[];
  /** True when nothing needed to change (zero calls were made). */
  noop: boolean;
}

/**
 * Drives the node towards a netmap: desired state -> diff against what it applied -> one plan ->
 * apply with rollback. Keeps the actual state; a re-apply of the same netmap makes no calls.
 */
export class Reconciler {
  private state: ActualState = emptyActualState();
  private dirty = false;
  /** Prefixes left out of the last plan for lack of a backend capability. */
  lastSkipped: SkippedPrefix[] = [];
  private readonly validateKey: PeerKeyValidator;

  /** @throws RustynetError `MANIFEST_INVALID` when `peerKeySchema` does not compile. */
  constructor(private readonly opts: ReconcilerOptions) {
    this.validateKey = createPeerKeyValidator(opts.peerKeySchema);
  }

  /** What has been applied. */
  get actual(): Readonly<ActualState> {
    return this.state;
  }

  /** Forgets the applied state (the backend was restarted and is empty). */
  reset(): void {
    this.state = emptyActualState();
    this.dirty = false;
  }

  /**
   * Validates every peer's key material against the backend's `peerKeySchema`. Changes nothing.
   * @throws RustynetError `INVALID_INPUT` (`nodes[i].keys.<protocol>`).
   */
  validate(netmap: Netmap, self: NodeId): void {
    validatePeerKeys(netmap, self, this.opts.backendProtocol, this.validateKey);
  }

  /**
   * Computes the desired state (validating every peer key first) and the plan against the
   * applied state. Changes nothing.
   * @throws RustynetError `INVALID_INPUT` (`nodes[i].keys.<protocol>`).
   */
  async plan(netmap: Netmap, self: NodeId, interfaces: readonly string[] = []): Promise<Plan> {
    const resolve = this.opts.hooks;
    const base = await computeDesiredState({
      netmap,
      selfId: self,
      protocol: this.opts.backendProtocol,
      validateKey: this.validateKey,
      ...(resolve && { resolveEndpoint: (ep, ctx) => resolve.runResolvePeerEndpoint(ep, ctx) }),
      ...(this.opts.pathFor && { pathFor: this.opts.pathFor }),
      ...(this.opts.persistentKeepalive !== undefined && { persistentKeepalive: this.opts.persistentKeepalive }),
      ...(this.opts.capabilities && { capabilities: this.opts.capabilities }),
    });
    this.lastSkipped = base.skipped ?? [];
    if (this.lastSkipped.length > 0) {
      this.opts.logger?.info({ skipped: this.lastSkipped.slice(0, 20), count: this.lastSkipped.length }, 'prefixes left out: the backend does not claim the capability');
    }
    const desired: FullDesiredState = { ...base };
    if (this.opts.policy) desired.policy = policyInputFrom(netmap, self, interfaces);
    if (this.opts.dns) desired.dns = dnsZoneFrom(netmap);
    return buildPlan(this.state, desired, this.dirty);
  }

  /**
   * Applies a plan (see `applyPlan`); on success the applied state advances. After a failed
   * rollback the next plan re-sends everything.
   */
  async apply(plan: Plan): Promise<ApplyStep[]> {
    try {
      const { actual, steps } = await applyPlan(plan, this.state, {
        backend: this.opts.backend,
        ...(this.opts.policy && { policy: this.opts.policy }),
        ...(this.opts.dns && { dns: this.opts.dns }),
        ...(this.opts.callTimeoutMs !== undefined && { callTimeoutMs: this.opts.callTimeoutMs }),
        ...(this.opts.logger && { logger: this.opts.logger }),
      });
      this.state = actual;
      this.dirty = false;
      return steps;
    } catch (err) {
      if ((err as { details?: { rollbackFailed?: boolean } }).details?.rollbackFailed) this.dirty = true;
      throw err;
    }
  }

  /** {@link plan} then {@link apply}; an empty plan makes no calls. */
  async reconcile(netmap: Netmap, self: NodeId, interfaces: readonly string[] = []): Promise<ReconcileResult> {
    const plan = await this.plan(netmap, self, interfaces);
    if (isEmptyPlan(plan)) return { plan, steps: [], noop: true };
    const steps = await this.apply(plan);
    return { plan, steps, noop: false };
  }
}
