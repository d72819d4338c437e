import {
  RustynetError,
  type Endpoint,
  type JsonSchema,
  type Netmap,
  type NodeId,
  type PeerConfig,
  type PeerEndpointContext,
  type Route,
} from '@rustynet/plugin-api';
import { createAjv, formatAjvErrors } from '../util/ajv.js';
import { coveringRoutes, type OverlayAddress } from './overlay-routes.js';
import type { PeerPaths } from './plan.js';

/** What the node should look like for one backend: its peers and routes, keyed for O(1) diffing. */
export interface DesiredState {
  /** Peers by node id. */
  peers: Map<NodeId, PeerConfig>;
  /** Routes by {@link routeKey}. */
  routes: Map<string, Route>;
  /** Prefixes left out because the backend does not claim the capability they need. */
  skipped?: SkippedPrefix[];
  /** Default routes left out because their peer is not this node's chosen exit node. */
  excluded?: ExcludedRoute[];
}

/**
 * A default route (`0.0.0.0/0`, `::/0`) a peer advertises that this node does not use: exit
 * nodes are opt-in (`DaemonConfig.exitNode`), so no peer can take over this node's default route
 * by advertising one. Left out of both the routes and the peer's allowed IPs.
 */
export interface ExcludedRoute {
  peer: NodeId;
  prefix: string;
  reason: 'notExitNode';
  /** The configured exit node, or null when none is configured. */
  exitNode: NodeId | null;
}

/** A prefix the reconciler did not ask the backend for, and why. */
export interface SkippedPrefix {
  peer: NodeId;
  prefix: string;
  /** The missing capability: `exitNode` (a /0 route), `lanRoutes` (another route) or `ipv6`. */
  capability: 'exitNode' | 'lanRoutes' | 'ipv6';
}

/**
 * The backend capabilities that decide which prefixes and routes the reconciler asks for.
 * Absent = claimed, except `routesByAllowedIps` (absent = false, as in the manifest).
 */
export interface RouteCapabilities {
  exitNode?: boolean;
  lanRoutes?: boolean;
  ipv6?: boolean;
  /**
   * The backend delivers a route's traffic to the peer whose allowed IPs contain the
   * destination: the peers' overlay addresses get covering routes ({@link coveringRoutes})
   * instead of one host route each. LAN and exit routes stay per peer.
   */
  routesByAllowedIps?: boolean;
}

/** Key of a route in state maps: `<peer> <destination>`. */
export function routeKey(route: Route): string {
  return `${route.peer} ${route.destination}`;
}

/** Validates one peer's opaque key material; returns an error message or `undefined`. */
export type PeerKeyValidator = (value: unknown) => string | undefined;

/**
 * Compiles a backend manifest's `peerKeySchema` (ajv with formats) into a {@link PeerKeyValidator}.
 * @throws RustynetError `MANIFEST_INVALID` when the schema does not compile.
 */
export function createPeerKeyValidator(peerKeySchema: JsonSchema): PeerKeyValidator {
  let validate;
  try {
    validate = createAjv().compile(peerKeySchema);
  } catch (err) {
    throw new RustynetError('MANIFEST_INVALID', `backend peerKeySchema does not compile: ${(err as Error).message}`, {
      field: 'backend.peerKeySchema',
    });
  }
  // Accepted string keys are remembered (bounded), so a new netmap version validates only the
  // keys it adds: every apply checks every peer key, twice (Reconciler.validate, desired state).
  const accepted = new Set<string>();
  return (value) => {
    if (typeof value === 'string' && accepted.has(value)) return undefined;
    if (!validate(value)) return formatAjvErrors(validate.errors);
    if (typeof value === 'string') {
      if (accepted.size >= KEY_CACHE_LIMIT) accepted.clear();
      accepted.add(value);
    }
    return undefined;
  };
}

/** Most accepted key strings a {@link PeerKeyValidator} remembers before it starts over. */
const KEY_CACHE_LIMIT = 65_536;

/**
 * Validates the key material of every node but `selfId` that carries a key for `protocol`. Runs
 * over the whole netmap before anything is applied: one bad key rejects the map (fail closed).
 * @throws RustynetError `INVALID_INPUT` with `field` `nodes[i].keys.<protocol>`.
 */
export function validatePeerKeys(netmap: Netmap, selfId: NodeId, protocol: string, validator: PeerKeyValidator): void {
  const bad: string[] = [];
  let firstField: string | undefined;
  netmap.nodes.forEach((node, i) => {
    if (node.id === selfId || !Object.hasOwn(node.keys, protocol)) return;
    const problem = validator(node.keys[protocol]);
    if (problem !== undefined) {
      const field = `nodes[${i}].keys.${protocol}`;
      firstField ??= field;
      bad.push(`${field} (node ${node.id}): ${problem}`);
    }
  });
  if (bad.length > 0) {
    throw new RustynetError(
      'INVALID_INPUT',
      `netmap rejected: invalid peer key material: ${bad.slice(0, 10).join('; ')}${bad.length > 10 ? ` (+${bad.length - 10} more)` : ''}`,
      {
        ...(firstField !== undefined && { field: firstField }),
        details: { invalid: bad.length },
      },
    );
  }
}

/** Inputs of {@link computeDesiredState}. */
export interface DesiredStateInput {
  netmap: Netmap;
  selfId: NodeId;
  /** The backend's protocol id (`manifest.backend.protocol`). */
  protocol: string;
  /** The backend's key validator; every peer key is checked before any state is computed. */
  validateKey: PeerKeyValidator;
  /** The endpoint waterfall (`hooks.resolvePeerEndpoint`); identity when absent. */
  resolveEndpoint?: (endpoint: Endpoint | undefined, context: PeerEndpointContext) => Promise<Endpoint | undefined>;
  /**
   * Each peer's path, as data (the path controller's snapshot); a peer not listed is `direct`.
   * A relayed peer's `relayEndpoint` replaces the netmap endpoint as the start of the
   * `resolveEndpoint` waterfall, so a re-apply never points a relayed peer back at its
   * (blocked) direct endpoint.
   */
  paths?: PeerPaths;
  /** Keepalive in seconds put on every peer; none when absent or 0. */
  persistentKeepalive?: number;
  /**
   * The backend's capabilities: prefixes it does not claim to carry (default routes without
   * `exitNode`, other routes without `lanRoutes`, IPv6 without `ipv6`) are left out and listed in
   * `skipped`, so one node's exit route cannot make the whole netmap fail on such a backend.
   */
  capabilities?: RouteCapabilities;
  /**
   * The peer this node uses as its exit node. Only its default routes (`0.0.0.0/0`, `::/0`) are
   * kept (in routes and in its allowed IPs, so return traffic from the internet is accepted);
   * every other peer's default routes are left out and listed in `excluded`. Absent: no exit node.
   */
  exitNode?: NodeId;
}

/**
 * Desired state from a verified netmap: every other node with `keys[protocol]` becomes a peer
 * (allowed IPs = addresses + routes; endpoint = first endpoint, or the local relay endpoint
 * while relayed, passed through `resolveEndpoint`), and each allowed IP of each peer becomes a
 * {@link Route}. Default routes count only for the chosen `exitNode`. With the backend's
 * `routesByAllowedIps`, the peers' overlay addresses get covering routes instead (one per
 * summarised block, {@link coveringRoutes}); LAN and exit routes stay one per prefix and peer.
 * @throws RustynetError `INVALID_INPUT` (`nodes[i].keys.<protocol>`) before computing anything.
 */
export async function computeDesiredState(input: DesiredStateInput): Promise<DesiredState> {
  const { netmap, selfId, protocol } = input;
  validatePeerKeys(netmap, selfId, protocol, input.validateKey);
  const peers = new Map<NodeId, PeerConfig>();
  const routes = new Map<string, Route>();
  const skipped: SkippedPrefix[] = [];
  const excluded: ExcludedRoute[] = [];
  const caps = input.capabilities ?? {};
  const byAllowedIps = caps.routesByAllowedIps === true;
  const overlay: OverlayAddress[] = [];
  // The netmap passed the semantic checks, so every prefix is a valid CIDR: the family and
  // whether the length is 0 can be read off the text (no parsing on this per-prefix hot path).
  const keep = (peer: NodeId, prefix: string, isRoute: boolean): boolean => {
    const isDefault = isRoute && prefix.endsWith('/0');
    if (isDefault && peer !== input.exitNode) {
      excluded.push({ peer, prefix, reason: 'notExitNode', exitNode: input.exitNode ?? null });
      return false;
    }
    let capability: SkippedPrefix['capability'] | undefined;
    if (caps.ipv6 === false && prefix.includes(':')) capability = 'ipv6';
    else if (isDefault && caps.exitNode === false) capability = 'exitNode';
    else if (isRoute && !isDefault && caps.lanRoutes === false) capability = 'lanRoutes';
    if (capability) skipped.push({ peer, prefix, capability });
    return capability === undefined;
  };
  for (const node of netmap.nodes) {
    if (node.id === selfId || !Object.hasOwn(node.keys, protocol)) continue;
    const addresses = node.addresses.filter((a) => keep(node.id, a, false));
    const extra = (node.routes ?? []).filter((r) => keep(node.id, r, true));
    const allowedIps = [...addresses, ...extra];
    if (allowedIps.length === 0) continue;
    const info = input.paths?.get(node.id);
    const path = info?.path ?? 'direct';
    const first = (path === 'relay' ? info?.relayEndpoint : undefined) ?? node.endpoints[0];
    const endpoint = input.resolveEndpoint ? await input.resolveEndpoint(first, { peer: node, path }) : first;
    const peer: PeerConfig = { id: node.id, publicKey: node.keys[protocol], allowedIps };
    if (endpoint) peer.endpoint = { host: endpoint.host, port: endpoint.port };
    if (input.persistentKeepalive) peer.persistentKeepalive = input.persistentKeepalive;
    peers.set(node.id, peer);
    if (byAllowedIps) for (const prefix of addresses) overlay.push({ peer: node.id, prefix });
    for (const destination of byAllowedIps ? extra : allowedIps) {
      const route = { destination, peer: node.id };
      routes.set(routeKey(route), route);
    }
  }
  if (byAllowedIps) {
    const { routes: covering, rest } = coveringRoutes(overlay);
    for (const route of covering) routes.set(routeKey(route), route);
    for (const { peer, prefix } of rest) routes.set(routeKey({ destination: prefix, peer }), { destination: prefix, peer });
  }
  return { peers, routes, ...(skipped.length > 0 && { skipped }), ...(excluded.length > 0 && { excluded }) };
}
