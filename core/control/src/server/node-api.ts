/**
 * The node-facing HTTP API (see docs/control.md):
 * - `GET  /v1/health`            liveness and current version (no auth)
 * - `GET  /v1/key`               the control-plane public key and key id (no auth)
 * - `POST /v1/enrol/challenge`   a one-time challenge for enrolment
 * - `POST /v1/enrol`             enrol with a pre-auth key and a signed challenge
 * - `GET  /v1/netmap?after=<v>[&wait=<ms>][&delta=1]`  long-poll for a newer signed netmap, or
 *   with `delta=1` a signed delta from version `after` when the server still holds it (signed request)
 * - `POST /v1/node`              report endpoints / backend keys / probe port (signed request)
 * - `POST /v1/node/rotate-keys`  new identity and backend keys, signed by the old identity (see nodes/rotate-request.ts)
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RustynetError } from '@rustynet/plugin-api';
import { netmapAddresses } from '../addresses.js';
import { HEADER_NODE, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP } from '../auth/request-signature.js';
import { DEFAULT_POLL_TIMEOUT_MS, type ControlService, type RequestAuth } from '../control-service.js';
import { authFailed } from '../errors.js';
import type { ControlNode } from '../store/types.js';
import { NODE_BODY_LIMIT, parseJsonBody, readBody, sendError, sendJson, sendRaw } from './http-util.js';
import { parseEnrolRequest, parseSelfUpdate } from './request-schemas.js';
import { parseRotateKeysBody } from '../nodes/rotate-request.js';

/** Longest hold a poll may ask for with `wait` (ms). */
export const MAX_POLL_WAIT_MS = 60_000;

/** The public view of a node in API responses. */
export function nodeView(n: ControlNode): Record<string, unknown> {
  return {
    id: n.id,
    name: n.name,
    addresses: netmapAddresses(n),
    identityKey: n.identityKey,
    tags: n.tags,
    endpoints: n.endpoints,
    keys: Object.keys(n.keys).sort(),
    ...(n.probePort !== undefined && { probePort: n.probePort }),
    createdAt: new Date(n.createdAt).toISOString(),
    updatedAt: new Date(n.updatedAt).toISOString(),
    expired: n.expiredAt !== null,
    ...(n.expiredAt !== null && { expiredBy: n.expiredBy ?? 'admin' }),
    ...(n.keyExpiresAt !== undefined && { keyExpiresAt: new Date(n.keyExpiresAt).toISOString() }),
  };
}

function header(req: IncomingMessage, name: string): string {
  const v = req.headers[name];
  if (typeof v !== 'string' || v === '') throw authFailed('headers-missing', `missing ${name} header`);
  return v;
}

function requestAuth(req: IncomingMessage): RequestAuth {
  return {
    identityKey: header(req, HEADER_NODE),
    timestamp: header(req, HEADER_TIMESTAMP),
    nonce: header(req, HEADER_NONCE),
    signature: header(req, HEADER_SIGNATURE),
  };
}

function intParam(url: URL, name: string, fallback: number, max: number): number {
  const raw = url.searchParams.get(name);
  if (raw === null) return fallback;
  if (!/^\d{1,16}$/.test(raw) || Number(raw) > max)
    throw new RustynetError('INVALID_INPUT', `${name} must be an integer in 0..${max}`, { field: name });
  return Number(raw);
}

/** Options of {@link nodeApiHandler}. */
export interface NodeApiOptions {
  /** Default poll hold time (ms); default 25 s. */
  pollTimeoutMs?: number;
}

/** The request handler of the node API. */
export function nodeApiHandler(svc: ControlService, opts: NodeApiOptions = {}): (req: IncomingMessage, res: ServerResponse) => void {
  const pollTimeout = opts.pollTimeoutMs ?? DEFAULT_POLL_TIMEOUT_MS;
  return (req, res) => {
    void handle(svc, pollTimeout, req, res).catch((err: unknown) =>
      sendError(res, err, svc.logger, `${req.method ?? ''} ${(req.url ?? '').split('?')[0] ?? ''}`),
    );
  };
}

async function handle(svc: ControlService, pollTimeout: number, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const rawPath = req.url ?? '/';
  const url = new URL(rawPath, 'http://control.invalid');
  const route = `${req.method ?? 'GET'} ${url.pathname}`;
  switch (route) {
    case 'GET /v1/health':
      return sendJson(res, 200, { ok: true, version: svc.snapshot.version });
    case 'GET /v1/key':
      return sendJson(res, 200, { alg: 'Ed25519', publicKey: svc.key.publicKey, keyId: svc.key.keyId });
    case 'POST /v1/enrol/challenge':
      await readBody(req, NODE_BODY_LIMIT);
      return sendJson(res, 200, svc.challenge());
    case 'POST /v1/enrol': {
      const body = parseEnrolRequest(parseJsonBody(await readBody(req, NODE_BODY_LIMIT)));
      const r = await svc.enrol(body);
      return sendJson(res, r.created ? 201 : 200, {
        node: nodeView(r.node),
        created: r.created,
        version: r.version,
        controlPlaneKey: svc.key.publicKey,
        netmapLifetimeMs: svc.lifetimeMs,
      });
    }
    case 'GET /v1/netmap': {
      const auth = requestAuth(req);
      const body = await readBody(req, NODE_BODY_LIMIT);
      const node = await svc.authenticateFresh(auth, 'GET', rawPath, body);
      const after = intParam(url, 'after', 0, Number.MAX_SAFE_INTEGER);
      const wait = intParam(url, 'wait', pollTimeout, MAX_POLL_WAIT_MS);
      const abort = new AbortController();
      res.on('close', () => abort.abort());
      const delta = intParam(url, 'delta', 0, 1) === 1;
      const r = await svc.poll(node.identityKey, after, wait, abort.signal, delta);
      if (r.kind === 'netmap') return sendRaw(res, 200, r.entry.body);
      if (!res.destroyed) {
        res.writeHead(204, { 'x-rustynet-version': String(r.version), 'cache-control': 'no-store' });
        res.end();
      }
      return;
    }
    case 'POST /v1/node': {
      const auth = requestAuth(req);
      const raw = await readBody(req, NODE_BODY_LIMIT);
      const node = await svc.authenticateFresh(auth, 'POST', rawPath, raw);
      const upd = parseSelfUpdate(parseJsonBody(raw));
      const r = await svc.selfUpdate(node.identityKey, upd);
      return sendJson(res, 200, { node: nodeView(r.node), version: r.version });
    }
    case 'POST /v1/node/rotate-keys': {
      const auth = requestAuth(req);
      const raw = await readBody(req, NODE_BODY_LIMIT);
      const node = await svc.authenticateFresh(auth, 'POST', rawPath, raw);
      const r = await svc.rotateKeys(node, parseRotateKeysBody(parseJsonBody(raw)));
      return sendJson(res, 200, { node: nodeView(r.node), version: r.version });
    }
    default:
      throw new RustynetError('INVALID_INPUT', `no route ${route}`, { field: 'path', details: { status: 404 } });
  }
}
