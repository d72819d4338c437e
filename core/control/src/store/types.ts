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
  /**
   * When the node expired (out of netmaps until it re-enrols), or null: set by an admin
   * (`nodes expire`), or by the node key lifetime (then `expiredBy` is `key-lifetime`).
   */
  expiredAt: number | null;
  /** When the node last proved its keys (enrolment, re-enrolment, key rotation), Unix ms. */
  keyIssuedAt: number;
  /** When its keys expire (`keyIssuedAt` + the control plane's node key lifetime); absent without a lifetime. */
  keyExpiresAt?: number;
  /** Why `expiredAt` is set: `admin` (default when absent) or `key-lifetime`. */
  expiredBy?: 'admin' | 'key-lifetime';
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
