/**
 * What each admin request and each enrolment records in the audit log: the event type, the
 * request's fields (never a pre-auth key's text, a private key or a signature) and the fields of
 * the committed result (ids, version). Admin routes not listed here that write (added later) are
 * still recorded, as `admin.request` with their method and path.
 */
import { createHash } from 'node:crypto';
import type { EnrolResult } from '../store/control-store.js';
import type { AuthKeyInfo, ControlNode } from '../store/types.js';
import type { AuditEvent } from './audit-context.js';

function nodeFields(r: unknown): Record<string, unknown> {
  const x = r as { node?: Partial<ControlNode>; version?: unknown } | null;
  const n = x?.node;
  return {
    ...(n && { node: n.id, name: n.name, identityKey: n.identityKey }),
    ...(typeof x?.version === 'number' && { version: x.version }),
  };
}

function versionField(r: unknown): Record<string, unknown> {
  return typeof r === 'number' ? { version: r } : {};
}

/** Fields of an {@link AuthKeyInfo} or of an `auth_keys` row (never its `hash`). */
function keyInfoFields(r: unknown): Record<string, unknown> {
  const x = (r ?? {}) as Partial<AuthKeyInfo> & { reusable?: boolean | number; tags?: string[] | string; expires_at?: number | null };
  return {
    authKeyId: x.id,
    reusable: Boolean(x.reusable),
    tags: typeof x.tags === 'string' ? (JSON.parse(x.tags) as unknown) : x.tags,
    expiresAt: x.expiresAt ?? x.expires_at ?? null,
  };
}

/**
 * The event of an admin request, or undefined for one that only reads (`GET`, `acl/test`).
 * @param body the parsed request body (already checked to be an object).
 */
export function adminAuditEvent(method: string, path: string, body: Record<string, unknown>): AuditEvent | undefined {
  if (method === 'GET' || path === '/admin/v1/acl/test') return undefined;
  const actor = 'admin';
  const node = /^\/admin\/v1\/nodes\/([^/]+)(?:\/(rename|tags|expire))?$/.exec(path);
  if (node) {
    const ref = decodeURIComponent(node[1] ?? '');
    const action = node[2] ?? (method === 'DELETE' ? 'delete' : method);
    const data = { ref, ...(action === 'rename' && { newName: body['name'] }), ...(action === 'tags' && { tags: body['tags'] }) };
    return { type: `node.${action}`, actor, data, fromResult: nodeFields };
  }
  const key = /^\/admin\/v1\/keys\/([^/]+)$/.exec(path);
  if (key && method === 'DELETE') return { type: 'authkey.revoke', actor, fromResult: keyInfoFields };
  if (path === '/admin/v1/keys' && method === 'POST') return { type: 'authkey.create', actor, fromResult: keyInfoFields };
  if (path === '/admin/v1/acl' && method === 'PUT') {
    // The ACL is recorded whole (it is not secret) with the SHA-256 of its JSON as sent.
    const canary = typeof body['canary'] === 'string' ? body['canary'] : null;
    const acl = body['acl'] ?? null;
    const sha256 = createHash('sha256').update(JSON.stringify(acl), 'utf8').digest('hex');
    return { type: canary === null ? 'acl.set' : 'acl.canary', actor, data: { canary, aclSha256: sha256, acl }, fromResult: versionField };
  }
  if (path === '/admin/v1/acl/promote') return { type: 'acl.promote', actor, fromResult: versionField };
  if (path === '/admin/v1/acl/rollback') return { type: 'acl.rollback', actor, fromResult: versionField };
  return { type: 'admin.request', actor, data: { method, path }, fromResult: versionField };
}

/**
 * The event of an enrolment. The pre-auth key is named by its id only (the public part of its
 * text, `rnk_<id>_<secret>`); the secret part is never recorded.
 */
export function enrolAuditEvent(req: { identityKey: string; name: string; authKey: string }): AuditEvent {
  const authKeyId = /^rnk_([0-9a-f]{1,64})_/.exec(req.authKey)?.[1] ?? null;
  return {
    type: 'node.enrol',
    actor: `identity:${req.identityKey}`,
    data: { requestedName: req.name, authKeyId },
    fromResult: (r) => {
      const x = r as Partial<EnrolResult>;
      return {
        ...nodeFields(x),
        created: x.created,
        tags: x.node?.tags,
        addresses: x.node ? [x.node.ipv4, x.node.ipv6] : undefined,
      };
    },
  };
}
