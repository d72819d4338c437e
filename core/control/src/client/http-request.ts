/**
 * One HTTP(S) request with a JSON body and a parsed JSON reply, over TCP or a unix socket.
 * Errors from the server (`{ error: { code, message, ... } }`) become RustynetErrors with the
 * same code.
 */
import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { ErrorCodes, RustynetError, isRustynetError, type ErrorCode } from '@rustynet/plugin-api';

/** A reply: status, headers and parsed JSON body (null when empty). */
export interface JsonReply {
  status: number;
  headers: IncomingMessage['headers'];
  body: unknown;
}

/** Where and how to send. */
export interface HttpTarget {
  /** Base URL (`http(s)://host:port`); ignored host when `socketPath` is set. */
  baseUrl: string;
  socketPath?: string;
  /** Extra CA certificates (PEM) for HTTPS. */
  ca?: string | Buffer;
}

function isCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && code in ErrorCodes;
}

/** Turns an error reply into a RustynetError with the server's code. */
export function replyError(reply: JsonReply): RustynetError {
  const e = (reply.body as { error?: { code?: unknown; message?: unknown; field?: unknown; details?: unknown } } | null)?.error;
  const code: ErrorCode = isCode(e?.code) ? e.code : 'INTERNAL';
  const message = typeof e?.message === 'string' ? e.message : `HTTP ${reply.status}`;
  return new RustynetError(code, message, {
    ...(typeof e?.field === 'string' && { field: e.field }),
    details: {
      status: reply.status,
      ...(typeof e?.details === 'object' && e.details !== null ? (e.details as Record<string, unknown>) : {}),
    },
  });
}

/**
 * Sends one request.
 * @throws RustynetError `TIMEOUT` (no reply within `timeoutMs`), `ABORTED`, `INTERNAL`
 *   (connection refused, bad JSON reply).
 */
export function sendRequest(
  target: HttpTarget,
  method: string,
  path: string,
  body: Buffer | undefined,
  headers: Record<string, string>,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<JsonReply> {
  const url = new URL(path, target.baseUrl);
  const https = url.protocol === 'https:' && target.socketPath === undefined;
  const opts: RequestOptions = {
    method,
    path: url.pathname + url.search,
    headers: { ...headers, ...(body && { 'content-type': 'application/json', 'content-length': String(body.length) }) },
    ...(target.socketPath !== undefined
      ? { socketPath: target.socketPath }
      : { host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port }),
    ...(target.ca !== undefined && { ca: target.ca }),
    ...(signal && { signal }),
  };
  return new Promise((resolve, reject) => {
    const req = (https ? httpsRequest : httpRequest)(opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        try {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text === '' ? null : (JSON.parse(text) as unknown) });
        } catch (cause) {
          reject(new RustynetError('INTERNAL', `reply from ${url.pathname} is not JSON`, { cause }));
        }
      });
    });
    req.setTimeout(timeoutMs, () => req.destroy(new RustynetError('TIMEOUT', `no reply from ${url.pathname} within ${timeoutMs} ms`)));
    req.on('error', (err) => {
      if (isRustynetError(err)) reject(err);
      else if (signal?.aborted) reject(new RustynetError('ABORTED', 'request aborted', { cause: err }));
      else reject(new RustynetError('INTERNAL', `request to ${target.socketPath ?? url.origin} failed: ${err.message}`, { cause: err }));
    });
    req.end(body);
  });
}
