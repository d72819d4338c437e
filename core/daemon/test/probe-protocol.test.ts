import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { publicKeyFromRawB64 } from '../src/services/key-store.js';
import {
  PROBE_FIXED_BYTES,
  PROBE_MAX_BYTES,
  PROBE_MIN_BYTES,
  decodeProbe,
  encodeProbe,
  encodeProbeBody,
  verifyProbe,
  type ProbeMessage,
} from '../src/path/probe-protocol.js';
import { identity } from './path-fakes.js';

describe('path probe protocol', () => {
  const a = identity();
  const b = identity();
  const nonce = randomBytes(16);

  it('encodes the documented layout and decodes it back', () => {
    const ts = 1_700_000_000_123;
    const data = encodeProbe({ type: 'ping', sender: 'alpha', receiver: 'b', nonce, timestamp: ts }, a.sign);
    expect(data.length).to.equal(PROBE_FIXED_BYTES + 5 + 1);
    expect(data.subarray(0, 4).toString('ascii')).to.equal('RNPP');
    expect([data[4], data[5], data[6]]).to.deep.equal([1, 1, 5]);
    expect(data.subarray(7, 12).toString('ascii')).to.equal('alpha');
    expect(data[12]).to.equal(1);
    expect(data.subarray(13, 14).toString('ascii')).to.equal('b');
    expect(data.subarray(14, 30).equals(nonce)).to.equal(true);
    expect(data.readBigUInt64BE(30)).to.equal(BigInt(ts));
    const m = decodeProbe(data) as ProbeMessage;
    expect(m).to.include({ type: 'ping', sender: 'alpha', receiver: 'b', timestamp: ts });
    expect(m.nonce.equals(nonce)).to.equal(true);
    expect(m.signature.length).to.equal(64);
    expect(verifyProbe(m, publicKeyFromRawB64(a.publicKeyB64))).to.equal(true);
  });

  it("relay-channel probes have their own types (3, 4), so one path's probe cannot be replayed on the other", () => {
    const ping = encodeProbe({ type: 'ping', channel: 'relay', sender: 'a', receiver: 'b', nonce, timestamp: 7 }, a.sign);
    const pong = encodeProbe({ type: 'pong', channel: 'relay', sender: 'b', receiver: 'a', nonce, timestamp: 8 }, b.sign);
    expect([ping[5], pong[5]]).to.deep.equal([3, 4]);
    expect(decodeProbe(ping)).to.include({ type: 'ping', channel: 'relay' });
    expect(decodeProbe(pong)).to.include({ type: 'pong', channel: 'relay' });
    const direct = encodeProbe({ type: 'ping', sender: 'a', receiver: 'b', nonce, timestamp: 7 }, a.sign);
    expect(decodeProbe(direct)).to.include({ channel: 'direct' });
    // Re-labelling a direct PING as a relayed one breaks its signature (the type byte is signed).
    const relabelled = Buffer.from(direct);
    relabelled[5] = 3;
    expect(verifyProbe(decodeProbe(relabelled) as ProbeMessage, publicKeyFromRawB64(a.publicKeyB64))).to.equal(false);
  });

  it('a PONG is exactly as long as the PING it answers (ids swapped)', () => {
    const ping = encodeProbe({ type: 'ping', sender: 'node-with-a-long-name', receiver: 'x', nonce, timestamp: 1 }, a.sign);
    const pong = encodeProbe({ type: 'pong', sender: 'x', receiver: 'node-with-a-long-name', nonce, timestamp: 2 }, b.sign);
    expect(pong.length).to.equal(ping.length);
    expect(PROBE_MIN_BYTES).to.equal(98);
    expect(PROBE_MAX_BYTES).to.equal(222);
  });

  it('a forged or tampered signature does not verify', () => {
    const data = encodeProbe({ type: 'ping', sender: 'a', receiver: 'b', nonce, timestamp: 5 }, b.sign);
    expect(verifyProbe(decodeProbe(data) as ProbeMessage, publicKeyFromRawB64(a.publicKeyB64))).to.equal(false);
    const good = encodeProbe({ type: 'ping', sender: 'a', receiver: 'b', nonce, timestamp: 5 }, a.sign);
    for (const i of [5, 8, 12, 30, good.length - 1]) {
      const t = Buffer.from(good);
      t[i] ^= 0x01;
      const m = decodeProbe(t);
      if (typeof m !== 'string') expect(verifyProbe(m, publicKeyFromRawB64(a.publicKeyB64)), `byte ${i}`).to.equal(false);
    }
    // The signature covers a context string: a raw signature over the body alone is refused.
    const body = encodeProbeBody({ type: 'ping', sender: 'a', receiver: 'b', nonce, timestamp: 5 });
    const raw = Buffer.concat([body, Buffer.from(a.sign(body))]);
    expect(verifyProbe(decodeProbe(raw) as ProbeMessage, publicKeyFromRawB64(a.publicKeyB64))).to.equal(false);
  });

  it('junk is refused by layout checks alone', () => {
    const good = encodeProbe({ type: 'pong', sender: 'a', receiver: 'b', nonce, timestamp: 5 }, a.sign);
    const mut = (i: number, v: number): Buffer => {
      const t = Buffer.from(good);
      t[i] = v;
      return t;
    };
    expect(decodeProbe(Buffer.alloc(0))).to.equal('short');
    expect(decodeProbe(good.subarray(0, good.length - 1))).to.equal('short');
    expect(decodeProbe(Buffer.concat([good, Buffer.alloc(1)]))).to.equal('layout');
    expect(decodeProbe(Buffer.alloc(PROBE_MAX_BYTES + 1))).to.equal('long');
    expect(decodeProbe(mut(0, 0x41))).to.equal('magic');
    expect(decodeProbe(mut(4, 2))).to.equal('version');
    expect(decodeProbe(mut(5, 5))).to.equal('type');
    expect(decodeProbe(mut(5, 0))).to.equal('type');
    expect(decodeProbe(mut(6, 0))).to.equal('layout');
    expect(decodeProbe(mut(6, 64))).to.equal('layout');
    expect(decodeProbe(mut(7, 0x41))).to.equal('node_id'); // 'A': not a lower-case DNS label
    for (let i = 0; i < 200; i++) {
      const junk = randomBytes(PROBE_MIN_BYTES + (i % 100));
      expect(decodeProbe(junk)).to.be.a('string');
    }
  });

  it('refuses to encode bad fields (caller bugs)', () => {
    expect(() => encodeProbeBody({ type: 'ping', sender: 'A', receiver: 'b', nonce, timestamp: 1 })).to.throw(RangeError);
    expect(() => encodeProbeBody({ type: 'ping', sender: 'a', receiver: 'b', nonce: nonce.subarray(0, 8), timestamp: 1 })).to.throw(
      RangeError,
    );
    expect(() => encodeProbeBody({ type: 'ping', sender: 'a', receiver: 'b', nonce, timestamp: -1 })).to.throw(RangeError);
  });
});
