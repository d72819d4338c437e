import type {
  DnsZoneData,
  Endpoint,
  GatewayInput,
  Netmap,
  NodeId,
  PeerBatch,
  PeerConfig,
  PeerPath,
  PolicyInput,
  RouteChange,
} from '@rustynet/plugin-api';
import { cidrAddress } from '../util/ip.js';
import type { DesiredState } from './desired-state.js';
import { diffPeers, diffRoutes, jsonEqual, type ActualState } from './diff.js';

/**
 * The path of one peer, as data for the desired state: the path controller's choice and, while
 * relayed, the local relay endpoint that replaces the netmap endpoint.
 */
export interface PeerPathInfo {
  path: PeerPath;
  /** The local relay endpoint (`127.0.0.1:<port>`), only while `path` is `relay`. */
  relayEndpoint?: Endpoint;
}

/** Each peer's path by node id; a peer not listed is `direct`. */
export type PeerPaths = ReadonlyMap<NodeId, PeerPathInfo>;

/**
 * What DNS should serve, as data: the node's own mesh addresses (netmap order, CIDR or bare;
 * the DNS plugin listens on those assigned in the namespace) and the zone.
 */
export interface DnsDesired {
  addresses: string[];
  zone: DnsZoneData;
}

/**
 * One reconciliation step's changes, applied in order backend peers -> routes -> policy (one
 * transaction, rolled back in reverse on failure) -> dns (best effort, never rolls back).
 * `policy` is present only when it differs from what is applied; `dns` whenever a DNS target is
 * configured (the DNS step itself makes no call when DNS already serves it).
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
  dns?: DnsDesired;
}

/** Desired state including the optional policy input. */
export interface FullDesiredState extends DesiredState {
  policy?: PolicyInput;
}

/** The policy plugin's input for this node (`acl` defaults to no rules: deny; `gateway` when given). */
export function policyInputFrom(netmap: Netmap, self: NodeId, interfaces: readonly string[], gateway?: GatewayInput): PolicyInput {
  return {
    self,
    nodes: netmap.nodes.map((n) => ({ id: n.id, addresses: [...n.addresses], ...(n.tags && { tags: [...n.tags] }) })),
    acl: netmap.acl ?? { rules: [] },
    interfaces: [...interfaces],
    ...(gateway && { gateway }),
  };
}

/** Zone data for the DNS plugin: zone `netmap.dns.zone` (default `rustynet`), names default to ids, bare addresses. */
export function dnsZoneFrom(netmap: Netmap): DnsZoneData {
  return {
    zone: netmap.dns?.zone ?? 'rustynet',
    nodes: netmap.nodes.map((n) => ({ id: n.id, name: n.name ?? n.id, addresses: n.addresses.map(cidrAddress) })),
  };
}

/** The DNS step's data for this node: its netmap addresses and {@link dnsZoneFrom}. */
export function dnsDesiredFrom(netmap: Netmap, self: NodeId): DnsDesired {
  return { addresses: [...(netmap.nodes.find((n) => n.id === self)?.addresses ?? [])], zone: dnsZoneFrom(netmap) };
}

/** Diffs desired against actual into a {@link Plan}. `force` upserts every peer and re-sends the policy. */
export function buildPlan(actual: ActualState, desired: FullDesiredState, force = false): Plan {
  const plan: Plan = { peers: diffPeers(actual.peers, desired.peers, force), routes: diffRoutes(actual.routes, desired.routes) };
  if (desired.policy && (force || !jsonEqual(actual.policy, desired.policy))) plan.policy = desired.policy;
  return plan;
}

/**
 * True when a plan's transaction changes nothing (re-applying the same netmap). The best-effort
 * DNS step is not part of it: it runs anyway and makes no call when DNS is in sync.
 */
export function isEmptyPlan(plan: Plan): boolean {
  return (
    plan.peers.upsert.length === 0 &&
    plan.peers.remove.length === 0 &&
    plan.routes.add.length === 0 &&
    plan.routes.remove.length === 0 &&
    plan.policy === undefined &&
    plan.policyAtApply === undefined
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
