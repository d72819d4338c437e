/**
 * Test helpers on loopback TCP: a forwarding proxy that records every byte clients send
 * through it (to capture a real client's signed request) and can be cut and restored (a
 * database that becomes unreachable), and a raw sender that replays captured bytes unchanged.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

/** A loopback TCP proxy to `127.0.0.1:<targetPort>`. */
export interface TcpTap {
  port: number;
  /** Bytes each client connection sent, in connection order. */
  captured: Buffer[];
  /** Stops accepting and drops every open connection (the target becomes unreachable). */
  cut(): Promise<void>;
  /** Listens again on the same port. */
  restore(): Promise<void>;
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as { port: number }).port);
    });
  });
}

/** Starts a proxy on a free loopback port forwarding to `targetPort`. */
export async function startTcpTap(targetPort: number): Promise<TcpTap> {
  const sockets = new Set<Socket>();
  const captured: Buffer[] = [];
  const make = (): Server =>
    createServer((client) => {
      const chunks: Buffer[] = [];
      const index = captured.push(Buffer.alloc(0)) - 1;
      const upstream = connect(targetPort, '127.0.0.1');
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.on('data', (d: Buffer) => {
        chunks.push(d);
        captured[index] = Buffer.concat(chunks);
      });
      client.pipe(upstream);
      upstream.pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  let server = make();
  const port = await listen(server, 0);
  return {
    port,
    captured,
    cut: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
    },
    restore: async () => {
      server = make();
      await listen(server, port);
    },
  };
}

/** A raw HTTP reply: status and JSON body (null when empty). */
export interface RawReply {
  status: number;
  body: unknown;
}

/**
 * Sends `bytes` (one complete HTTP/1.1 request) unchanged to `127.0.0.1:<port>` and reads one
 * reply (`content-length` framed, as the control plane sends them).
 */
export function sendRaw(port: number, bytes: Buffer): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1', () => sock.write(bytes));
    let buf = Buffer.alloc(0);
    sock.on('error', reject);
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.subarray(0, end).toString('latin1');
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      if (buf.length < end + 4 + length) return;
      const text = buf.subarray(end + 4, end + 4 + length).toString('utf8');
      sock.destroy();
      resolve({ status: Number(head.split(' ')[1]), body: text === '' ? null : (JSON.parse(text) as unknown) });
    });
  });
}
