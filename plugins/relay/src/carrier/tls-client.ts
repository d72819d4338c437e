/**
 * The client side of the TLS carrier (docs/relay.md, "TLS carrier"): a loopback UDP socket that
 * stands in for a relay whose UDP port is unreachable. What the relay link sends to it goes to
 * the relay as frames over one TLS 1.3 connection (node:tls) to `relay.endpoint.host:tlsPort`,
 * and frames from the relay come back from it as datagrams, so the link (and the backend behind
 * it) keep speaking UDP. The relay's certificate is pinned: its public key must be the netmap's
 * `relays[].identityKey` (it is self-signed with the relay identity key); anything else closes
 * the connection before a byte is sent, and {@link TlsProxy.failure} says why.
 */
import { createSocket, type Socket } from 'node:dgram';
import { connect, type TLSSocket } from 'node:tls';
import type { Endpoint, Logger, NetmapRelay } from '@rustynet/plugin-api';
import { publicKeyB64 } from '../identity.js';
import { FrameDecoder, encodeFrame } from './framing.js';

/** Default TCP port of a relay's TLS carrier. */
export const DEFAULT_TLS_PORT = 443;
/** Datagrams queued while the TLS connection is being set up; more are dropped. */
const MAX_QUEUED = 64;

/** A running proxy to one relay's TLS carrier. */
export interface TlsProxy {
  /** The loopback UDP endpoint the link sends to instead of the relay's UDP endpoint. */
  endpoint: Endpoint;
  /** Why the connection was refused or ended (certificate pin, TLS error), once it was. */
  failure: string | undefined;
  /** True once the connection has ended: open a new proxy. */
  closed: boolean;
  close(): Promise<void>;
}

/** The relay's TCP port of the TLS carrier. */
export function tlsPortOf(relay: NetmapRelay): number {
  return relay.tlsPort ?? DEFAULT_TLS_PORT;
}

/** Opens a proxy to `relay`'s TLS carrier (it must list an `identityKey`). Never throws on the network. */
export async function openTlsProxy(relay: NetmapRelay, log: Logger): Promise<TlsProxy> {
  const udp: Socket = createSocket('udp4');
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));
  const port = tlsPortOf(relay);
  let client: { address: string; port: number } | undefined;
  let ready = false;
  const queue: Buffer[] = [];
  const proxy: TlsProxy = {
    endpoint: { host: '127.0.0.1', port: udp.address().port },
    failure: undefined,
    closed: false,
    close: async () => {
      end(undefined);
      await new Promise<void>((r) => udp.close(() => r()));
    },
  };
  const tls: TLSSocket = connect({ host: relay.endpoint.host, port, rejectUnauthorized: false, minVersion: 'TLSv1.3' });
  const end = (why: string | undefined): void => {
    if (proxy.closed) return;
    proxy.closed = true;
    if (why !== undefined) {
      proxy.failure = why;
      log.warn({ relay: relay.id, tls: `${relay.endpoint.host}:${port}`, err: why }, 'relay TLS carrier closed');
    }
    tls.destroy();
  };
  tls.setNoDelay(true);
  tls.once('secureConnect', () => {
    let key: string | undefined;
    try {
      const cert = tls.getPeerX509Certificate();
      key = cert && cert.publicKey.asymmetricKeyType === 'ed25519' ? publicKeyB64(cert.publicKey) : undefined;
    } catch {
      key = undefined;
    }
    if (relay.identityKey === undefined || key !== relay.identityKey) {
      end(`the TLS certificate's key (${key ?? 'not Ed25519'}) is not the netmap's identityKey of relay ${relay.id}`);
      return;
    }
    ready = true;
    for (const m of queue.splice(0)) tls.write(encodeFrame(m));
  });
  const dec = new FrameDecoder();
  tls.on('data', (chunk: Buffer) => {
    if (!ready) return;
    const frames = dec.push(chunk);
    if (typeof frames === 'string') return end(`framing error from the relay: ${frames}`);
    if (!client) return;
    for (const f of frames) udp.send(f, client.port, client.address);
  });
  tls.on('error', (err: Error) => end(`TLS: ${err.message}`));
  tls.on('close', () => end(proxy.failure ?? 'the relay closed the TLS connection'));
  udp.on('message', (msg, rinfo) => {
    if (rinfo.address !== '127.0.0.1' || msg.length === 0) return;
    client = { address: rinfo.address, port: rinfo.port };
    if (proxy.closed) return;
    if (ready) tls.write(encodeFrame(msg));
    else if (queue.length < MAX_QUEUED) queue.push(msg);
  });
  return proxy;
}
