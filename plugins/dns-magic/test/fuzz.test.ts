import * as net from 'node:net';
import { expect } from 'chai';
import * as dnsPacket from 'dns-packet';
import fc from 'fast-check';
import { compileZone } from '../src/zone.js';
import { respond, type ZoneSnapshot } from '../src/responder.js';
import { ZONE, data, encodeQuery, query, startServer, udpFire, until, type TestServer } from './helpers.js';

const snap: ZoneSnapshot = { zone: compileZone(ZONE), serial: 7, ttl: 60, negativeTtl: 60 };

const TYPES: dnsPacket.RecordType[] = ['A', 'AAAA', 'SOA', 'NS', 'MX', 'TXT', 'ANY' as dnsPacket.RecordType, 'PTR', 'SRV', 'AXFR'];

/** A valid query: random name (in and out of the zone), type, id, with or without EDNS. */
const validQuery = fc
  .record({
    labels: fc.array(fc.stringMatching(/^[a-zA-Z0-9]([a-zA-Z0-9-]{0,10}[a-zA-Z0-9])?$/), { minLength: 0, maxLength: 4 }),
    inZone: fc.boolean(),
    type: fc.constantFrom(...TYPES),
    id: fc.integer({ min: 0, max: 65535 }),
    edns: fc.option(fc.integer({ min: 0, max: 65535 }), { nil: undefined }),
  })
  .map(({ labels, inZone, type, id, edns }) => {
    const name = [...labels, ...(inZone ? ['rustynet'] : ['example'])].join('.');
    return encodeQuery(name, type, { id, ...(edns !== undefined && { edns }) });
  });

type Mutation =
  | { op: 'flip'; at: number; value: number }
  | { op: 'truncate'; at: number }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'delete'; at: number; count: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
);

function mutate(msg: Buffer, muts: Mutation[]): Buffer {
  let b = Buffer.from(msg);
  for (const m of muts) {
    const at = b.length === 0 ? 0 : m.at % (b.length + 1);
    if (m.op === 'flip' && b.length > 0) b[at % b.length] = m.value;
    else if (m.op === 'truncate') b = b.subarray(0, at);
    else if (m.op === 'insert') b = Buffer.concat([b.subarray(0, at), Buffer.from(m.bytes), b.subarray(at)]);
    else if (m.op === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.count)]);
  }
  return b;
}

const mutatedQuery = fc.tuple(validQuery, fc.array(mutation, { minLength: 1, maxLength: 6 })).map(([q, m]) => mutate(q, m));

/** The property every outcome must have: never throws; replies are well-formed DNS responses. */
function checkOutcome(msg: Buffer, transport: 'udp' | 'tcp', forwarding: boolean): void {
  const out = respond(msg, snap, transport, forwarding);
  if (out.kind === 'drop') {
    expect(msg.length < 12 || (msg[2] & 0x80) !== 0).to.equal(true);
    return;
  }
  if (out.kind === 'forward') {
    expect(forwarding).to.equal(true);
    return;
  }
  const r = dnsPacket.decode(out.bytes);
  expect(r.id).to.equal(msg.readUInt16BE(0));
  expect(r.flag_qr).to.equal(true);
  if (transport === 'udp') expect(out.bytes.length).to.be.at.most(1232);
}

describe('dns-magic parser robustness (fast-check)', () => {
  it('arbitrary bytes never throw; every reply is a decodable response with the query id', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 600, size: 'max' }), fc.boolean(), fc.boolean(), (bytes, tcp, fwd) => {
        checkOutcome(Buffer.from(bytes), tcp ? 'tcp' : 'udp', fwd);
      }),
      { numRuns: 5000 },
    );
  });

  it('arbitrary bytes behind a valid-looking header never throw', () => {
    const header = fc.record({ id: fc.nat(65535), flags: fc.nat(0x7fff), qd: fc.nat(3), an: fc.nat(3), ns: fc.nat(3), ar: fc.nat(3) });
    fc.assert(
      fc.property(header, fc.uint8Array({ maxLength: 300, size: 'max' }), (h, body) => {
        const b = Buffer.alloc(12);
        b.writeUInt16BE(h.id, 0);
        b.writeUInt16BE(h.flags & 0x87ff, 2); // OPCODE 0 so parsing goes deep
        b.writeUInt16BE(h.qd, 4);
        b.writeUInt16BE(h.an, 6);
        b.writeUInt16BE(h.ns, 8);
        b.writeUInt16BE(h.ar, 10);
        checkOutcome(Buffer.concat([b, Buffer.from(body)]), 'udp', false);
      }),
      { numRuns: 5000 },
    );
  });

  it('mutated valid queries never throw', () => {
    fc.assert(
      fc.property(mutatedQuery, fc.boolean(), (msg, fwd) => checkOutcome(msg, 'udp', fwd)),
      { numRuns: 5000 },
    );
  });

  it('unmutated valid queries are answered (never dropped, never FORMERR)', () => {
    fc.assert(
      fc.property(validQuery, (msg) => {
        const out = respond(msg, snap, 'udp', false);
        expect(out.kind).to.equal('reply');
        if (out.kind === 'reply') expect(out.rcode).to.not.equal('FORMERR');
      }),
      { numRuns: 2000 },
    );
  });
});

/** Messages the server has dealt with: answered, dropped or rate limited. */
function seen(s: TestServer): number {
  const st = s.plugin.stats();
  return Object.values(st.answers).reduce((a, b) => a + b, 0) + st.dropped.short + st.dropped.response + st.rateLimited;
}

describe('dns-magic server survives hostile traffic (fast-check over real sockets)', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer();
  });
  after(async () => {
    await s.plugin.stop();
  });

  it('arbitrary and mutated datagrams over UDP: the server keeps answering', async () => {
    const anyBytes = fc.uint8Array({ maxLength: 700, size: 'max' }).map((u) => Buffer.from(u));
    const packets = fc.sample(fc.oneof(anyBytes, mutatedQuery), { numRuns: 600, seed: 42 }).filter((p) => p.length > 0);
    // In batches small enough for the socket's receive buffer, so the kernel drops none and
    // every datagram is seen (and counted) by the server.
    for (let i = 0; i < packets.length; i += 40) {
      const batch = packets.slice(i, i + 40);
      await udpFire(s.port, batch);
      await until(() => seen(s) >= i + batch.length);
    }
    expect(seen(s)).to.equal(packets.length);
    // Then a valid query still gets the right answer.
    expect(data(await query(s.port, 'alpha.rustynet', 'A'), 'A')).to.deep.equal(['100.64.0.1']);
  });

  it('arbitrary and mutated frames over TCP: the server keeps answering', async () => {
    const frames = fc.sample(
      fc.oneof(
        fc.uint8Array({ maxLength: 300, size: 'max' }).map((u) => Buffer.from(u)),
        mutatedQuery,
      ),
      { numRuns: 200, seed: 7 },
    );
    for (let i = 0; i < frames.length; i += 20) {
      const sock = net.connect(s.port, '127.0.0.1');
      await new Promise<void>((res, rej) => {
        sock.once('connect', () => res());
        sock.once('error', rej);
      });
      sock.on('error', () => undefined);
      for (const f of frames.slice(i, i + 20)) {
        const l = Buffer.alloc(2);
        l.writeUInt16BE(f.length);
        sock.write(Buffer.concat([l, f]));
      }
      // A raw garbage stream without framing, too.
      sock.write(Buffer.from(fc.sample(fc.uint8Array({ maxLength: 100 }), { numRuns: 1, seed: i })[0]));
      sock.destroy();
    }
    expect(data(await query(s.port, 'b.rustynet', 'A', { tcp: true }), 'A')).to.deep.equal(['100.64.0.2']);
    expect(data(await query(s.port, 'b.rustynet', 'A'), 'A')).to.deep.equal(['100.64.0.2']);
    await until(() => s.plugin.stats().answers.FORMERR !== undefined);
  });
});
