/**
 * The relay server's public shapes: its options, its allowlist source, its stats and the
 * instance interface ({@link RelayServer}); the server itself is in server.ts.
 */
import type { KernelPathStats } from './kernel-path.js';
import type { NftRunner } from './kernel-forwarder.js';
import type { RelayRouter } from './kernel-router.js';
import type { Endpoint, Logger, Metrics, Netmap, NodeId } from '@rustynet/plugin-api';
import type { RelayCounters, RelayLimits } from './core.js';

/** The daemon's netmap verifier (`@rustynet/daemon` `verifySignedNetmap`), injected. */
export type VerifySignedNetmap = (input: unknown, controlPlanePublicKeyB64: string, opts?: { now?: number }) => Netmap;

/** Where the server takes its allowlist from when it is a signed netmap file. */
export interface RelayNetmapSource {
  /** Path of a signed netmap JSON file (`{ netmap, signature }`). */
  file: string;
  /** The control-plane Ed25519 public key, raw 32 bytes in base64. */
  controlPlaneKey: string;
  /** Verifies schema, signature and expiry; throws NETMAP_INVALID / NETMAP_SIGNATURE_INVALID / NETMAP_EXPIRED. */
  verifySignedNetmap: VerifySignedNetmap;
  /** Re-read and re-verify the file this often (ms). Default 5 000; 0 disables. */
  pollIntervalMs?: number;
}

/** Options of {@link createRelayServer}. */
export interface RelayServerOptions {
  /** Address and UDP port to listen on (IP literal; `0.0.0.0`, `::` or a unicast address; port 0 = ephemeral). */
  listen: Endpoint;
  /**
   * This relay's id, as in the netmap's `relays[].id`; nodes sign it. Optional with a netmap
   * source: then the relay whose endpoint port equals the listen port (or the only relay) is used.
   */
  relayId?: string;
  /** Allowlist `{ nodeId: identityKeyB64 }`. Exactly one of `identityKeys` and `netmap`. */
  identityKeys?: Readonly<Record<NodeId, string>>;
  /** Signed netmap source. Exactly one of `identityKeys` and `netmap`. */
  netmap?: RelayNetmapSource;
  limits?: Partial<RelayLimits>;
  /** SO_RCVBUF request in bytes (the kernel caps it at net.core.rmem_max and doubles it). Default 4 MiB. */
  recvBufferSize?: number;
  /** SO_SNDBUF request in bytes (capped at net.core.wmem_max). Default 4 MiB. */
  sendBufferSize?: number;
  /** Metrics registry; counters are updated once a second and on `stats()`. */
  metrics?: Metrics;
  logger?: Logger;
  /** Time source in ms; default `Date.now`. Tests inject a manual clock. */
  now?: () => number;
  /**
   * The relay's Ed25519 identity key file (PKCS#8 PEM, 0600), created on first start (relay
   * identity, docs/relay.md). Without it the relay has no identity: nodes whose netmap lists a
   * key for it refuse it.
   */
  identityKeyFile?: string;
  /** Also accept relayed traffic over TLS on TCP here (the TLS carrier, docs/relay.md); needs `identityKeyFile`. */
  tlsListen?: Endpoint;
  /**
   * The kernel fast path (docs/relay.md "Kernel fast path"): answer ALLOCATE and forward paired
   * allocations with nftables in the table `netdev rustynet_relay` (ingress of the relay interface,
   * `fwd`), or `inet rustynet_relay` when netdev forwarding is unavailable (`stats().kernel.mode`)
   * (needs CAP_NET_ADMIN, `nft`, `net.ipv4.ip_forward=1` and a specific IPv4 `listen` address).
   * When it cannot start, the relay logs why and serves the userspace path only
   * (`stats().kernel.state` `failed`). Default off. `router`: route look-ups (default `ip -j`);
   * `false` keeps the inet table only.
   */
  kernelForwarding?: boolean | { nftRunner?: NftRunner; readIpForward?: () => Promise<string>; router?: RelayRouter | false };
  /** Session sweep period (ms). Default min(1000, sessionTimeoutMs / 2); 0 disables (tests call `sweep()`). */
  sweepIntervalMs?: number;
}

/** What {@link RelayServer.stats} returns. */
export interface RelayServerStats extends RelayCounters {
  relayId: string;
  /** Bound address, once started. */
  listen: Endpoint | null;
  /** Nodes in the allowlist. */
  allowedNodes: number;
  /** Socket buffer sizes the kernel actually granted (bytes), once started. */
  recvBufferSize: number | null;
  sendBufferSize: number | null;
  /** Netmap version in use, when loaded from a netmap. */
  netmapVersion: number | null;
  /** Failed netmap re-reads (the last good map stays until it expires). */
  netmapRejections: number;
  /** The relay's identity public key (raw 32 bytes, base64), once started with `identityKeyFile`; else null. */
  identityKey: string | null;
  /** The TLS carrier's bound endpoint and open connections, when it runs. */
  tls: { listen: Endpoint; connections: number; protocolErrors: number } | null;
  /** The kernel fast path, when asked for (`kernelForwarding`); else null. */
  kernel: KernelPathStats | null;
}

/** A relay server instance. */
export interface RelayServer {
  /**
   * Loads the allowlist (netmap source: reads and verifies the file), binds the socket and starts
   * serving. @returns the bound endpoint.
   * @throws RustynetError ALREADY_RUNNING; NETMAP_* from the verifier; INVALID_INPUT (`relayId`);
   *   RELAY_FAILED when the socket cannot be bound (address in use, ...); PERMISSION_DENIED (EACCES).
   */
  start(): Promise<Endpoint>;
  /** Closes the socket and timers; sessions are forgotten. Idempotent. */
  stop(): Promise<void>;
  /** Counters and state. Works before start and after stop. */
  stats(): RelayServerStats;
  /** Bound endpoint, or null when not running. */
  address(): Endpoint | null;
  /** Replaces the allowlist (only for an `identityKeys` server). @throws INVALID_INPUT, UNSUPPORTED. */
  setIdentityKeys(keys: Readonly<Record<NodeId, string>>): void;
  /** Re-reads and re-verifies the netmap file now. @throws NETMAP_* (the previous map stays), UNSUPPORTED. */
  reloadNetmap(): Promise<void>;
  /** Packets and bytes forwarded by the kernel fast path's live pairs (nftables counters); zeros without it. */
  kernelForwarded(): Promise<{ packets: number; bytes: number }>;
  /** Ends idle sessions now (and, with a netmap source, every session once the map has expired). @returns how many idle sessions ended. */
  sweep(): number;
}
