import type { AclPolicy } from './acl.js';
import type { Cidr } from './cidr.js';
import type { Endpoint } from './endpoint.js';
import type { NodeId } from './node-id.js';

/**
 * One node of the mesh as the control plane describes it.
 */
export interface NetmapNode {
  /** Unique stable id (a DNS label). */
  id: NodeId;
  /** Display and DNS name (a DNS label); defaults to `id`. Need not be unique: see docs/dns.md. */
  name?: string;
  /** Overlay host addresses (`/32`, `/128`), first IPv4 then IPv6. At least one. */
  addresses: Cidr[];
  /** Underlay endpoints, preferred first. May be empty (node behind NAT: others wait for it). */
  endpoints: Endpoint[];
  /**
   * Backend key material by protocol id (the `backend.protocol` of a backend's manifest), e.g.
   * `{ "<protocol>": "<opaque>" }`. A backend only sees the value under its own protocol.
   */
  keys: Record<string, string>;
  /** The node's Ed25519 identity public key, raw 32 bytes in base64. */
  identityKey: string;
  /** Tags for ACL selectors (`tag:<name>`). */
  tags?: string[];
  /** Extra prefixes the node routes for (LAN routes; `0.0.0.0/0` for an exit node). */
  routes?: Cidr[];
  /**
   * UDP port on the node's underlay endpoint hosts where its daemon answers direct-path probes
   * (the path controller's signed ping/pong). Absent: the node is never probed, its peers stay
   * on the direct path.
   */
  probePort?: number;
}

/** A relay server the nodes may use when direct paths fail. */
export interface NetmapRelay {
  /** Relay id, referenced by nodes and status output. */
  id: string;
  /** Where the relay server listens. */
  endpoint: Endpoint;
  /**
   * The relay's Ed25519 identity public key: raw 32 bytes in base64 (RFC 8032). When present, a
   * node registers only if the relay proves this key by signing its challenge and its replies
   * (docs/relay.md, "Relay identity"); absent: the relay is not authenticated (protocol v1 as before).
   */
  identityKey?: string;
  /**
   * TCP port of the relay's TLS carrier on `endpoint.host` (default 443), used when UDP to every
   * relay fails; only for a relay with an `identityKey` (its TLS certificate is pinned to it).
   */
  tlsPort?: number;
  /**
   * Where the relay runs (free text such as `eu-west`, 1..64 of A-Z a-z 0-9 . _ -), shown in
   * status and metrics. Nodes choose their home relay by measured latency, not by region
   * (docs/relay.md, "Several relays"); several relays may share a region.
   */
  region?: string;
}

/**
 * The desired state of the whole mesh, issued and signed by the control plane.
 */
export interface Netmap {
  /** Monotonic version (integer >= 1). A node never applies a version at or below its watermark. */
  version: number;
  /** RFC 3339 time of issue. */
  issuedAt: string;
  /** RFC 3339 time after which the map must not be applied. */
  expiresAt: string;
  /** Human name of the network. */
  network?: string;
  /** Every node of the mesh, this one included. */
  nodes: NetmapNode[];
  /** ACL; absent means the policy plugin's default (deny). */
  acl?: AclPolicy;
  /** DNS settings; the zone defaults to `rustynet`. */
  dns?: {
    /** Zone apex without trailing dot; default `rustynet`. */
    zone?: string;
  };
  /** Relay servers the nodes may use when a direct path fails. */
  relays?: NetmapRelay[];
  /**
   * Control-plane signing-key rotation (optional, absent outside a rotation; added in 1.x). Only
   * a netmap that verifies against a key the daemon already trusts can change its trust set.
   */
  signingKeys?: NetmapSigningKeys;
}

/**
 * A control-plane signing-key rotation announced in a netmap. Keys are raw 32-byte Ed25519
 * public keys in base64 (44 characters), like the daemon's pinned `controlPlaneKey`.
 */
export interface NetmapSigningKeys {
  /** The key the control plane will sign with next: a daemon adds it to its trusted set and persists it. */
  next?: string;
  /**
   * A key the control plane no longer signs with: a daemon removes it from its trusted set
   * (persisted; never trusted again), unless the netmap itself is signed with it.
   */
  retired?: string;
}

/**
 * A netmap with its Ed25519 signature. The signature covers the RFC 8785 (JCS) canonical JSON
 * serialisation of `netmap`, signed with the control-plane private key.
 */
export interface SignedNetmap {
  /** The signed payload. */
  netmap: Netmap;
  /** The Ed25519 signature over the canonical payload. */
  signature: {
    /** Signature algorithm: always `Ed25519` (RFC 8032). */
    alg: 'Ed25519';
    /** First 16 hex digits of SHA-256 over the raw 32-byte public key; a hint, not trusted. */
    keyId: string;
    /** Base64 signature, 64 bytes. */
    value: string;
  };
}
