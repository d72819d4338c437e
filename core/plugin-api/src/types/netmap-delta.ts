import type { Netmap, NetmapNode, SignedNetmap } from './netmap.js';
import type { NodeId } from './node-id.js';

/**
 * A top-level member of a {@link Netmap} that a delta may set or delete: any member except
 * `version` (the delta's own `version` sets it) and `nodes` (changed node by node).
 */
export type NetmapDeltaMember = Exclude<keyof Netmap, 'version' | 'nodes'> | (string & {});

/** Adds a node (appended at the end of `nodes`) or replaces the node with the same `id` in place. */
export interface NetmapDeltaUpsertNode {
  /** Always `upsertNode`. */
  op: 'upsertNode';
  /** The whole node as it is in the resulting netmap. */
  node: NetmapNode;
}

/** Removes a node; it must be present in the base netmap (or added earlier in the delta). */
export interface NetmapDeltaRemoveNode {
  /** Always `removeNode`. */
  op: 'removeNode';
  /** Id of the node to remove. */
  id: NodeId;
}

/** Sets a top-level member (e.g. `issuedAt`, `expiresAt`, `acl`, `dns`, `relays`). */
export interface NetmapDeltaSet {
  /** Always `set`. */
  op: 'set';
  /** The member (not `version` or `nodes`). */
  member: NetmapDeltaMember;
  /** Its new value, checked as part of the resulting netmap. */
  value: unknown;
}

/** Deletes a top-level member; it must be present. */
export interface NetmapDeltaDelete {
  /** Always `delete`. */
  op: 'delete';
  /** The member (not `version` or `nodes`). */
  member: NetmapDeltaMember;
}

/** One operation of a {@link NetmapDelta}, applied in order. */
export type NetmapDeltaOp = NetmapDeltaUpsertNode | NetmapDeltaRemoveNode | NetmapDeltaSet | NetmapDeltaDelete;

/**
 * The change from one netmap to the next (API 1.0 addition, optional: a sender that does not
 * produce deltas sends full {@link SignedNetmap}s, a receiver that does not ask for them gets
 * none). Digests are SHA-256 (lower-case hex) over the RFC 8785 canonical JSON of a whole netmap,
 * the same bytes a netmap signature covers. A receiver applies `ops` to the netmap of
 * `baseVersion` whose digest is `baseDigest`, sets `version`, and accepts the result only when its
 * digest equals `digest`; otherwise it fetches the full netmap. See docs/netmap-deltas.md.
 */
export interface NetmapDelta {
  /** Always `netmap-delta`: keeps a signed delta from ever passing as a signed netmap. */
  kind: 'netmap-delta';
  /** Version of the netmap the operations apply to. */
  baseVersion: number;
  /** SHA-256 hex of the canonical JSON of that netmap. */
  baseDigest: string;
  /** Version of the resulting netmap (greater than `baseVersion`). */
  version: number;
  /** SHA-256 hex of the canonical JSON of the resulting netmap. */
  digest: string;
  /** The operations, applied in order. */
  ops: NetmapDeltaOp[];
}

/**
 * A {@link NetmapDelta} with its Ed25519 signature over the RFC 8785 canonical JSON of `delta`,
 * made with the control-plane key (the same `signature` shape as {@link SignedNetmap}).
 */
export interface SignedNetmapDelta {
  /** The signed payload. */
  delta: NetmapDelta;
  /** The Ed25519 signature over the canonical payload. */
  signature: SignedNetmap['signature'];
}
