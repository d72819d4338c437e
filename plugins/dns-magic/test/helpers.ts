import * as dgram from 'node:dgram';
import * as net from 'node:net';
import * as dnsPacket from 'dns-packet';
import { expect } from 'chai';
import { isRustynetError, type DnsZoneData, type PluginContext } from '@rustynet/plugin-api';
import { createPlugin, type DnsMagicPlugin } from '../src/index.js';
import { MemoryMetrics, standaloneContext } from '../src/standalone.js';

/** A clock the test moves by hand (rate-limit tests count tokens, never time). */
export class ManualClock {
  constructor(public t = 1_700_000_000_000) {}
  now = (): number => this.t;
  sleep = async (): Promise<void> => undefined;
}

export interface TestServer {
  plugin: DnsMagicPlugin;
  ctx: PluginContext & { metrics: MemoryMetrics };
  port: number;
  clock: ManualClock;
}

export const ZONE: DnsZoneData = {
  zone: 'rustynet',
  nodes: [
    { id: 'a', name: 'alpha', addresses: ['100.64.0.1', 'fd00::1'] },
    { id: 'b', name: 'b', addresses: ['100.64.0.2'] },
    { id: 'c', name: 'gamma', addresses: ['fd00::3'] },
  ],
};

/** Starts a plugin on 127.0.0.1, port 0 (a free high port), with the given options and zone. */
export async function startServer(options: Record<string, unknown> = {}, zone: DnsZoneData | null = ZONE): Promise<TestServer> {
  const base = standaloneContext({ rateLimit: false, ...options }, 'error');
  const clock = new ManualClock();
  const ctx = { ...base, clock };
  const plugin = createPlugin(ctx);
  await plugin.start({ listen: [{ host: '127.0.0.1', port: 0 }] });
  if (zone) await plugin.update(zone);
  return { plugin, ctx, port: plugin.listening()[0].port, clock };
}

export interface QueryOptions {
  tcp?: boolean;
  /** EDNS0 UDP payload size to advertise; absent: no OPT record. */
  edns?: number;
  id?: number;
  klass?: dnsPacket.RecordClass;
  host?: string;
  timeoutMs?: number;
}

/** Encodes a standard query. */
export function encodeQuery(name: string, type: dnsPacket.RecordType, o: QueryOptions = {}): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id: o.id ?? 4242,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type, class: o.klass ?? 'IN' }],
    additionals:
      o.edns === undefined
        ? []
        : [{ type: 'OPT', name: '.', udpPayloadSize: o.edns, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }],
  });
}

/** Sends raw bytes over UDP and resolves with the first reply (rejects after timeoutMs). */
export function udpExchange(port: number, msg: Buffer, host = '127.0.0.1', timeoutMs = 3000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    const t = setTimeout(() => {
      s.close();
      reject(new Error('no UDP reply'));
    }, timeoutMs);
    s.on('message', (m) => {
      clearTimeout(t);
      s.close();
      resolve(m);
    });
    s.send(msg, port, host);
  });
}

/** Sends raw bytes on a UDP socket without waiting for anything. */
export function udpFire(port: number, msgs: Buffer[], host = '127.0.0.1'): Promise<void> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    let left = msgs.length;
    if (left === 0) {
      s.close();
      resolve();
      return;
    }
    for (const m of msgs) {
      s.send(m, port, host, () => {
        if (--left === 0) {
          s.close();
          resolve();
        }
      });
    }
  });
}

/** Sends length-prefixed messages over one TCP connection; resolves with `expect` replies. */
export function tcpExchange(port: number, msgs: Buffer[], expect = msgs.length, host = '127.0.0.1', timeoutMs = 3000): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, host);
    const replies: Buffer[] = [];
    let buf = Buffer.alloc(0);
    const t = setTimeout(() => {
      sock.destroy();
      reject(new Error(`TCP: got ${replies.length} of ${expect} replies`));
    }, timeoutMs);
    sock.on('connect', () => {
      for (const m of msgs) {
        const l = Buffer.alloc(2);
        l.writeUInt16BE(m.length);
        sock.write(Buffer.concat([l, m]));
      }
      if (expect === 0) {
        clearTimeout(t);
        sock.end();
        resolve([]);
      }
    });
    sock.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        replies.push(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
      if (replies.length >= expect) {
        clearTimeout(t);
        sock.end();
        resolve(replies);
      }
    });
    sock.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
  });
}

/** Queries the server and decodes the answer. */
export async function query(
  port: number,
  name: string,
  type: dnsPacket.RecordType,
  o: QueryOptions = {},
): Promise<dnsPacket.DecodedPacket & { rcode?: string }> {
  const msg = encodeQuery(name, type, o);
  const raw = o.tcp ? (await tcpExchange(port, [msg], 1, o.host))[0] : await udpExchange(port, msg, o.host, o.timeoutMs);
  return dnsPacket.decode(raw);
}

/** Waits (by polling, never asserting on time) until `cond` holds; throws after `limitMs`. */
export async function until(cond: () => boolean, limitMs = 5000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Data of the answers of one type. */
export function data(p: dnsPacket.DecodedPacket, type: string): unknown[] {
  return (p.answers ?? []).filter((a) => a.type === type).map((a) => (a as { data: unknown }).data);
}

/** Asserts that p rejects with a RustynetError of this code (and field, when given). */
export async function expectCode(p: Promise<unknown>, code: string, field?: string): Promise<void> {
  try {
    await p;
  } catch (err) {
    expect(isRustynetError(err), String(err)).to.equal(true);
    expect((err as { code: string }).code).to.equal(code);
    if (field !== undefined) expect((err as { field?: string }).field).to.equal(field);
    return;
  }
  expect.fail(`expected ${code}`);
}
