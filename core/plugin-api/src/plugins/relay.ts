import type { CallOptions } from '../call-options.js';
import type { RelayCapabilities } from '../types/capabilities.js';
import type { Endpoint } from '../types/endpoint.js';
import type { NetmapRelay } from '../types/netmap.js';
import type { NodeId } from '../types/node-id.js';

/** Configuration for {@link RelayPlugin.start}. */
export interface RelayStartConfig {
  /** This node's id in the netmap (its identity towards the relay). */
  nodeId: NodeId;
  /** Relay servers from the netmap, preferred first. */
  relays: NetmapRelay[];
  /**
   * Signs a relay server's challenge with this node's Ed25519 identity key. The key itself
   * never reaches the plugin.
   */
  sign(challenge: Uint8Array): Promise<Uint8Array>;
}

/** State of one relayed path. */
export interface RelayPathStatus {
  /** Peer id the path leads to. */
  peer: NodeId;
  /** The local endpoint the backend sends to for this peer. */
  localEndpoint: Endpoint;
  /** Id of the relay server carrying the path. */
  relay: string;
  /** Datagrams received from the peer over the relay. */
  rxPackets: number;
  /** Datagrams sent to the peer over the relay. */
  txPackets: number;
}

/**
 * One relay of the netmap as the relay client sees it ({@link RelayPlugin.relays}; shown in the
 * daemon's status as `relays`). See docs/relay.md, "Several relays".
 */
export interface RelayHealthStatus {
  /** The netmap's relay id. */
  id: string;
  /** The netmap's `region`, when listed. */
  region?: string;
  /** This node holds a registration (session) with the relay. */
  registered: boolean;
  /** Registered and answering its probes (after the client's hysteresis). */
  healthy: boolean;
  /** Smoothed round-trip time of the relay's probe answers, milliseconds; null before the first. */
  rttMs: number | null;
  /** True for the relay this node uses as home (at most one). */
  home: boolean;
}

/**
 * Relay client: stands in for a peer's endpoint when the direct path fails. It only moves the
 * backend's already-encrypted datagrams, so any backend with `udpTransport` works unchanged.
 */
export interface RelayPlugin {
  /** Always `relay`. */
  readonly kind: 'relay';
  /** The capabilities this instance really has; equal to the manifest's. */
  capabilities(): RelayCapabilities;
  /** Registers with the relay server(s). @throws `ALREADY_RUNNING`, `RELAY_FAILED`. */
  start(config: RelayStartConfig, options?: CallOptions): Promise<void>;
  /** Closes every path and socket. Idempotent. */
  stop(options?: CallOptions): Promise<void>;
  /**
   * Opens (or returns the open) local UDP endpoint that carries datagrams to `peer` through the
   * relay; datagrams from `peer` are delivered to `backendEndpoint` (where the local backend
   * listens). @throws `NOT_RUNNING`, `RELAY_FAILED`.
   */
  openPath(request: { peer: NodeId; backendEndpoint: Endpoint }, options?: CallOptions): Promise<Endpoint>;
  /** Closes the path to `peer`; no-op when none is open. */
  closePath(peer: NodeId, options?: CallOptions): Promise<void>;
  /** The relay paths open now, with their counters. */
  status(options?: CallOptions): Promise<RelayPathStatus[]>;
  /**
   * The probe channel (optional): carries the daemon's small path probes to `peer`'s daemon (its
   * relay client), apart from the backend's datagrams, so the daemon can prove the relay path
   * before it moves a peer to it (docs/path-controller.md). `payload` is opaque to the plugin and
   * at most {@link MAX_RELAY_PROBE_BYTES} bytes; nothing is queued: without a registration the
   * probe is dropped.
   * @returns true when the probe was handed to the relay (not that it arrived). Never throws.
   */
  sendProbe?(peer: NodeId, payload: Uint8Array): boolean;
  /**
   * Sets the receiver of probes from other nodes' daemons (`from` is the node id the relay
   * authenticated at registration), or removes it with `undefined`. One handler; a later call
   * replaces it. The handler must not throw.
   */
  onProbe?(handler: ((from: NodeId, payload: Buffer) => void) | undefined): void;
  /**
   * Every relay of the running config with its health, latency and whether it is home, in the
   * netmap's order (optional; empty when not running). Never throws.
   */
  relays?(): RelayHealthStatus[];
}

/** Largest probe payload a relay plugin carries ({@link RelayPlugin.sendProbe}), bytes. */
export const MAX_RELAY_PROBE_BYTES = 256;
