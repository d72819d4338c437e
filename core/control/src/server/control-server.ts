/**
 * Runs the control plane: the node API on TCP (HTTPS with a certificate; plain HTTP only on a
 * loopback address or with `insecureListen`) and the admin API on `<data>/admin.sock` (0600).
 */
import { chmod, readFile, rm } from 'node:fs/promises';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import ipaddr from 'ipaddr.js';
import { RustynetError } from '@rustynet/plugin-api';
import { adminApiHandler } from '../admin/admin-api.js';
import { ControlService, type ControlServiceOptions } from '../control-service.js';
import { toRustynetError } from '../errors.js';
import { nodeApiHandler } from './node-api.js';

/** File name of the admin socket in the data directory. */
export const ADMIN_SOCKET = 'admin.sock';

/** Options of {@link startControlServer}. */
export interface ControlServerOptions extends ControlServiceOptions {
  /** `host:port` or `[v6]:port`; port 0 picks a free one. */
  listen: string;
  /** PEM certificate and key files for HTTPS. */
  tlsCertFile?: string;
  tlsKeyFile?: string;
  /** Allow plain HTTP on a non-loopback address (behind a TLS proxy). */
  insecureListen?: boolean;
  /** Default poll hold (ms). */
  pollTimeoutMs?: number;
}

/** A running control plane. */
export interface RunningControlServer {
  service: ControlService;
  /** Base URL of the node API, e.g. `http://127.0.0.1:4242`. */
  url: string;
  /** Path of the admin socket. */
  adminSocket: string;
  /** Stops accepting, ends polls, closes the database. */
  close(): Promise<void>;
}

/** Splits `host:port` / `[v6]:port`. @throws RustynetError `INVALID_INPUT`. */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(listen);
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  if (!m || host === undefined || port > 65535)
    throw new RustynetError('INVALID_INPUT', `--listen must be host:port or [v6]:port, got ${listen}`, { field: '--listen' });
  return { host, port };
}

/** True for 127.0.0.0/8, ::1 and `localhost`. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (!ipaddr.isValid(host)) return false;
  return ipaddr.process(host).range() === 'loopback';
}

function listen(server: Server, port: number, host: string | undefined, path?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const done = (): void => {
      server.off('error', reject);
      resolve();
    };
    if (path !== undefined) server.listen(path, done);
    else server.listen(port, host, done);
  });
}

/**
 * Opens the service and starts both listeners.
 * @throws RustynetError `INVALID_INPUT` (plain HTTP on a public address without
 *   `insecureListen`, bad `listen`), `KEY_INVALID`, `STORAGE_FAILED`, `INTERNAL` (port in use).
 */
export async function startControlServer(opts: ControlServerOptions): Promise<RunningControlServer> {
  const { host, port } = parseListen(opts.listen);
  const tls = opts.tlsCertFile !== undefined || opts.tlsKeyFile !== undefined;
  if (tls && (opts.tlsCertFile === undefined || opts.tlsKeyFile === undefined)) {
    throw new RustynetError('INVALID_INPUT', '--tls-cert and --tls-key go together', { field: '--tls-key' });
  }
  if (!tls && !isLoopback(host) && opts.insecureListen !== true) {
    throw new RustynetError(
      'INVALID_INPUT',
      `refusing plain HTTP on ${host}: give --tls-cert/--tls-key, or --insecure-listen behind a TLS proxy`,
      { field: '--listen' },
    );
  }
  const service = await ControlService.open(opts);
  const nodeHandler = nodeApiHandler(service, opts.pollTimeoutMs === undefined ? {} : { pollTimeoutMs: opts.pollTimeoutMs });
  const adminSocket = join(opts.dataDir, ADMIN_SOCKET);
  let api: Server | undefined;
  let admin: Server | undefined;
  try {
    api =
      tls && opts.tlsCertFile !== undefined && opts.tlsKeyFile !== undefined
        ? createHttpsServer({ cert: await readFile(opts.tlsCertFile), key: await readFile(opts.tlsKeyFile) }, nodeHandler)
        : createHttpServer(nodeHandler);
    // Time to receive a whole request (headers and body), not to answer it: long-polls are unaffected.
    api.requestTimeout = 30_000;
    api.headersTimeout = 10_000;
    api.keepAliveTimeout = 65_000;
    await listen(api, port, host);
    await rm(adminSocket, { force: true });
    admin = createHttpServer(adminApiHandler(service));
    const old = process.umask(0o177);
    try {
      await listen(admin, 0, undefined, adminSocket);
    } finally {
      process.umask(old);
    }
    await chmod(adminSocket, 0o600);
  } catch (err) {
    api?.close();
    admin?.close();
    await service.close();
    throw toRustynetError(err);
  }
  const addr = api.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const apiServer = api;
  const adminServer = admin;
  return {
    service,
    url: `${tls ? 'https' : 'http'}://${shownHost}:${addr.port}`,
    adminSocket,
    close: async () => {
      await service.close();
      apiServer.closeAllConnections();
      adminServer.closeAllConnections();
      await Promise.all([new Promise((r) => apiServer.close(r)), new Promise((r) => adminServer.close(r))]);
      await rm(adminSocket, { force: true });
    },
  };
}
