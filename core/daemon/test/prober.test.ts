import { expect } from 'chai';
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { PromMetrics } from '../src/services/metrics.js';
import { DirectPathProber } from '../src/path/prober.js';
import { UdpProbeTransport } from '../src/path/probe-transport.js';
import { decodeProbe, encodeProbe, type ProbeMessage } from '../src/path/probe-protocol.js';
import { FakeNet, ManualClock, identity, type TestIdentity } from './path-fakes.js';

const A = { host: '198.18.0.1', port: 41641 };
const B = { host: '198.18.0.2', port: 41641 };

async function dropped(metrics: PromMetrics): Promise<Record<string, number>> {
  const m = await metrics.registry.getSingleMetric('rustynet_path_probe_dropped_total')!.get();
  return Object.fromEntries(m.values.map((v) => [String(v.labels.reason), v.value]));
}

describe('direct-path prober (fake network)', () => {
  let net: FakeNet;
  let clock: ManualClock;
  let ida: TestIdentity;
  let idb: TestIdentity;
  let metrics: PromMetrics;
  let responder: DirectPathProber;
  let attacker: ReturnType<FakeNet['attach']>;
  let received: Array<{ data: Buffer; from: string }>;

  beforeEach(() => {
    net = new FakeNet();
    clock = new ManualClock();
    ida = identity();
    idb = identity();
    metrics = new PromMetrics();
    responder = new DirectPathProber({ selfId: 'b', sign: idb.sign, clock, transport: net.attach(B), metrics });
    responder.setPeers([{ id: 'a', identityKey: ida.publicKeyB64 }]);
    attacker = net.attach(A);
    received = [];
    attacker.onMessage((data, from) => received.push({ data, from: `${from.host}:${from.port}` }));
  });

  const ping = (over: Partial<{ sender: string; receiver: string; timestamp: number; sign: (d: Uint8Array) => Uint8Array }> = {}): Buffer =>
    encodeProbe(
      {
        type: 'ping',
        sender: over.sender ?? 'a',
        receiver: over.receiver ?? 'b',
        nonce: randomBytes(16),
        timestamp: over.timestamp ?? clock.now(),
      },
      over.sign ?? ida.sign,
    );

  it('answers a valid PING with a signed PONG of the same size, echoing the nonce, to the source', () => {
    const p = ping();
    attacker.send(p, B);
    expect(received).to.have.length(1);
    expect(received[0].from).to.equal('198.18.0.2:41641');
    expect(received[0].data.length).to.equal(p.length);
    const pong = decodeProbe(received[0].data) as ProbeMessage;
    expect(pong).to.include({ type: 'pong', sender: 'b', receiver: 'a' });
    expect(pong.nonce.equals((decodeProbe(p) as ProbeMessage).nonce)).to.equal(true);
  });

  it('ignores forged signatures, wrong receivers, unknown senders, stale or future timestamps, replays and junk', async () => {
    const mallory = identity();
    attacker.send(ping({ sign: mallory.sign }), B);
    attacker.send(ping({ receiver: 'c' }), B);
    attacker.send(ping({ sender: 'zed' }), B);
    attacker.send(ping({ timestamp: clock.now() - 31_000 }), B);
    attacker.send(ping({ timestamp: clock.now() + 31_000 }), B);
    attacker.send(randomBytes(120), B);
    attacker.send(Buffer.from('hello'), B);
    attacker.send(encodeProbe({ type: 'pong', sender: 'a', receiver: 'b', nonce: randomBytes(16), timestamp: clock.now() }, ida.sign), B);
    expect(received).to.have.length(0);
    const valid = ping();
    attacker.send(valid, B);
    attacker.send(valid, B); // replay
    attacker.send(ping({ timestamp: clock.now() - 1 }), B); // older than the last accepted
    expect(received).to.have.length(1);
    expect(await dropped(metrics)).to.deep.equal({
      bad_signature: 1,
      wrong_receiver: 1,
      unknown_sender: 1,
      stale: 2,
      malformed: 2,
      unsolicited: 1,
      replayed: 2,
    });
  });

  it('bounds the signature checks one claimed sender can cost', async () => {
    const mallory = identity();
    for (let i = 0; i < 100; i++) attacker.send(ping({ sign: mallory.sign, timestamp: clock.now() + i }), B);
    const d = await dropped(metrics);
    expect(d.bad_signature).to.equal(16);
    expect(d.rate_limited).to.equal(84);
    clock.advance(1000); // refills 20 tokens
    attacker.send(ping({ timestamp: clock.now() + 200 }), B);
    expect(received).to.have.length(1);
  });

  it('pinger: reply, miss, late PONGs reported apart; unsolicited, forged or wrong-source PONGs dropped', async () => {
    const pinger = new DirectPathProber({ selfId: 'a', sign: ida.sign, clock, transport: (net.detach(A), net.attach(A)), metrics });
    pinger.setPeers([{ id: 'b', identityKey: idb.publicKeyB64, target: B }]);
    expect(pinger.takeResult('b')).to.deep.equal({ result: 'none' });
    expect(pinger.ping('b')).to.equal(true);
    expect(pinger.takeResult('b').result).to.equal('reply');
    net.block(B.host);
    pinger.ping('b');
    expect(pinger.takeResult('b')).to.deep.equal({ result: 'miss' });
    net.unblock(B.host);

    // A PONG for the outstanding nonce but from another address, or signed by someone else.
    const elsewhere = net.attach({ host: '198.18.0.9', port: 41641 });
    let sentPing: Buffer | undefined;
    const spy = net.attach({ host: '198.18.0.3', port: 41641 });
    spy.onMessage((d) => (sentPing = d));
    pinger.setPeers([{ id: 'b', identityKey: idb.publicKeyB64, target: { host: '198.18.0.3', port: 41641 } }]);
    pinger.ping('b');
    const n = (decodeProbe(sentPing!) as ProbeMessage).nonce;
    elsewhere.send(encodeProbe({ type: 'pong', sender: 'b', receiver: 'a', nonce: n, timestamp: clock.now() }, idb.sign), A);
    spy.send(encodeProbe({ type: 'pong', sender: 'b', receiver: 'a', nonce: n, timestamp: clock.now() }, identity().sign), A);
    spy.send(encodeProbe({ type: 'pong', sender: 'c', receiver: 'a', nonce: n, timestamp: clock.now() }, idb.sign), A);
    spy.send(encodeProbe({ type: 'pong', sender: 'b', receiver: 'a', nonce: n, timestamp: clock.now() - 60_000 }, idb.sign), A);
    expect(pinger.takeResult('b')).to.deep.equal({ result: 'miss' });
    // Late: the round is over, so the genuine PONG is no reply; it is reported apart, once, as the
    // round trip of a slow path (an RTT sample), and a second copy is unsolicited.
    clock.advance(700);
    spy.send(encodeProbe({ type: 'pong', sender: 'b', receiver: 'a', nonce: n, timestamp: clock.now() }, idb.sign), A);
    spy.send(encodeProbe({ type: 'pong', sender: 'b', receiver: 'a', nonce: n, timestamp: clock.now() }, idb.sign), A);
    expect(pinger.takeResult('b')).to.deep.equal({ result: 'none', lateRttMs: 700 });
    expect(pinger.takeResult('b')).to.deep.equal({ result: 'none' });
    const d = await dropped(metrics);
    expect(d).to.include({ wrong_source: 1, bad_signature: 1, wrong_sender: 1, stale: 1, unsolicited: 1 });
  });

  it('skips nodes whose identity key is malformed; sends nothing to peers without a target', () => {
    const p = new DirectPathProber({ selfId: 'a', sign: ida.sign, clock, transport: net.attach({ host: '198.18.0.5', port: 1 }) });
    p.setPeers([
      { id: 'b', identityKey: 'AAAB' },
      { id: 'c', identityKey: idb.publicKeyB64 },
    ]);
    expect(p.canProbe('b')).to.equal(false);
    expect(p.ping('c')).to.equal(false);
    expect(net.log.filter((l) => l.from === '198.18.0.5:1')).to.have.length(0);
  });
});

describe('direct-path prober (two real UDP sockets on loopback)', function () {
  this.timeout(20000);
  it('PING/PONG round trip, junk flood dropped, and a valid PING is still answered', async () => {
    const ida = identity();
    const idb = identity();
    const ta = await UdpProbeTransport.bind({ host: '127.0.0.1', port: 0 });
    const tb = await UdpProbeTransport.bind({ host: '127.0.0.1', port: 0 });
    const metricsB = new PromMetrics();
    const clock = { now: () => Date.now(), sleep: () => Promise.resolve() };
    let onReply: (peer: string) => void = () => undefined;
    const a = new DirectPathProber({ selfId: 'a', sign: ida.sign, clock, transport: ta, onReply: (peer) => onReply(peer) });
    const b = new DirectPathProber({ selfId: 'b', sign: idb.sign, clock, transport: tb, metrics: metricsB });
    a.setPeers([{ id: 'b', identityKey: idb.publicKeyB64, target: { host: '127.0.0.1', port: tb.port } }]);
    b.setPeers([{ id: 'a', identityKey: ida.publicKeyB64, target: { host: '127.0.0.1', port: ta.port } }]);
    const junk = createSocket('udp4');
    try {
      const replied = new Promise<string>((resolve) => (onReply = resolve));
      expect(a.ping('b')).to.equal(true);
      expect(await replied).to.equal('b');
      expect(a.takeResult('b').result).to.equal('reply');

      await new Promise<void>((resolve) => junk.bind(0, '127.0.0.1', () => resolve()));
      for (let i = 0; i < 500; i++) junk.send(randomBytes(100 + (i % 120)), tb.port, '127.0.0.1');
      // A PING may be lost when the flood fills the socket buffer: retry until one is answered.
      let answered = false;
      for (let i = 0; i < 50 && !answered; i++) {
        const again = new Promise<boolean>((resolve) => {
          onReply = () => resolve(true);
          setTimeout(() => resolve(false), 200);
        });
        a.ping('b');
        answered = await again;
      }
      expect(answered).to.equal(true);
      const m = await metricsB.registry.getSingleMetric('rustynet_path_probe_dropped_total')!.get();
      const malformed = m.values.find((v) => v.labels.reason === 'malformed')?.value ?? 0;
      expect(malformed).to.be.greaterThan(0);
    } finally {
      junk.close();
      await ta.close();
      await tb.close();
    }
  });
});
