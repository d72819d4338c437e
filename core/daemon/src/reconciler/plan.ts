import type { DnsZoneData, Netmap, NodeId, PeerBatch, PeerConfig, PolicyInput, RouteChange } from '@rustynet/plugin-api';
import { cidrAddress } from '../util/ip.js';
import type { DesiredState } from './desired-state.js';
import { diffPeers, diffRoutes, jsonEqual, type ActualState } from './diff.js';

/**
 * One reconciliation step's changes, applied in order backend peers -> routes -> policy -> dns.
 * `policy` / `dns` are present only when they differ from what is applied.
 */
export interface Plan {
  peers: PeerBatch;
  routes: RouteChange;
  policy?: PolicyInput;
  /**
   * Set instead of `policy` when the policy's tunnel interfaces are known only once peers and
   * routes are applied (see `Reconciler.reconcile`): computes the input at the policy step, or
   * resolves `undefined` when there is nothing to apply (unchanged, or no tunnel interface yet).
   */
  policyAtApply?: () => Promise<PolicyInput | undefined>;
  dns?: DnsZoneData;
}

/** Desired state including the optional policy and DNS inputs. */
export interface FullDesiredState extends DesiredState {
  policy?: PolicyInput;
  dns?: DnsZoneData;
}

/** The policy plugin's input for this node (`acl` defaults to no rules: deny). */
export function policyInputFrom(netmap: Netmap, self: NodeId, interfaces: readonly string[]): PolicyInput {
  return {
    self,
    nodes: netmap.nodes.map((n) => ({ id: n.id, addresses: [...n.addresses], ...(n.tags && { tags: [...n.tags] }) })),
    acl: netmap.acl ?? { rules: [] },
    interfaces: [...interfaces],
  };
}

/** Zone data for the DNS plugin: zone `netmap.dns.zone` (default `rustynet`), names default to ids, bare addresses. */
export function dnsZoneFrom(netmap: Netmap): DnsZoneData {
  return {
    zone: netmap.dns?.zone ?? 'rustynet',
    nodes: netmap.nodes.map((n) => ({ id: n.id, name: n.name ?? n.id, addresses: n.addresses.map(cidrAddress) })),
  };
}

/** Diffs desired against actual into a {@link Plan}. `force` upserts every peer and re-sends policy and dns. */
export function buildPlan(actual: ActualState, desired: FullDesiredState, force = false): Plan {
  const plan: Plan = { peers: diffPeers(actual.peers, desired.peers, force), routes: diffRoutes(actual.routes, desired.routes) };
  if (desired.policy && (force || !jsonEqual(actual.policy, desired.policy))) plan.policy = desired.policy;
  if (desired.dns && (force || !jsonEqual(actual.dns, desired.dns))) plan.dns = desired.dns;
  return plan;
}

/** True when a plan changes nothing (re-applying the same netmap). */
export function isEmptyPlan(plan: Plan): boolean {
  return (
    plan.peers.upsert.length === 0 &&
    plan.peers.remove.length === 0 &&
    plan.routes.add.length === 0 &&
    plan.routes.remove.length === 0 &&
    plan.policy === undefined &&
    plan.policyAtApply === undefined &&
    plan.dns === undefined
  );
}

/** The batch that undoes `batch` given the peers applied before it. */
export function invertPeerBatch(batch: PeerBatch, before: ReadonlyMap<NodeId, PeerConfig>): PeerBatch {
  const upsert: PeerConfig[] = [];
  const remove: NodeId[] = [];
  for (const p of batch.upsert) {
    const old = before.get(p.id);
    if (old) upsert.push(old);
    else remove.push(p.id);
  }
  for (const id of batch.remove) {
    const old = before.get(id);
    if (old) upsert.push(old);
  }
  return { upsert, remove };
}

/** The route change that undoes `change`. */
export function invertRouteChange(change: RouteChange): RouteChange {
  return { add: [...change.remove], remove: [...change.add] };
}
