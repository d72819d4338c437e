/** Row <-> domain conversion for the control plane's tables. */
import type { Selectable } from 'kysely';
import type { AuthKeyTable, NodeTable } from '../db/schema.js';
import type { AclDocument } from '../acl/document.js';
import type { AuthKeyInfo, ControlNode } from './types.js';

/** Parses a JSON column written by this package. */
export function fromJson<T>(text: string): T {
  return JSON.parse(text) as T;
}

/** A node row as a {@link ControlNode}. */
export function nodeFromRow(r: Selectable<NodeTable>): ControlNode {
  return {
    id: r.id,
    name: r.name,
    identityKey: r.identity_key,
    keys: fromJson<Record<string, string>>(r.keys),
    endpoints: fromJson<ControlNode['endpoints']>(r.endpoints),
    tags: fromJson<string[]>(r.tags),
    ipv4: r.ipv4,
    ipv6: r.ipv6,
    ...(r.probe_port !== null && { probePort: Number(r.probe_port) }),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    expiredAt: r.expired_at === null ? null : Number(r.expired_at),
    keyIssuedAt: r.key_issued_at === null ? Number(r.created_at) : Number(r.key_issued_at),
  };
}

/** An auth key row as an {@link AuthKeyInfo}. */
export function authKeyFromRow(r: Selectable<AuthKeyTable>): AuthKeyInfo {
  return {
    id: r.id,
    reusable: r.reusable === 1,
    tags: fromJson<string[]>(r.tags),
    createdAt: Number(r.created_at),
    expiresAt: r.expires_at === null ? null : Number(r.expires_at),
    usedAt: r.used_at === null ? null : Number(r.used_at),
    uses: Number(r.uses),
  };
}

/** An ACL column as a document, or null. */
export function aclFromColumn(text: string | null): AclDocument | null {
  return text === null ? null : fromJson<AclDocument>(text);
}
