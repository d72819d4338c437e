/**
 * The relay server's TLS carrier (docs/relay.md, "TLS carrier"): a node:tls listener (TCP, TLS
 * 1.3, the certificate of {@link selfSignedCertificate}) whose connections carry relay datagrams
 * as frames ({@link FrameDecoder}). Each connection is one client address for the protocol engine:
 * `tls:<remote address>` and its remote port, so registration, tokens, limits and forwarding are
 * exactly those of UDP; what the engine sends to such an address goes back as a frame.
 */
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { RustynetError, type Endpoint, type Logger } from '@rustynet/plugin-api';
import { FrameDecoder, encodeFrame } from './framing.js';
import { selfSignedCertificate } from './certificate.js';

/** Prefix of the engine address of a TLS connection. */
export const TLS_ADDRESS_PREFIX = 'tls:';
/** Bytes a connection may have queued for sending before it is closed (a slow reader). */
export const MAX_QUEUED_BYTES = 4 * 1024 * 1024;

/** Options of {@link TlsCarrierServer}. */
export interface TlsCarrierServerOptions {
  listen: Endpoint;
  certPem: string;
  keyPem: string;
  /** Hands a received datagram to the protocol engine. */
  onDatagram: (msg: Buffer, address: string, port: number) => void;
  /** Largest number of open connections; more are refused. Default 10 000. */
  maxConnections?: number;
  /** A connection that sends nothing for this long is closed (ms). Default 60 000. */
  idleTimeoutMs?: number;
  logger: Logger;
}

/** The TLS listener and its connections. */
export class TlsCarrierServer {
  private server: Server | undefined;
  private readonly conns = new Map<string, TLSSocket>();
  /** Connections closed for a framing error or a full send queue. */
  protocolErrors = 0;

  constructor(private readonly o: TlsCarrierServerOptions) {}

  /** Binds and listens. @throws RustynetError RELAY_FAILED / PERMISSION_DENIED. */
  async start(): Promise<Endpoint> {
    const srv = createServer({ cert: this.o.certPem, key: this.o.keyPem, minVersion: 'TLSv1.3' }, (s) => this.onConnection(s));
    srv.maxConnections = this.o.maxConnections ?? 10_000;
    srv.on('tlsClientError', () => undefined);
    await new Promise<void>((resolve, reject) => {
      srv.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          new RustynetError(
            err.code === 'EACCES' ? 'PERMISSION_DENIED' : 'RELAY_FAILED',
            `cannot listen for the TLS carrier on ${this.o.listen.host}:${this.o.listen.port}: ${err.message}`,
            { cause: err },
          ),
        ),
      );
      srv.listen({ host: this.o.listen.host, port: this.o.listen.port, exclusive: true }, () => resolve());
    });
    this.server = srv;
    const a = srv.address() as { address: string; port: number };
    return { host: a.address, port: a.port };
  }

  /** Closes the listener and every connection. Idempotent. */
  async stop(): Promise<void> {
    const srv = this.server;
    this.server = undefined;
    for (const s of this.conns.values()) s.destroy();
    this.conns.clear();
    if (srv) await new Promise<void>((r) => srv.close(() => r()));
  }

  /** Open connections. */
  connections(): number {
    return this.conns.size;
  }

  /** Sends a datagram to the connection of engine address `address:port`; false when there is none. */
  send(msg: Buffer | Buffer[], port: number, address: string, done: (err: Error | null) => void): void {
    const s = this.conns.get(`${address}#${port}`);
    if (!s || s.destroyed) return done(new Error('no TLS connection'));
    if (s.writableLength > MAX_QUEUED_BYTES) {
      this.protocolErrors++;
      s.destroy();
      return done(new Error('TLS connection send queue full'));
    }
    let frame: Buffer;
    try {
      frame = encodeFrame(msg);
    } catch (err) {
      return done(err as Error);
    }
    s.write(frame);
    done(null);
  }

  private onConnection(s: TLSSocket): void {
    const address = `${TLS_ADDRESS_PREFIX}${s.remoteAddress ?? '?'}`;
    const port = s.remotePort ?? 0;
    const key = `${address}#${port}`;
    this.conns.set(key, s);
    s.setNoDelay(true);
    s.setTimeout(this.o.idleTimeoutMs ?? 60_000, () => s.destroy());
    const dec = new FrameDecoder();
    s.on('data', (chunk: Buffer) => {
      const frames = dec.push(chunk);
      if (typeof frames === 'string') {
        this.protocolErrors++;
        this.o.logger.debug({ peer: key, err: frames }, 'TLS carrier: framing error, closing');
        s.destroy();
        return;
      }
      for (const f of frames) this.o.onDatagram(f, address, port);
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      if (this.conns.get(key) === s) this.conns.delete(key);
    });
  }
}

/**
 * Starts the TLS carrier of a relay with identity `keyFile` (its certificate is made from it).
 * @throws RustynetError RELAY_FAILED (openssl, bind), PERMISSION_DENIED.
 */
export async function startTlsCarrier(
  o: Omit<TlsCarrierServerOptions, 'certPem'> & { keyFile: string; relayId: string },
): Promise<{ carrier: TlsCarrierServer; endpoint: Endpoint }> {
  const certPem = await selfSignedCertificate(o.keyFile, o.relayId);
  const carrier = new TlsCarrierServer({ ...o, certPem });
  const endpoint = await carrier.start();
  return { carrier, endpoint };
}
