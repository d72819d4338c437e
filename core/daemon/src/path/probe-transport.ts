import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { RustynetError, type Endpoint, type Logger } from '@rustynet/plugin-api';

/** Where the prober sends and receives datagrams. The UDP implementation is {@link UdpProbeTransport}; tests use fakes. */
export interface ProbeTransport {
  /** Sends one datagram; errors are the transport's to log, never thrown. */
  send(data: Uint8Array, to: Endpoint): void;
  /** Sets the handler of received datagrams (one handler; a later call replaces it). */
  onMessage(handler: (data: Buffer, from: Endpoint) => void): void;
  /** Closes the sockets. Idempotent. */
  close(): Promise<void>;
}

/** Options of {@link UdpProbeTransport.bind}. */
export interface UdpProbeTransportOptions {
  /** Address to bind (default `0.0.0.0`: every underlay address). */
  host?: string;
  /** UDP port (0..65535; 0 = an ephemeral port, see {@link UdpProbeTransport.port}). */
  port: number;
  logger?: Logger;
}

function bindSocket(type: 'udp4' | 'udp6', host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket({ type, ...(type === 'udp6' && { ipv6Only: true }) });
    const onError = (err: Error): void => {
      socket.close();
      reject(err);
    };
    socket.once('error', onError);
    socket.bind({ address: host, port, exclusive: true }, () => {
      socket.off('error', onError);
      resolve(socket);
    });
  });
}

/**
 * The probe socket(s): UDP bound to `host:port`. With an IPv4 `host` (the default `0.0.0.0`) a
 * second, IPv6-only socket is bound to `[::]:port` when the host has IPv6, so peers with an IPv6
 * underlay endpoint can be probed too; without it they are simply unreachable for probes.
 */
export class UdpProbeTransport implements ProbeTransport {
  private handler: ((data: Buffer, from: Endpoint) => void) | undefined;
  private closed = false;

  private constructor(
    private readonly v4: Socket | undefined,
    private readonly v6: Socket | undefined,
    private readonly logger: Logger | undefined,
  ) {
    for (const s of [v4, v6]) {
      if (!s) continue;
      s.on('message', (msg, rinfo) => this.handler?.(msg, { host: rinfo.address, port: rinfo.port }));
      s.on('error', (err) => this.logger?.warn({ err: err.message }, 'probe socket error'));
    }
  }

  /**
   * Binds the socket(s).
   * @throws RustynetError `INVALID_INPUT` (field `pathProbe.port`) when the port is out of range,
   *   `BACKEND_FAILED` when it cannot be bound (e.g. in use).
   */
  static async bind(opts: UdpProbeTransportOptions): Promise<UdpProbeTransport> {
    const host = opts.host ?? '0.0.0.0';
    if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
      throw new RustynetError('INVALID_INPUT', `pathProbe.port must be 0..65535, got ${opts.port}`, { field: 'pathProbe.port' });
    }
    let main: Socket;
    try {
      main = await bindSocket(isIPv6(host) ? 'udp6' : 'udp4', host, opts.port);
    } catch (err) {
      throw new RustynetError('BACKEND_FAILED', `cannot bind the probe socket ${host}:${opts.port}: ${(err as Error).message}`, {
        cause: err,
        field: 'pathProbe.port',
      });
    }
    if (isIPv6(host)) return new UdpProbeTransport(undefined, main, opts.logger);
    let v6: Socket | undefined;
    if (host === '0.0.0.0') {
      try {
        v6 = await bindSocket('udp6', '::', main.address().port);
      } catch (err) {
        opts.logger?.debug({ err: (err as Error).message }, 'no IPv6 probe socket; peers with IPv6 endpoints are not probed');
      }
    }
    return new UdpProbeTransport(main, v6, opts.logger);
  }

  /** The bound UDP port. */
  get port(): number {
    const socket = this.v4 ?? this.v6;
    if (!socket) throw new RustynetError('NOT_RUNNING', 'the probe transport has no socket');
    return socket.address().port;
  }

  send(data: Uint8Array, to: Endpoint): void {
    if (this.closed) return;
    const socket = isIPv6(to.host) ? this.v6 : this.v4;
    if (!socket) return;
    socket.send(data, to.port, to.host, (err) => {
      if (err) this.logger?.debug({ err: err.message, to: `${to.host}:${to.port}` }, 'probe send failed');
    });
  }

  onMessage(handler: (data: Buffer, from: Endpoint) => void): void {
    this.handler = handler;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const sockets = [this.v4, this.v6].filter((s) => s !== undefined);
    await Promise.all(sockets.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}
