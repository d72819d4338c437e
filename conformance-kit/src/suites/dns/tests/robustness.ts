import type { KitTest } from '../../define.js';
import { DNS_PORT, ZONE, type DnsFixture } from '../fixture.js';
import { expectAnswers, q } from './helpers.js';

type T = KitTest<DnsFixture>;

/** Pseudo-random bytes from a seed (xorshift), so junk is reproducible. */
function junkBytes(seed: number, size: number): Buffer {
  const b = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

function header(id: number, flags: number, qd: number, an = 0, ns = 0, ar = 0): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(id, 0);
  h.writeUInt16BE(flags, 2);
  h.writeUInt16BE(qd, 4);
  h.writeUInt16BE(an, 6);
  h.writeUInt16BE(ns, 8);
  h.writeUInt16BE(ar, 10);
  return h;
}

function qname(name: string): Buffer {
  return Buffer.concat([...name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0])]);
}

/** Malformed DNS messages: each is a known parser trap. */
export function malformedMessages(seed: number): { what: string; bytes: Buffer }[] {
  const question = Buffer.concat([qname(`b.${ZONE}`), Buffer.from([0, 1, 0, 1])]);
  return [
    { what: 'empty datagram', bytes: Buffer.alloc(0) },
    { what: '3 bytes', bytes: Buffer.from([0x12, 0x34, 0x01]) },
    { what: 'header only, QDCOUNT 1', bytes: header(0xabcd, 0x0100, 1) },
    { what: 'label longer than the message', bytes: Buffer.concat([header(2, 0x0100, 1), Buffer.from([0x3f, 0x61, 0x62, 0x63])]) },
    { what: 'compression pointer to itself', bytes: Buffer.concat([header(3, 0x0100, 1), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1])]) },
    { what: 'question without type and class', bytes: Buffer.concat([header(4, 0x0100, 1), qname(`b.${ZONE}`)]) },
    { what: 'QDCOUNT 65535 with one question', bytes: Buffer.concat([header(5, 0x0100, 0xffff), question]) },
    {
      what: 'name longer than 255 bytes',
      bytes: Buffer.concat([
        header(6, 0x0100, 1),
        qname(Array.from({ length: 6 }, () => 'x'.repeat(63)).join('.')),
        Buffer.from([0, 1, 0, 1]),
      ]),
    },
    {
      what: 'OPT record with a huge RDLENGTH',
      bytes: Buffer.concat([header(7, 0x0100, 1, 0, 0, 1), question, Buffer.from([0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0xff, 0xff, 1, 2])]),
    },
    { what: 'a response (QR set) to our own question', bytes: Buffer.concat([header(8, 0x8180, 1), question]) },
    { what: '512 random bytes', bytes: junkBytes(seed, 512) },
    { what: '40 random bytes after a valid header', bytes: Buffer.concat([header(9, 0x0100, 1), junkBytes(seed + 1, 40)]) },
  ];
}

/** The `dns.robustness.*` tests, in run order. */
export const robustnessTests: T[] = [
  {
    id: 'dns.robustness.malformed',
    title:
      '12 malformed UDP messages and 3 broken TCP streams from b do not stop the server: valid queries over UDP and TCP still answer; the plugin host is alive',
    async run(t, fx) {
      const s = await fx.serving();
      const b = fx.net.host('b');
      const ip = s.host.underlayAddress;
      for (const m of malformedMessages(fx.opts.seed ?? 1)) {
        t.begin(`send UDP junk: ${m.what}`);
        await b.udpSend(ip, DNS_PORT, m.bytes, { timeoutMs: 150, attempts: 1 });
      }
      const streams: [string, Buffer][] = [
        ['length 65535 then 10 bytes, then close', Buffer.concat([Buffer.from([0xff, 0xff]), junkBytes(7, 10)])],
        ['a 5-byte message', Buffer.from([0, 5, 1, 2, 3, 4, 5])],
        ['a zero-length message', Buffer.from([0, 0])],
      ];
      for (const [what, bytes] of streams) {
        t.begin(`send a broken TCP stream: ${what}`);
        await b.tcpSend(ip, DNS_PORT, bytes, { timeoutMs: 300 });
      }
      t.begin('the plugin host still answers calls');
      await t.ok('capabilities() after the junk', s.plugin.call('capabilities', [], fx.ms(5000)));
      await expectAnswers(t, fx, [q(`b.${ZONE}`, 'A', 'NOERROR', ['100.64.0.2']), q(`nobody.${ZONE}`, 'A', 'NXDOMAIN')]);
      await expectAnswers(t, fx, [q(`web.${ZONE}`, 'A', 'NOERROR', ['100.64.0.7'])], { tcp: true });
    },
  },
];
