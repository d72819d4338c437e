/**
 * Domain shapes of the control plane's stored state (the rows, decoded).
 */
import type { Endpoint } from '@rustynet/plugin-api';
import type { AclDocument } from '../acl/document.js';
import type { SigningState } from '../keys/rotation-store.js';

/** An enrolled node. */
export interface ControlNode {
  /** Stable id (DNS label); the netmap node id and backend peer id. Never changes. */
  id: string;
  /** Display / DNS name (DNS label), unique; `rename` changes it. */
  name: string;
  /** Raw 32-byte Ed25519 identity public key, base64. */
  identityKey: string;
  /** Backend public keys by protocol id: opaque values, never interpreted here. */
  keys: Record<string, string>;
  endpoints: Endpoint[];
  tags: string[];
  ipv4: string;
  ipv6: string;
  probePort?: number;
  /** Unix ms. */
  createdAt: number;
  updatedAt: number;
  /** When an admin expired the node (it is out of netmaps until it re-enrols), or null. */
  expiredAt: number | null;
}

/** A pre-auth key as listed (never the key itself). */
export interface AuthKeyInfo {
  id: string;
  reusable: boolean;
  tags: string[];
  createdAt: number;
  expiresAt: number | null;
  usedAt: number | null;
  uses: number;
}

/** Everything a netmap is built from, at one version. */
export interface Snapshot {
  version: number;
  /** Unix ms at which `version` was issued. */
  issuedAt: number;
  ulaPrefix: string;
  /** All nodes, expired included (netmaps leave those out). */
  nodes: ControlNode[];
  acl: AclDocument | null;
  canary: { tag: string; acl: AclDocument } | null;
  /** Signing-key rotation state (keys/rotation-store.ts); absent: no rotation. */
  signing?: SigningState;
}
