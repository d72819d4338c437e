import { chmod, lstat, mkdir, rm } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { dirname } from 'node:path';
import { RustynetError, isRustynetError, type Logger } from '@rustynet/plugin-api';

/** What the local API serves; the daemon implements it. */
export interface LocalApiHandlers {
  status(): Promise<unknown>;
  plugins(): Promise<unknown>;
  up(): Promise<unknown>;
  down(): Promise<unknown>;
  reload(): Promise<unknown>;
  /** Prometheus text exposition and its content type. */
  metrics(): Promise<{ contentType: string; body: string }>;
  /** Hook timeline entries. */
  timeline(): Promise<unknown>;
  /** The applied netmap (`rustynet ip`, `whois`, `netcheck`). */
  netmap?: () => Promise<unknown>;
  /** One diagnostic ping of a peer (id, name, overlay IP or key). */
  ping?: (query: { peer: string; timeoutMs?: number; directOnly?: boolean }) => Promise<unknown>;
  /** The audit log's start-up check and a check now. */
  audit?: () => Promise<unknown>;
  /** Rotate this node's identity and backend keys (`rustynet rotate-keys`; see local/rotate-keys.ts). */
  rotateKeys?: () => Promise<unknown>;
}

const STATUS_BY_CODE: Record<string, number> = {
  INVALID_INPUT: 400,
  CONFIG_INVALID: 400,
  NOT_RUNNING: 409,
  ALREADY_RUNNING: 409,
  UNSUPPORTED: 501,
  PERMISSION_DENIED: 403,
};

function send(res: ServerResponse, status: number, body: unknown, contentType = 'application/json'): void {
  const text = contentType === 'application/json' ? `${JSON.stringify(body)}\n` : String(body);
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

async function isLiveSocket(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ path });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

/**
 * The daemon's local control API: HTTP/1.1 over a unix socket (mode 0600).
 *
 * | Method | Path | Result |
 * |---|---|---|
 * | GET | /v1/status | status JSON |
 * | GET | /v1/plugins | loaded plugins |
 * | POST | /v1/up, /v1/down | bring the tunnel up / down |
 * | POST | /v1/netmap/reload | re-read the netmap source now |
 * | GET | /v1/timeline | hook timeline |
 * | GET | /v1/netmap | the applied netmap |
 * | POST | /v1/ping?peer=&timeoutMs= | one diagnostic ping |
 * | GET | /v1/audit | audit log verification |
 * | POST | /v1/rotate-keys | rotate identity and backend keys |
 * | GET | /metrics | Prometheus text format |
 *
 * Errors answer `{ "error": RustynetError.toJSON() }` with 400/409/500.
 */
export class LocalApi {
  private server: Server | undefined;

  constructor(
    readonly socketPath: string,
    private readonly handlers: LocalApiHandlers,
    private readonly logger?: Logger,
  ) {}

  /**
   * Listens on the socket, removing a stale socket file first.
   * @throws RustynetError `ALREADY_RUNNING` when another process answers on the socket;
   *   `INVALID_INPUT` when the path exists and is not a socket.
   */
  async start(): Promise<void> {
    if (this.server) throw new RustynetError('ALREADY_RUNNING', 'local API already listening');
    await mkdir(dirname(this.socketPath), { recursive: true, mode: 0o700 });
    try {
      const st = await lstat(this.socketPath);
      if (!st.isSocket()) throw new RustynetError('INVALID_INPUT', `${this.socketPath} exists and is not a socket`, { field: 'socket' });
      if (await isLiveSocket(this.socketPath)) {
        throw new RustynetError('ALREADY_RUNNING', `another daemon is listening on ${this.socketPath}`, { field: 'socket' });
      }
      await rm(this.socketPath, { force: true });
    } catch (err) {
      if (isRustynetError(err)) throw err;
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.logger?.error({ err: String(err) }, 'local API handler crashed');
        if (!res.headersSent) send(res, 500, { error: { code: 'INTERNAL', message: 'internal error' } });
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    await chmod(this.socketPath, 0o600);
    this.server = server;
  }

  /** Stops listening and removes the socket file. Idempotent. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return; // never remove a socket this instance did not create
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(this.socketPath, { force: true });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const routes: Record<string, { method: string; run: () => Promise<void> }> = {
      '/v1/status': { method: 'GET', run: async () => send(res, 200, await this.handlers.status()) },
      '/v1/plugins': { method: 'GET', run: async () => send(res, 200, await this.handlers.plugins()) },
      '/v1/timeline': { method: 'GET', run: async () => send(res, 200, await this.handlers.timeline()) },
      '/v1/up': { method: 'POST', run: async () => send(res, 200, await this.handlers.up()) },
      '/v1/down': { method: 'POST', run: async () => send(res, 200, await this.handlers.down()) },
      '/v1/netmap/reload': { method: 'POST', run: async () => send(res, 200, await this.handlers.reload()) },
      '/v1/netmap': { method: 'GET', run: async () => send(res, 200, await optional(this.handlers.netmap, 'netmap')()) },
      '/v1/audit': { method: 'GET', run: async () => send(res, 200, await optional(this.handlers.audit, 'audit')()) },
      '/v1/rotate-keys': { method: 'POST', run: async () => send(res, 200, await optional(this.handlers.rotateKeys, 'rotate-keys')()) },
      '/v1/ping': { method: 'POST', run: async () => send(res, 200, await optional(this.handlers.ping, 'ping')(pingQuery(url))) },
      '/metrics': {
        method: 'GET',
        run: async () => {
          const m = await this.handlers.metrics();
          send(res, 200, m.body, m.contentType);
        },
      },
    };
    const route = routes[url.pathname];
    req.resume();
    if (!route) return send(res, 404, { error: { code: 'INVALID_INPUT', message: `no endpoint ${url.pathname}` } });
    if (req.method !== route.method) {
      res.setHeader('allow', route.method);
      return send(res, 405, { error: { code: 'INVALID_INPUT', message: `${url.pathname} accepts ${route.method}` } });
    }
    try {
      await route.run();
    } catch (err) {
      const e = isRustynetError(err) ? err : new RustynetError('INTERNAL', err instanceof Error ? err.message : String(err));
      send(res, STATUS_BY_CODE[e.code] ?? 500, { error: e.toJSON() });
    }
  }
}

function optional<A extends unknown[]>(fn: ((...a: A) => Promise<unknown>) | undefined, name: string): (...a: A) => Promise<unknown> {
  if (!fn) return () => Promise.reject(new RustynetError('UNSUPPORTED', `this daemon does not serve ${name}`));
  return fn;
}

/** `peer` and `timeoutMs` of `POST /v1/ping`. @throws RustynetError `INVALID_INPUT` naming the field. */
function pingQuery(url: URL): { peer: string; timeoutMs?: number; directOnly?: boolean } {
  const peer = url.searchParams.get('peer');
  if (!peer) throw new RustynetError('INVALID_INPUT', 'POST /v1/ping needs ?peer=<id, name, overlay IP or key>', { field: 'peer' });
  const t = url.searchParams.get('timeoutMs');
  const directOnly = url.searchParams.get('directOnly') === '1' ? { directOnly: true } : {};
  if (t === null) return { peer, ...directOnly };
  if (!/^\d{1,6}$/.test(t)) throw new RustynetError('INVALID_INPUT', 'timeoutMs must be a positive integer (ms)', { field: 'timeoutMs' });
  return { peer, timeoutMs: Number(t), ...directOnly };
}

/** A response from {@link localApiRequest}. */
export interface LocalApiResponse {
  status: number;
  contentType: string;
  body: string;
  /** Parsed body when it is JSON. */
  json?: unknown;
}

/**
 * Calls the local API over its unix socket (for the CLI and tests).
 * @throws Error when the socket cannot be reached.
 */
export function localApiRequest(socketPath: string, method: 'GET' | 'POST', path: string, timeoutMs = 30_000): Promise<LocalApiResponse> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, timeout: timeoutMs, headers: { host: 'localhost' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const contentType = res.headers['content-type'] ?? '';
        let json: unknown;
        if (contentType.startsWith('application/json')) {
          try {
            json = JSON.parse(body);
          } catch {
            json = undefined;
          }
        }
        resolve({ status: res.statusCode ?? 0, contentType, body, ...(json !== undefined && { json }) });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`local API ${method} ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}
