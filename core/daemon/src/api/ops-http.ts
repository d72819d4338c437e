import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RustynetError, type Logger } from '@rustynet/plugin-api';

/** The default host of an operations listener: loopback only. */
export const OPS_DEFAULT_HOST = '127.0.0.1';

/** A health or readiness verdict: `ok` false answers 503. `detail` is shown in the JSON body. */
export interface HealthVerdict {
  ok: boolean;
  detail?: Record<string, unknown>;
}

/** What an operations listener serves. */
export interface OpsHttpHandlers {
  /** Prometheus text exposition and its content type. */
  metrics(): Promise<{ contentType: string; body: string }>;
  /** Liveness: the process works (answers 200) or needs a restart (503). */
  healthz(): Promise<HealthVerdict> | HealthVerdict;
  /** Readiness: the node or relay is serving traffic (200) or not yet / no longer (503). */
  readyz(): Promise<HealthVerdict> | HealthVerdict;
}

/** A running operations listener. */
export interface OpsHttpServer {
  /** The bound address (the real port when 0 was asked for). */
  readonly address: { host: string; port: number };
  /** Stops listening and closes open connections. Idempotent. */
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: string, contentType: string): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}

async function handle(h: OpsHttpHandlers, req: IncomingMessage, res: ServerResponse): Promise<void> {
  req.resume();
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    return send(res, 405, `${JSON.stringify({ error: 'only GET and HEAD' })}\n`, 'application/json');
  }
  if (path === '/metrics') {
    const m = await h.metrics();
    return send(res, 200, m.body, m.contentType);
  }
  if (path === '/healthz' || path === '/readyz') {
    const r = await (path === '/healthz' ? h.healthz() : h.readyz());
    const body = { status: r.ok ? 'ok' : 'fail', ...(r.detail ?? {}) };
    return send(res, r.ok ? 200 : 503, `${JSON.stringify(body)}\n`, 'application/json');
  }
  return send(res, 404, `${JSON.stringify({ error: `no endpoint ${path}; try /metrics, /healthz, /readyz` })}\n`, 'application/json');
}

/**
 * Starts the read-only operations listener: plain HTTP/1.1 on TCP with `GET /metrics`
 * (Prometheus text format), `GET /healthz` (liveness) and `GET /readyz` (readiness); probes
 * answer 200 or 503 with a small JSON body. It changes no state, so it needs no authentication,
 * but it tells who is in the mesh: keep it on loopback (the default) or a management network.
 * @throws RustynetError `INVALID_INPUT` (`field` `metrics.listen`) when the address cannot be
 *   bound (in use, not local, no permission).
 */
export async function startOpsHttpServer(
  listen: { host?: string; port: number },
  handlers: OpsHttpHandlers,
  logger?: Logger,
): Promise<OpsHttpServer> {
  const host = listen.host ?? OPS_DEFAULT_HOST;
  const server: Server = createServer((req, res) => {
    handle(handlers, req, res).catch((err: unknown) => {
      logger?.error({ err: String(err), url: req.url }, 'operations listener handler failed');
      if (!res.headersSent) send(res, 500, `${JSON.stringify({ status: 'fail', error: String(err) })}\n`, 'application/json');
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new RustynetError('INVALID_INPUT', `cannot listen on ${host}:${listen.port} for metrics and health (${err.code ?? err.message})`, {
          field: 'metrics.listen',
          cause: err,
        }),
      ),
    );
    server.listen(listen.port, host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  let closed: Promise<void> | undefined;
  return {
    address: { host, port: a.port },
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
      return closed;
    },
  };
}
