/**
 * Client of the daemon's local API: HTTP/1.1 over the unix socket named in the daemon config
 * (`socket`). Endpoints: GET /v1/status, GET /v1/plugins, POST /v1/up, POST /v1/down,
 * POST /v1/netmap/reload, GET /v1/netmap, POST /v1/ping, GET /v1/audit, GET /v1/timeline, GET /metrics.
 */
import { request } from 'node:http';
import { RustynetError, isRustynetError, ErrorCodes, type ErrorCode, type Netmap } from '@rustynet/plugin-api';
import type { AuditReport, DaemonStatus, PingResult, PluginInfo } from '@rustynet/daemon';

/** Socket path used when neither `--socket` nor `RUSTYNET_SOCKET` is given. */
export const DEFAULT_SOCKET = '/run/rustynet/rustynetd.sock';

/** Picks the socket: the explicit option, else `RUSTYNET_SOCKET`, else {@link DEFAULT_SOCKET}. */
export function resolveSocket(option: string | undefined, env: Record<string, string | undefined>): string {
  return option ?? (env['RUSTYNET_SOCKET'] || DEFAULT_SOCKET);
}

export type { DaemonStatus, PeerStatus, PingResult, AuditReport } from '@rustynet/daemon';

/** Answer of GET /v1/netmap. */
export interface NetmapReport {
  node: string;
  appliedAt: string | null;
  netmap: Netmap | null;
}

/** A loaded plugin as the daemon reports it (`GET /v1/plugins`, `status.plugins`). */
export type PluginStatus = PluginInfo;

let statusParser: Promise<(value: unknown, source?: string) => DaemonStatus> | undefined;

/**
 * The daemon's status validator (ajv over the daemon's JSON Schema), loaded on first use from
 * the small `@rustynet/daemon/status-schema` entry point.
 * @throws RustynetError `INTERNAL` when it cannot be loaded.
 */
function loadStatusParser(): Promise<(value: unknown, source?: string) => DaemonStatus> {
  statusParser ??= import('@rustynet/daemon/status-schema').then(
    (m) => m.parseDaemonStatus,
    (cause: unknown) => {
      statusParser = undefined;
      throw new RustynetError(
        'INTERNAL',
        `cannot load the daemon status schema (is @rustynet/daemon built?): ${(cause as Error).message}`,
        { cause },
      );
    },
  );
  return statusParser;
}

function errorFromBody(status: number, body: string, path: string): RustynetError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    parsed = undefined;
  }
  const obj = (parsed && typeof parsed === 'object' ? parsed : {}) as Record<string, unknown>;
  const inner = (obj['error'] && typeof obj['error'] === 'object' ? obj['error'] : obj) as Record<string, unknown>;
  const rawCode = inner['code'];
  const code: ErrorCode =
    typeof rawCode === 'string' && rawCode in ErrorCodes ? (rawCode as ErrorCode) : status === 404 ? 'UNSUPPORTED' : 'INTERNAL';
  const message =
    typeof inner['message'] === 'string'
      ? inner['message']
      : `local API ${path} answered HTTP ${status}${body ? `: ${body.slice(0, 200)}` : ''}`;
  return new RustynetError(code, message, { details: { httpStatus: status } });
}

/**
 * Sends one request to the local API.
 * @returns the parsed JSON body, or the raw text for non-JSON responses.
 * @throws RustynetError `NOT_RUNNING` when nothing listens on the socket, `PERMISSION_DENIED`
 *   when the socket is not accessible (it is root-only), `TIMEOUT` after `timeoutMs`, or the
 *   code the daemon put in its error body.
 */
export function apiRequest(
  socketPath: string,
  method: 'GET' | 'POST',
  path: string,
  opts: { timeoutMs?: number; body?: unknown } = {},
): Promise<unknown> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const req = request(
      {
        socketPath,
        method,
        path,
        headers: {
          accept: 'application/json',
          ...(payload !== undefined && { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
        },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status < 200 || status >= 300) return reject(errorFromBody(status, text, path));
          const type = res.headers['content-type'] ?? '';
          if (type.includes('json') || /^\s*[[{]/.test(text)) {
            try {
              return resolve(text.trim() === '' ? null : JSON.parse(text));
            } catch (cause) {
              return reject(new RustynetError('INTERNAL', `local API ${path} returned invalid JSON`, { cause }));
            }
          }
          resolve(text);
        });
      },
    );
    req.on('timeout', () => {
      req.destroy(new RustynetError('TIMEOUT', `local API ${method} ${path} on ${socketPath} did not answer within ${timeoutMs} ms`));
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (isRustynetError(err)) return reject(err);
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
        return reject(
          new RustynetError('NOT_RUNNING', `rustynetd is not running (no local API at ${socketPath}; set --socket or RUSTYNET_SOCKET)`, {
            details: { socket: socketPath, errno: err.code },
          }),
        );
      }
      if (err.code === 'EACCES' || err.code === 'EPERM') {
        return reject(new RustynetError('PERMISSION_DENIED', `cannot open ${socketPath}: permission denied (the local API is root-only)`));
      }
      reject(new RustynetError('INTERNAL', `local API ${method} ${path} on ${socketPath} failed: ${err.message}`, { cause: err }));
    });
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

/** Typed wrapper around {@link apiRequest}. */
export class LocalApiClient {
  constructor(
    readonly socketPath: string,
    private readonly timeoutMs = 10_000,
  ) {}

  /**
   * GET /v1/status, checked against the daemon's status schema.
   * @throws RustynetError `INTERNAL` naming the mismatching fields when the daemon answers
   *   something that is not a status document; any {@link apiRequest} error.
   */
  async status(): Promise<DaemonStatus> {
    const [body, parse] = await Promise.all([
      apiRequest(this.socketPath, 'GET', '/v1/status', { timeoutMs: this.timeoutMs }),
      loadStatusParser(),
    ]);
    return parse(body, `local API /v1/status on ${this.socketPath}`);
  }

  /** GET /v1/plugins; accepts a bare array or `{ plugins: [...] }`. */
  async plugins(): Promise<PluginStatus[]> {
    const body = await apiRequest(this.socketPath, 'GET', '/v1/plugins', { timeoutMs: this.timeoutMs });
    if (Array.isArray(body)) return body as PluginStatus[];
    const list = (body as { plugins?: unknown } | null)?.plugins;
    if (Array.isArray(list)) return list as PluginStatus[];
    throw new RustynetError('INTERNAL', 'local API /v1/plugins returned an unexpected body');
  }

  /** POST /v1/up. */
  up(): Promise<unknown> {
    return apiRequest(this.socketPath, 'POST', '/v1/up', { timeoutMs: this.timeoutMs });
  }

  /** POST /v1/down. */
  down(): Promise<unknown> {
    return apiRequest(this.socketPath, 'POST', '/v1/down', { timeoutMs: this.timeoutMs });
  }

  /** POST /v1/netmap/reload. */
  reloadNetmap(): Promise<unknown> {
    return apiRequest(this.socketPath, 'POST', '/v1/netmap/reload', { timeoutMs: this.timeoutMs });
  }

  /** GET /v1/netmap: this node's id and the applied netmap (or null). */
  async netmap(): Promise<NetmapReport> {
    const body = (await apiRequest(this.socketPath, 'GET', '/v1/netmap', { timeoutMs: this.timeoutMs })) as NetmapReport | null;
    if (!body || typeof body.node !== 'string') throw new RustynetError('INTERNAL', 'local API /v1/netmap returned an unexpected body');
    return body;
  }

  /**
   * POST /v1/ping: one diagnostic ping of `peer` (id, name, overlay IP or key).
   * @param opts.directOnly only the path prober's direct PING (no ICMP through the tunnel).
   */
  ping(peer: string, timeoutMs: number, opts: { directOnly?: boolean } = {}): Promise<PingResult> {
    const q = new URLSearchParams({ peer, timeoutMs: String(timeoutMs), ...(opts.directOnly && { directOnly: '1' }) });
    return apiRequest(this.socketPath, 'POST', `/v1/ping?${q.toString()}`, {
      timeoutMs: timeoutMs + this.timeoutMs,
    }) as Promise<PingResult>;
  }

  /** GET /v1/audit: the audit log's start-up check and a check now. */
  audit(): Promise<AuditReport> {
    return apiRequest(this.socketPath, 'GET', '/v1/audit', { timeoutMs: this.timeoutMs }) as Promise<AuditReport>;
  }

  /** GET /v1/timeline: the hook timeline. */
  timeline(): Promise<unknown> {
    return apiRequest(this.socketPath, 'GET', '/v1/timeline', { timeoutMs: this.timeoutMs });
  }

  /** GET /metrics (Prometheus text). */
  async metrics(): Promise<string> {
    return String(await apiRequest(this.socketPath, 'GET', '/metrics', { timeoutMs: this.timeoutMs }));
  }
}
