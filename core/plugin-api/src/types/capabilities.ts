/**
 * Capabilities a plugin declares in its manifest and reports at run time. The two must agree:
 * the conformance kit checks it. Tests gated on a capability the plugin does not claim are
 * reported SKIPPED with the reason; a skip never counts as a pass.
 */
export interface BackendCapabilities {
  /** A peer's endpoint can change while traffic flows (`updatePeerEndpoint`). */
  roaming: boolean;
  /** IPv6 overlay addresses and allowed IPs. */
  ipv6: boolean;
  /** Routes to `0.0.0.0/0` or `::/0` through a peer. */
  exitNode: boolean;
  /** Routes to non-overlay prefixes (LAN routes) through a peer. */
  lanRoutes: boolean;
  /** Peers carried over UDP to an endpoint, so a relay can stand in for the endpoint. */
  udpTransport: boolean;
  /** `stats()` reports per-peer handshake times. */
  handshakeStats: boolean;
  /** Largest number of peers supported. */
  maxPeers: number;
  /** Allowed IPs of a peer can be changed without a reconnect. */
  allowedIpsUpdate: boolean;
  /**
   * The backend runs one long-lived process per peer (API 1.0 addition, optional; absent means
   * false). Control commands stay batched either way: the conformance kit holds `run` calls of a
   * batch to a small constant, and allows one `spawn` per peer only to backends claiming this.
   */
  processPerPeer?: boolean;
  /**
   * The backend honours `PeerConfig.persistentKeepalive`: with it set to n seconds it sends a
   * packet on the underlay to the idle peer's endpoint at least every n seconds, and without it
   * the idle peer gets (almost) none (API 1.0 addition, optional). **Absent means true**:
   * `persistentKeepalive` has been part of `PeerConfig` since API 1.0, so manifests written
   * before this capability existed keep claiming it implicitly. A backend that cannot send
   * keepalives declares `false`; it must then ignore the field (never fail the batch for it),
   * and the conformance kit skips `backend.changes.keepalive` with the reason.
   */
  persistentKeepalive?: boolean;
  /**
   * The backend routes by allowed IPs itself (API 1.0 addition, optional; **absent means
   * false**, so manifests written before it keep their meaning). Claiming it promises: traffic
   * sent into a route this backend installed reaches the peer whose allowed IPs contain the
   * packet's destination, whatever peer the `Route` names (cryptokey routing on one device).
   * The daemon then installs covering routes for the peers' overlay
   * addresses (the fewest prefixes covering exactly those addresses, each naming one peer inside
   * it) instead of one host route per address; LAN and exit routes stay one per prefix and peer.
   * A backend that picks the tunnel by `Route.peer` (one device per peer) must not claim it:
   * the conformance kit's `backend.routes.by-allowed-ips` sends traffic to every peer
   * with only a covering route naming one of them installed.
   */
  routesByAllowedIps?: boolean;
  /**
   * The longest time, in whole seconds, the backend needs to carry traffic with a peer again
   * after that peer's tunnel restarts (its backend is stopped and started, killed and restarted),
   * after the peer is removed and added back, or after its key changes (API 1.0 addition,
   * optional). **Absent means the kit's default**: traffic within a few pings (about 3–5 s), as a
   * backend that handshakes at once gives. A protocol that holds back a new session for a while
   * (one that refuses a new handshake with a peer for 15 s after the last) declares its honest
   * bound; 1 to {@link SESSION_REESTABLISH_MAX_SECONDS}, a larger value makes
   * the manifest invalid (`MANIFEST_INVALID` naming `capabilities.sessionReestablishSeconds`).
   * The conformance kit waits up to this long only where a session must be re-established, never
   * in isolation, spoofing, secrets or bad-input tests, and records the value in its reports.
   */
  sessionReestablishSeconds?: number;
}

/** Hard upper bound of {@link BackendCapabilities.sessionReestablishSeconds}, in seconds. */
export const SESSION_REESTABLISH_MAX_SECONDS = 60;

/**
 * The declared session re-establishment bound of a backend in seconds
 * ({@link BackendCapabilities.sessionReestablishSeconds}), or `undefined` when it declares none
 * (the kit's default applies).
 */
export function declaredSessionReestablishSeconds(caps: Partial<BackendCapabilities>): number | undefined {
  const v = caps.sessionReestablishSeconds;
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : undefined;
}

/**
 * Whether a backend claims persistent keepalive: its `persistentKeepalive` capability, true when
 * absent (see {@link BackendCapabilities.persistentKeepalive}).
 */
export function claimsPersistentKeepalive(caps: Partial<BackendCapabilities>): boolean {
  return caps.persistentKeepalive !== false;
}

/**
 * Whether a backend claims to route by allowed IPs: its `routesByAllowedIps` capability, false
 * when absent (see {@link BackendCapabilities.routesByAllowedIps}).
 */
export function claimsRoutesByAllowedIps(caps: Partial<BackendCapabilities>): boolean {
  return caps.routesByAllowedIps === true;
}

/** Capabilities of a policy plugin. */
export interface PolicyCapabilities {
  /** Enforces the ACL on IPv6 traffic too. */
  ipv6: boolean;
  /** Per-rule packet/byte counters. */
  counters: boolean;
  /** Updates replace the ruleset atomically (no open window). */
  atomicUpdate: boolean;
  /**
   * Honours `PolicyInput.gateway`: exit-node forwarding and NAT, and the client's kill switch
   * (API 1.0 addition, optional; absent means false, and the daemon then never sends `gateway`).
   */
  gateway?: boolean;
}

/** Capabilities of a DNS plugin. */
export interface DnsCapabilities {
  /** Answers AAAA queries with IPv6 overlay addresses. */
  aaaa: boolean;
  /** Forwarding of out-of-zone names to a configured upstream. */
  forwarder: boolean;
  /** Per-source rate limiting. */
  rateLimit: boolean;
}

/** Capabilities of a relay plugin. */
export interface RelayCapabilities {
  /** Carries IPv6 underlay. */
  ipv6: boolean;
  /** Largest datagram carried, in bytes. */
  maxDatagram: number;
}

/** Capabilities of any plugin kind. */
export type Capabilities = BackendCapabilities | PolicyCapabilities | DnsCapabilities | RelayCapabilities;
