import {
  DEFAULT_CALL_TIMEOUT_MS,
  type BackendPlugin,
  type CallOptions,
  type Endpoint,
  type GatewayInput,
  type Logger,
  type Netmap,
  type NodeId,
  type PolicyInput,
  type PolicyPlugin,
} from '@rustynet/plugin-api';
import { throwIfAborted } from '@rustynet/plugin-kit';
import type { DaemonHooks } from '../hooks/daemon-hooks.js';
import { applyDnsStep, applyPlan, type ApplyStep, type DnsTarget } from './apply.js';
import {
  computeDesiredState,
  createPeerKeyValidator,
  validatePeerKeys,
  type PeerKeyValidator,
  type ExcludedRoute,
  type RouteCapabilities,
  type SkippedPrefix,
} from './desired-state.js';
import { emptyActualState, jsonEqual, type ActualState } from './diff.js';
import { gatewayInputFrom, type GatewaySettings } from './gateway.js';
import { buildPlan, dnsDesiredFrom, isEmptyPlan, policyInputFrom, type FullDesiredState, type PeerPaths, type Plan } from './plan.js';

/** Options of {@link Reconciler}. */
export interface ReconcilerOptions {
  /** The backend; `stats` is needed only to read interfaces with `'backend'` (see {@link InterfacesInput}). */
  backend: Pick<BackendPlugin, 'applyPeers' | 'applyRoutes'> & Partial<Pick<BackendPlugin, 'stats'>>;
  /** From the backend manifest: protocol id and `peerKeySchema`. */
  backendProtocol: string;
  peerKeySchema: Record<string, unknown>;
  policy?: Pick<PolicyPlugin, 'apply'>;
  /** The DNS step's target (the daemon's `DnsController`); the apply's last, best-effort step. */
  dns?: DnsTarget;
  /** Endpoint waterfall (`resolvePeerEndpoint`). */
  hooks?: Pick<DaemonHooks, 'runResolvePeerEndpoint'>;
  /** The peer used as exit node; default routes of other peers are left out. */
  exitNode?: NodeId;
  /**
   * Exit-node duties sent to the policy plugin (`PolicyInput.gateway`, see `gatewayInputFrom`);
   * set only when the policy plugin claims the `gateway` capability.
   */
  gateway?: GatewaySettings;
  persistentKeepalive?: number;
  /** Backend capabilities deciding which prefixes are asked for (see `computeDesiredState`). */
  capabilities?: RouteCapabilities;
  callTimeoutMs?: number;
  /**
   * Fires when the daemon stops: an apply in progress stops at its next step (and inside the
   * plugin call it is in) and is rolled back (see `applyPlan`); nothing is committed.
   */
  signal?: AbortSignal;
  logger?: Logger;
}

/**
 * Reads the backend's current tunnel interfaces. Called once per apply, when the policy step is
 * reached, and only when a policy is configured.
 */
export type InterfaceReader = () => Promise<readonly string[]>;

/**
 * The tunnel interfaces for a policy: a fixed list, a reader called at the policy step, or
 * `'backend'`: the reconciler reads `backend.stats().interfaces` itself at the policy step (the
 * daemon's choice: a backend may create its devices per peer, so they are known only then).
 */
export type InterfacesInput = readonly string[] | InterfaceReader | 'backend';

/** Result of {@link Reconciler.reconcile}. */
export interface ReconcileResult {
  plan: Plan;
  steps: ApplyStep[];
  /** True when nothing needed to change (zero calls were made). */
  noop: boolean;
  /** Peers applied on the backend after this reconcile. */
  peers: number;
  /** The DNS step's outcome: true when DNS serves the plan's zone; undefined without DNS. */
  dns?: boolean;
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
  /** Default routes left out of the last plan because their peer is not the chosen exit node. */
  lastExcluded: ExcludedRoute[] = [];
  private readonly validateKey: PeerKeyValidator;
  /** True while the last interface read found none (logged once per stretch). */
  private waitingForInterface = false;
  /** The backend's tunnel interfaces as last seen (sorted, deduplicated). */
  private seen: string[] = [];

  /** @throws RustynetError `MANIFEST_INVALID` when `peerKeySchema` does not compile. */
  constructor(private readonly opts: ReconcilerOptions) {
    this.validateKey = createPeerKeyValidator(opts.peerKeySchema);
  }

  /** What has been applied. */
  get actual(): Readonly<ActualState> {
    return this.state;
  }

  /**
   * Records that a peer's endpoint was changed outside a plan (the path controller's
   * `updatePeerEndpoint` fast path), so the next plan diffs against what the backend really has.
   * No-op for a peer not applied.
   */
  noteEndpoint(peer: NodeId, endpoint: Endpoint): void {
    const p = this.state.peers.get(peer);
    if (!p) return;
    const peers = new Map(this.state.peers);
    peers.set(peer, { ...p, endpoint: { host: endpoint.host, port: endpoint.port } });
    this.state = { ...this.state, peers };
  }

  /** The backend's tunnel interfaces as last read (sorted, deduplicated; status shows them). */
  get interfaces(): readonly string[] {
    return this.seen;
  }

  /**
   * Records the tunnel interfaces the backend reported, so {@link interfaces} is current; a
   * change is logged unless `quiet` (the first view, at the backend's start). Sorts and
   * deduplicates.
   * @returns the sorted list.
   */
  noteInterfaces(list: readonly string[], quiet = false): string[] {
    const sorted = [...new Set(list)].sort();
    if (!quiet && !jsonEqual(this.seen, sorted))
      this.opts.logger?.info({ from: this.seen, to: sorted }, 'backend tunnel interfaces changed');
    this.seen = sorted;
    return sorted;
  }

  /** Forgets the applied state and the interfaces seen (the backend was restarted and is empty). */
  reset(): void {
    this.state = emptyActualState();
    this.dirty = false;
    this.seen = [];
  }

  private callOpts(): CallOptions {
    return { timeoutMs: this.opts.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS, ...(this.opts.signal && { signal: this.opts.signal }) };
  }

  /** A reader for `interfaces`: `'backend'` becomes one `backend.stats()` call. */
  private reader(interfaces: InterfaceReader | 'backend'): InterfaceReader {
    if (interfaces !== 'backend') return interfaces;
    return async () => {
      const stats = this.opts.backend.stats;
      if (!stats) throw new Error("interfaces 'backend' needs a backend with stats()");
      return (await stats.call(this.opts.backend, this.callOpts())).interfaces;
    };
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
   *
   * `paths` gives each peer's path (and relay endpoint while relayed) as data; a peer not in it
   * is direct.
   *
   * With an {@link InterfaceReader} (or `'backend'`) as `interfaces`, the policy is not planned here: the plan gets
   * `policyAtApply`, which reads the interfaces after peers and routes are applied and yields the
   * policy input when it differs from the applied one. With no interface the policy step is
   * skipped: there is no tunnel device, so there is no mesh traffic to filter; the apply that
   * brings the first interface applies the policy before it succeeds.
   * @throws RustynetError `INVALID_INPUT` (`nodes[i].keys.<protocol>`).
   */
  async plan(netmap: Netmap, self: NodeId, interfaces: InterfacesInput = [], paths?: PeerPaths): Promise<Plan> {
    const resolve = this.opts.hooks;
    const base = await computeDesiredState({
      netmap,
      selfId: self,
      protocol: this.opts.backendProtocol,
      validateKey: this.validateKey,
      ...(resolve && { resolveEndpoint: (ep, ctx) => resolve.runResolvePeerEndpoint(ep, ctx) }),
      ...(paths && { paths }),
      ...(this.opts.exitNode !== undefined && { exitNode: this.opts.exitNode }),
      ...(this.opts.persistentKeepalive !== undefined && { persistentKeepalive: this.opts.persistentKeepalive }),
      ...(this.opts.capabilities && { capabilities: this.opts.capabilities }),
    });
    this.lastSkipped = base.skipped ?? [];
    if (this.lastSkipped.length > 0) {
      this.opts.logger?.info(
        { skipped: this.lastSkipped.slice(0, 20), count: this.lastSkipped.length },
        'prefixes left out: the backend does not claim the capability',
      );
    }
    this.lastExcluded = base.excluded ?? [];
    if (this.lastExcluded.length > 0) {
      this.opts.logger?.info(
        { excluded: this.lastExcluded.slice(0, 20), count: this.lastExcluded.length, exitNode: this.opts.exitNode ?? null },
        'default routes left out (routes and allowed IPs): their peer is not the configured exit node',
      );
    }
    const exit = this.opts.exitNode;
    if (exit !== undefined) {
      const node = netmap.nodes.find((n) => n.id === exit);
      const problem =
        exit === self
          ? 'is this node itself'
          : !node
            ? 'is not in the netmap'
            : !(node.routes ?? []).some((r) => r.endsWith('/0'))
              ? 'advertises no default route'
              : !base.peers.has(exit)
                ? 'is not a peer of this backend'
                : undefined;
      if (problem) this.opts.logger?.warn({ exitNode: exit }, `configured exit node ${problem}: no default route through the mesh`);
    }
    const desired: FullDesiredState = { ...base };
    if (this.opts.policy && typeof interfaces !== 'function' && interfaces !== 'backend')
      desired.policy = policyInputFrom(netmap, self, interfaces, this.gatewayFor(netmap, self));
    const plan = buildPlan(this.state, desired, this.dirty);
    if (this.opts.policy && (typeof interfaces === 'function' || interfaces === 'backend')) {
      const force = this.dirty;
      const read = this.reader(interfaces);
      plan.policyAtApply = () => this.policyFor(netmap, self, read, force);
    }
    if (this.opts.dns) plan.dns = dnsDesiredFrom(netmap, self);
    return plan;
  }

  /**
   * The policy input for the backend's current interfaces (deduplicated, sorted), or `undefined`
   * when there is none yet or the input equals the applied one (unless `force`).
   */
  private async policyFor(netmap: Netmap, self: NodeId, read: InterfaceReader, force: boolean): Promise<PolicyInput | undefined> {
    const interfaces = this.noteInterfaces(await read());
    if (interfaces.length === 0) {
      if (!this.waitingForInterface) {
        this.opts.logger?.info(
          { applied: this.state.policy?.interfaces ?? null },
          'the backend reports no tunnel interface yet: policy not applied (no mesh traffic to filter); it is applied as soon as one appears',
        );
      }
      this.waitingForInterface = true;
      return undefined;
    }
    this.waitingForInterface = false;
    const input = policyInputFrom(netmap, self, interfaces, this.gatewayFor(netmap, self));
    return force || !jsonEqual(this.state.policy, input) ? input : undefined;
  }

  /** The configured exit node (`exitNode`), if any. */
  get exitNode(): NodeId | undefined {
    return this.opts.exitNode;
  }

  /** The gateway input for this node, when the policy plugin handles one (see {@link ReconcilerOptions.gateway}). */
  gatewayFor(netmap: Netmap, self: NodeId): GatewayInput | undefined {
    return this.opts.gateway ? gatewayInputFrom(netmap, self, this.opts.gateway) : undefined;
  }

  /**
   * Re-applies the policy alone when the backend's interfaces changed since it was applied (a
   * backend may add or remove devices outside an apply). Makes no policy call when nothing changed
   * or no interface exists; the policy plugin's atomic update keeps the old policy on failure.
   * @returns true when the policy was applied.
   * @throws RustynetError from the reader or the policy plugin (`POLICY_FAILED`, `NOT_RUNNING`, ...).
   */
  async syncPolicy(netmap: Netmap, self: NodeId, read: InterfaceReader | 'backend'): Promise<boolean> {
    const policy = this.opts.policy;
    if (!policy) return false;
    const input = await this.policyFor(netmap, self, this.reader(read), false);
    if (!input) return false;
    await policy.apply(input, { timeoutMs: this.opts.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS });
    this.state = { ...this.state, policy: input };
    return true;
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
        ...(this.opts.callTimeoutMs !== undefined && { callTimeoutMs: this.opts.callTimeoutMs }),
        ...(this.opts.signal && { signal: this.opts.signal }),
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

  /**
   * {@link plan}, then {@link apply} (the transaction: peers -> routes -> policy, rolled back on
   * failure), then the best-effort DNS step (see `applyDnsStep`), which runs only after the
   * transaction succeeded and never throws. An empty transaction makes no calls. With an
   * {@link InterfaceReader} (or `'backend'`) the interfaces are read once, at the policy step (see
   * {@link plan}); `noop` is then true when no transactional step made a call.
   * @throws RustynetError `INVALID_INPUT` (bad peer key) or the failing step's code (see `applyPlan`).
   */
  async reconcile(netmap: Netmap, self: NodeId, interfaces: InterfacesInput = [], paths?: PeerPaths): Promise<ReconcileResult> {
    const plan = await this.plan(netmap, self, interfaces, paths);
    // Stopping: the plan changed nothing yet, so there is nothing to roll back.
    throwIfAborted(this.opts.signal, 'the apply');
    const steps = isEmptyPlan(plan) ? [] : await this.apply(plan);
    const dns = await applyDnsStep(plan, this.opts.dns);
    return { plan, steps, noop: steps.length === 0, peers: this.state.peers.size, ...(dns !== undefined && { dns }) };
  }
}
