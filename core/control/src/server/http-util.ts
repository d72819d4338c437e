/**
 * Small HTTP helpers shared by the node API and the admin API: capped body reading, JSON
 * parsing, JSON and error responses (`{ error: { code, errno, message, field?, details? } }`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RustynetError, type Logger } from '@rustynet/plugin-api';
import { httpStatusOf, toRustynetError } from '../errors.js';
import { findDuplicateKey } from './duplicate-keys.js';

/** Body cap of the node API (bytes). */
export const NODE_BODY_LIMIT = 64 * 1024;
/** Body cap of the admin API (bytes): large ACLs. */
export const ADMIN_BODY_LIMIT = 4 * 1024 * 1024;

/**
 * Reads the whole body, refusing more than `limit` bytes.
 * @throws RustynetError `INVALID_INPUT` (`field` `body`, `details.status` 413) when too large.
 */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += buf.length;
    if (size > limit) throw tooLarge(limit);
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

function tooLarge(limit: number): RustynetError {
  return new RustynetError('INVALID_INPUT', `request body larger than ${limit} bytes`, { field: 'body', details: { status: 413 } });
}

/**
 * Parses a JSON body, refusing duplicate member names.
 * @throws RustynetError `INVALID_INPUT` (`field` `body`).
 */
export function parseJsonBody(body: Buffer): unknown {
  if (body.length === 0) return {};
  const text = body.toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new RustynetError('INVALID_INPUT', `request body is not JSON: ${(cause as Error).message}`, { field: 'body', cause });
  }
  const dup = findDuplicateKey(text);
  if (dup !== undefined)
    throw new RustynetError('INVALID_INPUT', `request body repeats the key ${JSON.stringify(dup)}`, {
      field: 'body',
      details: { duplicateKey: dup },
    });
  return value;
}

/** Sends `value` as JSON with `status`. */
export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  sendRaw(res, status, Buffer.from(JSON.stringify(value)));
}

/** Sends pre-serialised JSON bytes. */
export function sendRaw(res: ServerResponse, status: number, body: Buffer): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': body.length, 'cache-control': 'no-store' });
  res.end(body);
}

/** The JSON error body of `err`. */
export function errorBody(e: RustynetError): { error: Record<string, unknown> } {
  return {
    error: {
      code: e.code,
      errno: e.errno,
      message: e.message,
      ...(e.field !== undefined && { field: e.field }),
      ...(e.details !== undefined && { details: e.details }),
    },
  };
}

/**
 * Sends an error with its HTTP status (413 for oversized bodies) and logs it: `warn` for
 * refused input and credentials, `error` for storage and internal failures. Logs carry the
 * code, route and `details.reason`, never the request body.
 */
export function sendError(res: ServerResponse, err: unknown, logger?: Logger, route?: string): void {
  const e = toRustynetError(err);
  const record = {
    code: e.code,
    route,
    ...(e.field !== undefined && { field: e.field }),
    ...(typeof e.details?.['reason'] === 'string' && { reason: e.details['reason'] }),
  };
  if (e.code === 'INTERNAL' || e.code === 'STORAGE_FAILED') logger?.error({ ...record, err: e.message }, 'request failed');
  else logger?.warn(record, 'request refused');
  const hinted = e.details?.['status'];
  const status = hinted === 413 || hinted === 404 ? hinted : httpStatusOf(e.code);
  sendJson(res, status, errorBody(e));
}
