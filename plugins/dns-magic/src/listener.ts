/** Binding the UDP socket and TCP server of one listen endpoint, and closing them again. */
import * as dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import * as net from 'node:net';
import { RustynetError, type Endpoint, type Logger } from '@rustynet/plugin-api';

/** The sockets serving one endpoint. */
export interface Listener {
  endpoint: Endpoint;
  udp: dgram.Socket;
  tcp: net.Server;
}

/** What the sockets hand their traffic to. */
export interface ListenerHandlers {
  onUdpMessage(udp: dgram.Socket, msg: Buffer, rinfo: dgram.RemoteInfo): void;
  onTcpConnection(sock: net.Socket): void;
}

/**
 * Binds UDP and TCP on `ep` (port 0: one free port shared by both, up to 20 tries when TCP
 * finds the UDP port taken).
 * @throws RustynetError `DNS_FAILED` (see {@link bindError}); nothing stays bound then.
 */
export async function bindListener(ep: Endpoint, handlers: ListenerHandlers, logger: Logger): Promise<Listener> {
  const v6 = isIPv6(ep.host);
  const attempts = ep.port === 0 ? 20 : 1;
  let lastErr: unknown;
  for (let i = 0; i < attempts; i++) {
    const udp = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4', ipv6Only: v6 });
    try {
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind({ address: ep.host, port: ep.port, exclusive: true }, () => {
          udp.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      safeClose(udp);
      throw bindError(ep, 'udp', err);
    }
    const port = udp.address().port;
    const tcp = net.createServer((sock) => handlers.onTcpConnection(sock));
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen({ host: ep.host, port, ipv6Only: v6, exclusive: true }, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      safeClose(udp);
      tcp.close();
      lastErr = err;
      if (ep.port === 0 && (err as NodeJS.ErrnoException).code === 'EADDRINUSE') continue;
      throw bindError({ host: ep.host, port }, 'tcp', err);
    }
    const endpoint = { host: ep.host, port };
    udp.on('message', (msg, rinfo) => handlers.onUdpMessage(udp, msg, rinfo));
    udp.on('error', (err) => logger.warn({ err: String(err), endpoint }, 'DNS UDP socket error'));
    tcp.on('error', (err) => logger.warn({ err: String(err), endpoint }, 'DNS TCP server error'));
    return { endpoint, udp, tcp };
  }
  throw bindError(ep, 'tcp', lastErr);
}

/** Closes a UDP socket that may be closed already. */
export function safeClose(s: dgram.Socket): void {
  try {
    s.close();
  } catch {
    // already closed
  }
}

/** Closes both sockets of a listener; resolves when the TCP server has closed. */
export function closeListener(l: Listener): Promise<void> {
  safeClose(l.udp);
  return new Promise((resolve) => l.tcp.close(() => resolve()));
}

/**
 * The error for a socket that could not be bound.
 * @returns RustynetError `DNS_FAILED` with `details.errno` (`EADDRINUSE`, `EADDRNOTAVAIL`, `EACCES`, ...).
 */
export function bindError(ep: Endpoint, proto: 'udp' | 'tcp', err: unknown): RustynetError {
  if (err instanceof RustynetError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? 'UNKNOWN';
  const why =
    code === 'EADDRINUSE'
      ? 'port in use'
      : code === 'EADDRNOTAVAIL'
        ? 'address not assigned to this host/namespace'
        : code === 'EACCES'
          ? 'permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)'
          : String((err as Error | undefined)?.message ?? err);
  return new RustynetError('DNS_FAILED', `cannot listen on ${proto} ${net.isIPv6(ep.host) ? `[${ep.host}]` : ep.host}:${ep.port}: ${why}`, {
    details: { errno: code, host: ep.host, port: ep.port, proto },
    cause: err,
  });
}
