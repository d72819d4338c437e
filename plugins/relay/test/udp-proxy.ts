/**
 * A UDP proxy on loopback in front of a relay, for tests that drop or rewrite datagrams: `up`
 * sees each datagram from the client (return undefined to drop it), `down` each answer (a copy).
 */
import { createSocket, type Socket } from 'node:dgram';

/** What {@link udpProxy} returns. */
export interface UdpProxy {
  /** Where the client sends instead of the relay. */
  endpoint: { host: string; port: number };
  close(): Promise<void>;
}

/** Starts a proxy to `target`; the last client that sent is the one answers go to. */
export async function udpProxy(
  target: { host: string; port: number },
  opts: { up?: (m: Buffer) => Buffer | undefined; down?: (m: Buffer) => Buffer } = {},
): Promise<UdpProxy> {
  const front = createSocket('udp4');
  const back = createSocket('udp4');
  await Promise.all([front, back].map((s) => new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()))));
  let client: { address: string; port: number } | undefined;
  front.on('message', (msg, rinfo) => {
    client = { address: rinfo.address, port: rinfo.port };
    const out = opts.up ? opts.up(msg) : msg;
    if (out) back.send(out, target.port, target.host);
  });
  back.on('message', (msg) => {
    if (client) front.send(opts.down ? opts.down(Buffer.from(msg)) : msg, client.port, client.address);
  });
  const close = (s: Socket): Promise<void> => new Promise((r) => s.close(() => r()));
  return {
    endpoint: { host: '127.0.0.1', port: front.address().port },
    close: async () => void (await Promise.all([close(front), close(back)])),
  };
}
