/**
 * Traffic helpers of the backend tests that the host agent does not offer: a UDP sink that
 * records who sent what (delivery to a socket, not merely a packet on a device), datagrams sent
 * from a chosen overlay source address, and steady pings over a time window.
 */
import type { TestHost } from '../../../harness/test-network.js';

/** A running UDP sink, see {@link udpSink}. */
export interface UdpSink {
  /** Every datagram received so far: sender address and payload text. */
  received(): { from: string; payload: string }[];
  /** Stops the sink process. */
  close(): Promise<void>;
}

const SINK = `
const dgram = require('node:dgram');
const s = dgram.createSocket({ type: 'udp6', ipv6Only: false });
const from = (a) => (a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a);
s.on('message', (m, r) => process.stdout.write(from(r.address) + ' ' + m.toString('latin1').replace(/[^\\x20-\\x7e]/g, '.') + '\\n'));
s.bind(Number(process.argv[1]), '::', () => process.stdout.write('READY\\n'));
`;

const SEND = `
const dgram = require('node:dgram');
const [srcs, dst, port, prefix, count] = process.argv.slice(1);
(async () => {
  for (const src of srcs.split(',')) {
    const s = dgram.createSocket(src.includes(':') ? 'udp6' : 'udp4');
    await new Promise((r) => s.bind(0, src, r));
    for (let i = 0; i < Number(count); i++) {
      await new Promise((r) => s.send(Buffer.from(prefix + ':' + src), Number(port), dst, r));
      await new Promise((r) => setTimeout(r, 20));
    }
    s.close();
  }
})();
`;

/**
 * Starts a UDP sink on `port` (all IPv4 and IPv6 addresses: one dual-stack socket) in `host`'s
 * namespace that never answers and records every datagram with its source address (IPv4 senders
 * as plain dotted quads, not IPv4-mapped). Resolves once the socket is bound.
 */
export async function udpSink(host: TestHost, port: number): Promise<UdpSink> {
  const child = host.spawn(process.execPath, ['-e', SINK, String(port)], {
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: false,
  });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`UDP sink on ${host.name}:${port} did not start`)), 10_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString('latin1');
      if (out.includes('READY\n')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void Promise.resolve(child).then(() => {
      clearTimeout(timer);
      reject(new Error(`UDP sink on ${host.name}:${port} exited`));
    });
  });
  return {
    received: () =>
      out
        .split('\n')
        .filter((l) => l && l !== 'READY')
        .map((l) => ({ from: l.slice(0, l.indexOf(' ')), payload: l.slice(l.indexOf(' ') + 1) })),
    close: async () => {
      child.kill('SIGKILL');
      await Promise.resolve(child).catch(() => undefined);
    },
  };
}

/**
 * From each local address of `srcs` (which must exist in `host`'s namespace), sends `count` UDP
 * datagrams carrying `<prefix>:<src>` to `dst:port`, 20 ms apart, in one process.
 */
export async function udpFrom(
  host: TestHost,
  srcs: readonly string[],
  dst: string,
  port: number,
  prefix: string,
  count = 3,
): Promise<void> {
  await host.exec(process.execPath, ['-e', SEND, srcs.join(','), dst, String(port), prefix, String(count)], { timeoutMs: 10_000 });
}

/** Result of {@link steadyPing}. */
export interface SteadyPing {
  sent: number;
  received: number;
  /** Sequence numbers that got a reply. */
  replied: number[];
}

/**
 * Pings `ip` from `host` every `intervalMs` for `durationMs` (`ping -i`, each reply awaited at
 * most 1 s) and reports which requests were answered.
 */
export async function steadyPing(host: TestHost, ip: string, durationMs: number, intervalMs = 200): Promise<SteadyPing> {
  const count = Math.max(1, Math.round(durationMs / intervalMs));
  const r = await host.exec('ping', ['-n', '-c', String(count), '-i', String(intervalMs / 1000), '-W', '1', ip], {
    reject: false,
    timeoutMs: durationMs + 10_000,
  });
  const replied = [...r.stdout.matchAll(/icmp_seq=(\d+)/g)].map((m) => Number(m[1]));
  return { sent: count, received: new Set(replied).size, replied };
}
