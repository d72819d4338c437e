/**
 * The admin API, served only on a unix socket in the data directory (mode 0600, directory
 * 0700: root / the service user only). Routes (see docs/control.md):
 * - `GET    /admin/v1/status`
 * - `POST   /admin/v1/keys`                 `{ reusable?, expiresInMs?, tags? }` -> `{ key, info }`
 * - `GET    /admin/v1/keys`
 * - `DELETE /admin/v1/keys/<id>`
 * - `GET    /admin/v1/nodes`
 * - `POST   /admin/v1/nodes/<ref>/rename`   `{ name }`
 * - `POST   /admin/v1/nodes/<ref>/tags`     `{ tags }`
 * - `POST   /admin/v1/nodes/<ref>/expire`
 * - `DELETE /admin/v1/nodes/<ref>`
 * - `GET    /admin/v1/acl`
 * - `PUT    /admin/v1/acl`                  `{ acl, canary? }`
 * - `POST   /admin/v1/acl/test`             `{ acl? }`
 * - `POST   /admin/v1/acl/promote` | `/admin/v1/acl/rollback`
 * - `/admin/v1/signing-key...`: signing-key rotation, see keys/rotation-api.ts
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RustynetError } from '@rustynet/plugin-api';
import type { ControlService } from '../control-service.js';
import type { ControlNode } from '../store/types.js';
import { nodeView } from '../server/node-api.js';
import { auditAction } from '../audit/audit-context.js';
import { controlAuditSigner } from '../audit/audit-chain.js';
import { adminAuditEvent } from '../audit/audit-events.js';
import { handleRotationRoute } from '../keys/rotation-api.js';
import { ADMIN_BODY_LIMIT, parseJsonBody, readBody, sendError, sendJson } from '../server/http-util.js';

const TAG_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;

function obj(value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new RustynetError('INVALID_INPUT', 'body must be a JSON object', { field: 'body' });
  return value as Record<string, unknown>;
}

/** Validates a tag list. @throws RustynetError `INVALID_INPUT`. */
export function parseTags(value: unknown, field = 'tags'): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > 64 || !value.every((t): t is string => typeof t === 'string' && TAG_RE.test(t))) {
    throw new RustynetError('INVALID_INPUT', `${field} must be a list of tags (a-z, 0-9, -; up to 63 characters)`, { field });
  }
  return value;
}

/** The admin request handler. */
export function adminApiHandler(svc: ControlService): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    void handle(svc, req, res).catch((err: unknown) => sendError(res, err, svc.logger, `admin ${req.method ?? ''} ${req.url ?? ''}`));
  };
}

async function handle(svc: ControlService, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://admin.invalid');
  const method = req.method ?? 'GET';
  const body = obj(parseJsonBody(await readBody(req, ADMIN_BODY_LIMIT)));
  // Every change is recorded in the audit log, in the transaction that makes it.
  const event = adminAuditEvent(method, url.pathname, body);
  if (event) await auditAction(controlAuditSigner(svc.key), event, () => route(svc, res, url, method, body));
  else await route(svc, res, url, method, body);
}

async function route(svc: ControlService, res: ServerResponse, url: URL, method: string, body: Record<string, unknown>): Promise<void> {
  const nodeRoute = /^\/admin\/v1\/nodes\/([^/]+)(?:\/(rename|tags|expire))?$/.exec(url.pathname);
  if (nodeRoute) {
    const ref = decodeURIComponent(nodeRoute[1] ?? '');
    const action = `${method} ${nodeRoute[2] ?? ''}`;
    let r: { node: ControlNode; version: number };
    if (action === 'POST rename') r = await svc.nodeChange((s) => s.rename(ref, typeof body['name'] === 'string' ? body['name'] : ''));
    else if (action === 'POST tags') r = await svc.nodeChange((s) => s.setTags(ref, parseTags(body['tags'])));
    else if (action === 'POST expire') r = await svc.nodeChange((s) => s.expire(ref));
    else if (action === 'DELETE ') r = await svc.nodeChange((s) => s.remove(ref));
    else throw notFound(method, url.pathname);
    return sendJson(res, 200, { node: nodeView(r.node), version: r.version });
  }
  if (await handleRotationRoute(svc.rotation, method, url.pathname, body, res)) return;
  const keyRoute = /^\/admin\/v1\/keys\/([0-9a-f]{1,64})$/.exec(url.pathname);
  if (keyRoute && method === 'DELETE') {
    const info = await svc.store.revokeAuthKey(keyRoute[1] ?? '');
    svc.logger.info({ authKey: info.id }, 'pre-auth key revoked');
    return sendJson(res, 200, { revoked: info });
  }
  const s = svc.snapshot;
  switch (`${method} ${url.pathname}`) {
    case 'GET /admin/v1/status':
      return sendJson(res, 200, {
        version: s.version,
        issuedAt: new Date(s.issuedAt).toISOString(),
        nodes: s.nodes.length,
        activeNodes: s.nodes.filter((n) => n.expiredAt === null).length,
        waitingPolls: svc.waitingPolls,
        controlPlaneKey: svc.key.publicKey,
        keyId: svc.key.keyId,
        ulaPrefix: `${s.ulaPrefix}/48`,
        canary: s.canary?.tag ?? null,
        database: svc.database.engine,
        databaseLocation: svc.database.location,
      });
    case 'POST /admin/v1/keys': {
      const expires = body['expiresInMs'];
      if (expires !== undefined && (typeof expires !== 'number' || !Number.isInteger(expires) || expires <= 0)) {
        throw new RustynetError('INVALID_INPUT', 'expiresInMs must be a positive integer', { field: 'expiresInMs' });
      }
      const created = await svc.createAuthKey({
        reusable: body['reusable'] === true,
        tags: parseTags(body['tags']),
        ...(typeof expires === 'number' && { expiresInMs: expires }),
      });
      return sendJson(res, 201, created);
    }
    case 'GET /admin/v1/keys':
      return sendJson(res, 200, { keys: await svc.store.listAuthKeys() });
    case 'GET /admin/v1/nodes':
      return sendJson(res, 200, { version: s.version, nodes: s.nodes.map(nodeView) });
    case 'GET /admin/v1/acl':
      return sendJson(res, 200, { version: s.version, acl: s.acl, canary: s.canary });
    case 'PUT /admin/v1/acl': {
      const canary = body['canary'];
      if (canary !== undefined && typeof canary !== 'string')
        throw new RustynetError('INVALID_INPUT', 'canary must be a tag', { field: 'canary' });
      const r = await svc.setAcl(body['acl'], canary ?? null);
      return sendJson(res, 200, { version: r.version, canary: canary ?? null, tests: r.results });
    }
    case 'POST /admin/v1/acl/test': {
      const doc = body['acl'] ?? s.acl ?? { rules: [] };
      const r = svc.testAcl(doc);
      return sendJson(res, 200, { ok: r.ok, tests: r.results });
    }
    case 'POST /admin/v1/acl/promote':
    case 'POST /admin/v1/acl/rollback': {
      const action = url.pathname.endsWith('promote') ? 'promote' : 'rollback';
      return sendJson(res, 200, { version: await svc.endCanary(action), action });
    }
    default:
      throw notFound(method, url.pathname);
  }
}

function notFound(method: string, path: string): RustynetError {
  return new RustynetError('INVALID_INPUT', `no route ${method} ${path}`, { field: 'path', details: { status: 404 } });
}
