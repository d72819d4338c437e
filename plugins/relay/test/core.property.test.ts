import { sign as edSign } from 'node:crypto';
import { expect } from 'chai';
import fc from 'fast-check';
import { RelayCore, TokenBucket, protocol, type SendFn } from '../src/index.js';
import { ManualClock, makeKey } from './helpers.js';

/** A RelayCore with a recording `send`, and two nodes registered through the real protocol. */
function setup(): { core: RelayCore; sent: Map<string, number>; clock: ManualClock } {
  const clock = new ManualClock();
  const a = makeKey();
  const b = makeKey();
  const sent = new Map<string, number>();
  let last: Buffer | undefined;
  const send: SendFn = (msg, port, address, done) => {
    const buf = Array.isArray(msg) ? Buffer.concat(msg) : msg;
    last = buf;
    const k = `${address}#${port}`;
    sent.set(k, (sent.get(k) ?? 0) + buf.length);
    done(null);
  };
  const core = new RelayCore({ relayId: 'r1', identityKeys: { a: a.publicKeyB64, b: b.publicKeyB64 }, now: clock.now, send });
  // Register a at 10.0.0.1:1000 and b at 10.0.0.2:2000 synchronously with the private keys.
  for (const [id, key, host, port] of [
    ['a', a, '10.0.0.1', 1000],
    ['b', b, '10.0.0.2', 2000],
  ] as const) {
    core.onDatagram(protocol.encodeHello(), host, port);
    const ch = protocol.decodeChallenge(last!)!;
    const sig = edSign(null, protocol.registerSignatureInput(ch.body, id, 'r1'), key.privateKey);
    core.onDatagram(protocol.encodeRegister(ch.body, id, sig), host, port);
    expect(protocol.decodeRegistered(last!)).to.not.equal(undefined);
  }
  sent.clear();
  return { core, sent, clock };
}

const validish = fc.oneof(
  fc.uint8Array({ minLength: 0, maxLength: 300 }).map((u) => Buffer.from(u)),
  // right version, any type, any body
  fc.tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 200 })).map(([t, u]) => Buffer.concat([Buffer.of(1, t), u])),
  // DATA with random id length and bytes
  fc.tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 100 })).map(([l, u]) => Buffer.concat([Buffer.of(1, 6, l), u])),
  fc
    .tuple(fc.constantFrom('a', 'b', 'c', 'zz'), fc.uint8Array({ minLength: 1, maxLength: 100 }))
    .map(([id, u]) => protocol.encodeData(id, u)),
  // REGISTER-shaped with random content
  fc
    .tuple(fc.uint8Array({ minLength: 68, maxLength: 68 }), fc.constantFrom('a', 'b', 'x'), fc.uint8Array({ minLength: 64, maxLength: 64 }))
    .map(([c, id, s]) => protocol.encodeRegister(c, id, s)),
  fc.integer({ min: 0, max: 0xffffffff }).map((s) => protocol.encodeKeepalive(s)),
  fc.integer({ min: 0, max: 2000 }).map((n) => Buffer.concat([Buffer.of(1, 1), Buffer.alloc(n)])),
);

const source = fc.oneof(
  fc.constant({ host: '10.0.0.1', port: 1000 }), // registered a
  fc.constant({ host: '10.0.0.2', port: 2000 }), // registered b
  fc.record({ host: fc.constantFrom('192.0.2.1', '192.0.2.2', '::1', '::ffff:192.0.2.3'), port: fc.integer({ min: 1, max: 65535 }) }),
);

describe('relay core (property)', () => {
  it('never throws on arbitrary datagrams and never amplifies towards unvalidated addresses', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(validish, source, fc.integer({ min: 0, max: 20_000 })), { maxLength: 60 }), (events) => {
        const { core, sent, clock } = setup();
        const received = new Map<string, number>();
        for (const [buf, src, dt] of events) {
          clock.advance(dt);
          const k = `${src.host}#${src.port}`;
          received.set(k, (received.get(k) ?? 0) + buf.length);
          core.onDatagram(buf, src.host, src.port);
        }
        for (const [k, n] of sent) {
          if (k === '10.0.0.1#1000' || k === '10.0.0.2#2000') continue;
          expect(n, k).to.be.at.most(received.get(k) ?? 0);
        }
        const c = core.counters();
        expect(c.unvalidatedBytesOut).to.be.at.most(c.unvalidatedBytesIn);
        expect(c.drops.amplification).to.equal(0);
      }),
      { numRuns: 300 },
    );
  });

  it('the decoders never throw and reject what they cannot parse', () => {
    fc.assert(
      fc.property(validish, (buf) => {
        protocol.decodeChallenge(buf);
        protocol.decodeRegister(buf);
        protocol.decodeRegistered(buf);
        protocol.decodeReject(buf);
        protocol.decodeKeepalive(buf);
        protocol.decodeKeepalive(buf, true);
        const d = protocol.decodeData(buf);
        if (d) expect(d.payloadOffset).to.be.lessThan(buf.length);
      }),
      { numRuns: 2000 },
    );
  });

  it('encode/decode round-trips', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/),
        fc.uint8Array({ minLength: 68, maxLength: 68 }),
        fc.uint8Array({ minLength: 64, maxLength: 64 }),
        fc.uint8Array({ minLength: 1, maxLength: 1500 }),
        (id, body, sig, payload) => {
          const r = protocol.decodeRegister(protocol.encodeRegister(body, id, sig))!;
          expect(r.nodeId).to.equal(id);
          expect(Buffer.from(r.body).equals(Buffer.from(body))).to.equal(true);
          expect(r.signature.equals(Buffer.from(sig))).to.equal(true);
          const dbuf = protocol.encodeData(id, payload);
          const d = protocol.decodeData(dbuf)!;
          expect(d.nodeId).to.equal(id);
          expect(dbuf.subarray(d.payloadOffset).equals(Buffer.from(payload))).to.equal(true);
        },
      ),
    );
  });

  it('token bucket: never grants more than capacity + rate x elapsed', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 1, max: 1000 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 500 }), fc.integer({ min: 1, max: 50 })), { maxLength: 200 }),
        (rate, cap, steps) => {
          let t = 0;
          const b = new TokenBucket(rate, cap, t);
          let granted = 0;
          for (const [dt, cost] of steps) {
            t += dt;
            if (b.take(t, cost)) granted += cost;
          }
          expect(granted).to.be.at.most(cap + (rate * t) / 1000 + 1e-6);
        },
      ),
    );
  });
});
