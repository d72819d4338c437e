import { expect } from 'chai';
import { isRustynetError } from '@rustynet/plugin-api';
import { createRelayServer, protocol, type RelayServer, type RelayServerOptions } from '../src/index.js';
import { ManualClock, RawClient, RecordingMetrics, makeKey, type TestKey } from './helpers.js';

const RELAY_ID = 'relay-test';

describe('relay server', () => {
  let server: RelayServer;
  let clock: ManualClock;
  let keys: Record<string, TestKey>;
  const clients: RawClient[] = [];

  async function startServer(extra: Partial<RelayServerOptions> = {}): Promise<{ host: string; port: number }> {
    clock = new ManualClock();
    keys = { a: makeKey(), b: makeKey(), c: makeKey() };
    server = createRelayServer({
      listen: { host: '127.0.0.1', port: 0 },
      relayId: RELAY_ID,
      identityKeys: Object.fromEntries(Object.entries(keys).map(([id, k]) => [id, k.publicKeyB64])),
      now: clock.now,
      sweepIntervalMs: 0,
      ...extra,
    });
    return server.start();
  }

  async function client(): Promise<RawClient> {
    const c = await RawClient.open(server.address()!);
    clients.push(c);
    return c;
  }

  async function registered(id: string): Promise<RawClient> {
    const c = await client();
    expect(await c.register(id, keys[id], RELAY_ID)).to.equal('registered');
    return c;
  }

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await server?.stop();
  });

  it('registers a node that signs the challenge with its identity key', async () => {
    await startServer();
    const a = await registered('a');
    const st = server.stats();
    expect(st.sessions).to.equal(1);
    expect(st.registrations).to.equal(1);
    expect(st.recvBufferSize).to.be.a('number').greaterThan(0);
    await a.barrier(true);
  });

  it('refuses a registration with a bad signature (wrong key, wrong relay id, unknown node)', async () => {
    await startServer();
    const c = await client();
    // a's id signed with b's key
    expect(await c.register('a', keys.b, RELAY_ID)).to.equal(protocol.RejectReason.BAD_SIGNATURE);
    // right key, but signed for another relay
    expect(await c.register('a', keys.a, 'other-relay')).to.equal(protocol.RejectReason.BAD_SIGNATURE);
    // a node the netmap does not list
    expect(await c.register('zed', keys.a, RELAY_ID)).to.equal(protocol.RejectReason.UNKNOWN_NODE);
    const st = server.stats();
    expect(st.sessions).to.equal(0);
    expect(st.drops.bad_signature).to.equal(2);
    expect(st.drops.unknown_node).to.equal(1);
    // a refused address gets no forwarding
    await c.sendData('b', Buffer.from('x'));
    await c.barrier(false);
    expect(server.stats().drops.not_registered).to.equal(1);
  });

  it('refuses a bad, foreign or expired return-routability token, silently', async () => {
    await startServer();
    const c = await client();
    // tampered MAC
    const ch = await c.hello();
    ch.body[40] = ch.body[40] ^ 1;
    await c.send(protocol.encodeRegister(ch.body, 'a', await keys.a.sign(protocol.registerSignatureInput(ch.body, 'a', RELAY_ID))));
    // a token minted for another address (port)
    const other = await client();
    const ch2 = await other.hello();
    await c.send(protocol.encodeRegister(ch2.body, 'a', await keys.a.sign(protocol.registerSignatureInput(ch2.body, 'a', RELAY_ID))));
    // an expired token: two windows later
    const ch3 = await c.hello();
    clock.advance(2 * 10_000 + 1);
    await c.send(protocol.encodeRegister(ch3.body, 'a', await keys.a.sign(protocol.registerSignatureInput(ch3.body, 'a', RELAY_ID))));
    await c.barrier(false);
    const st = server.stats();
    expect(st.drops.bad_token).to.equal(3);
    expect(st.sessions).to.equal(0);
    // Nothing but CHALLENGEs came back: no answer to an unvalidated REGISTER.
    expect(c.drain().every((b) => b[1] === protocol.MessageType.CHALLENGE)).to.equal(true);
    // one window later the token is still good
    const ch4 = await c.hello();
    clock.advance(10_000);
    await c.send(protocol.encodeRegister(ch4.body, 'a', await keys.a.sign(protocol.registerSignatureInput(ch4.body, 'a', RELAY_ID))));
    const m = await c.next((b) => protocol.decodeRegistered(b) !== undefined || protocol.decodeReject(b) !== undefined);
    expect(protocol.decodeRegistered(m)).to.not.equal(undefined);
  });

  it('forwards DATA only between registered nodes', async () => {
    await startServer();
    const a = await registered('a');
    const b = await registered('b');
    const stranger = await client();
    // unregistered source
    await stranger.sendData('a', Buffer.from('from-stranger'));
    await stranger.barrier(false);
    // unregistered (but allowed) destination c, and an unknown node
    await a.sendData('c', Buffer.from('to-c'));
    await a.sendData('zed', Buffer.from('to-zed'));
    await a.sendData('a', Buffer.from('to-self'));
    // legitimate
    await a.sendData('b', Buffer.from('hello-b'));
    await b.sendData('a', Buffer.from('hello-a'));
    await a.barrier(true);
    await b.barrier(true);
    expect(b.takeData()).to.deep.equal([{ from: 'a', payload: Buffer.from('hello-b') }]);
    expect(a.takeData()).to.deep.equal([{ from: 'b', payload: Buffer.from('hello-a') }]);
    const st = server.stats();
    expect(st.drops.not_registered).to.equal(1);
    expect(st.drops.unknown_destination).to.equal(2);
    expect(st.drops.self_destination).to.equal(1);
    expect(st.packetsForwarded).to.equal(2);
    // the stranger was told to register, with a reply smaller than what it sent
    const rej = stranger.drain().filter((m) => protocol.decodeReject(m) !== undefined);
    expect(rej.map((m) => protocol.decodeReject(m))).to.deep.equal([protocol.RejectReason.NOT_REGISTERED]);
  });

  it("forwards PROBE (the daemons' channel) like DATA but apart from it, only between registered nodes, at most 256 bytes", async () => {
    await startServer();
    const a = await registered('a');
    const b = await registered('b');
    const stranger = await client();
    const PROBE = protocol.MessageType.PROBE;
    await stranger.send(protocol.encodeData('a', Buffer.from('probe-from-stranger'), PROBE));
    await stranger.barrier(false);
    await a.send(protocol.encodeData('c', Buffer.from('probe-to-c'), PROBE)); // allowed, not registered
    await a.send(protocol.encodeData('b', Buffer.alloc(protocol.MAX_PROBE_PAYLOAD + 1, 1), PROBE)); // too long
    await a.send(protocol.encodeData('b', Buffer.from('ping'), PROBE));
    await a.send(protocol.encodeData('b', Buffer.alloc(protocol.MAX_PROBE_PAYLOAD, 2), PROBE));
    await b.send(protocol.encodeData('a', Buffer.from('pong'), PROBE));
    await a.barrier(true);
    await b.barrier(true);
    const probes = (c: RawClient): Array<{ from: string; payload: Buffer }> =>
      c.drain().flatMap((m) => {
        const d = protocol.decodeData(m, PROBE);
        return d ? [{ from: d.nodeId, payload: m.subarray(d.payloadOffset) }] : [];
      });
    // Delivered as PROBE (never as DATA, which a client hands to its backend), with the source id.
    expect(probes(b)).to.deep.equal([
      { from: 'a', payload: Buffer.from('ping') },
      { from: 'a', payload: Buffer.alloc(protocol.MAX_PROBE_PAYLOAD, 2) },
    ]);
    expect(probes(a)).to.deep.equal([{ from: 'b', payload: Buffer.from('pong') }]);
    const st = server.stats();
    expect(st.drops.not_registered).to.equal(1);
    expect(st.drops.unknown_destination).to.equal(1);
    expect(st.drops.malformed).to.equal(1);
    expect(st.packetsForwarded).to.equal(3);
  });

  it('never sends an unvalidated address more bytes than it received', async () => {
    await startServer();
    const c = await client();
    const junk = [
      protocol.encodeHello(),
      protocol.encodeHello(1200),
      Buffer.of(1, protocol.MessageType.HELLO), // too small: dropped
      Buffer.alloc(69, 0).fill(1, 0, 1).fill(protocol.MessageType.HELLO, 1, 2), // still too small
      Buffer.of(1),
      Buffer.of(2, 1, 0, 0),
      Buffer.of(1, 0x7f),
      protocol.encodeKeepalive(7),
      protocol.encodeData('a', Buffer.from('x')),
      Buffer.of(1, protocol.MessageType.DATA, 1, 0x61, 0x62),
      protocol.encodeRegister(Buffer.alloc(68), 'a', Buffer.alloc(64)),
      Buffer.of(1, protocol.MessageType.CHALLENGE),
    ];
    for (let i = 0; i < 20; i++) for (const j of junk) await c.send(j);
    await c.barrier(false);
    expect(c.bytesReceived).to.be.greaterThan(0);
    expect(c.bytesReceived).to.be.at.most(c.bytesSent);
    const st = server.stats();
    expect(st.unvalidatedBytesOut).to.be.at.most(st.unvalidatedBytesIn);
    expect(st.drops.hello_too_small).to.equal(40);
    expect(st.drops.amplification).to.equal(0);
    // every answer is individually no larger than the smallest answered request (6-byte KEEPALIVE -> 3-byte REJECT)
    for (const m of c.drain()) expect(m.length).to.be.at.most(protocol.CHALLENGE_SIZE);
    expect(protocol.CHALLENGE_SIZE).to.be.lessThan(protocol.HELLO_MIN_SIZE);
  });

  it('enforces the per-node packet token bucket (counts, manual clock)', async () => {
    await startServer({ limits: { packetsPerSecond: 5 } });
    const a = await registered('a');
    const b = await registered('b');
    for (let i = 0; i < 12; i++) await a.sendData('b', Buffer.from(`p${i}`));
    await a.barrier(true);
    await b.barrier(true);
    expect(b.takeData()).to.have.length(5);
    expect(server.stats().drops.rate_limited).to.equal(7);
    clock.advance(1000); // refills 5
    for (let i = 0; i < 12; i++) await a.sendData('b', Buffer.from(`q${i}`));
    await a.barrier(true);
    await b.barrier(true);
    expect(b.takeData()).to.have.length(5);
    expect(server.stats().drops.rate_limited).to.equal(14);
    // b has its own bucket
    for (let i = 0; i < 3; i++) await b.sendData('a', Buffer.from('r'));
    await b.barrier(true);
    await a.barrier(true);
    expect(a.takeData()).to.have.length(3);
  });

  it('enforces the per-node byte token bucket', async () => {
    await startServer({ limits: { bytesPerSecond: 65_507, burstBytes: 65_507 } });
    const a = await registered('a');
    const b = await registered('b');
    const payload = Buffer.alloc(1000, 7); // datagram = 2 + 1 + 1 + 1000 = 1004 bytes
    for (let i = 0; i < 100; i++) await a.sendData('b', payload);
    await a.barrier(true);
    await b.barrier(true);
    const got = b.takeData().length;
    expect(got).to.equal(Math.floor(65_507 / 1004));
    expect(server.stats().drops.rate_limited).to.equal(100 - got);
    clock.advance(500); // half a second: half the bytes
    for (let i = 0; i < 100; i++) await a.sendData('b', payload);
    await a.barrier(true);
    await b.barrier(true);
    expect(b.takeData().length).to.equal(Math.floor(65_507 / 2 / 1004));
  });

  it('caps sessions per node and frees them on expiry', async () => {
    await startServer({ limits: { maxSessionsPerNode: 2, sessionTimeoutMs: 30_000 } });
    const a1 = await registered('a');
    await registered('a');
    const a3 = await client();
    expect(await a3.register('a', keys.a, RELAY_ID)).to.equal(protocol.RejectReason.SESSION_LIMIT);
    expect(server.stats().drops.session_limit).to.equal(1);
    expect(server.stats().sessions).to.equal(2);
    // re-registering an existing session is not a new session
    expect(await a1.register('a', keys.a, RELAY_ID)).to.equal('registered');
    // a1 keeps alive, a2 goes quiet; after the timeout a2 expires and a3 fits
    clock.advance(20_000);
    await a1.barrier(true);
    clock.advance(20_000);
    expect(server.sweep()).to.equal(1);
    expect(await a3.register('a', keys.a, RELAY_ID)).to.equal('registered');
    expect(server.stats().sessions).to.equal(2);
  });

  it('expires idle sessions: DATA to them is dropped, DATA from them is refused', async () => {
    await startServer({ limits: { sessionTimeoutMs: 5_000 } });
    const a = await registered('a');
    const b = await registered('b');
    clock.advance(4_000);
    await a.barrier(true); // a stays alive
    clock.advance(4_000); // b is 8 s idle
    await a.sendData('b', Buffer.from('late'));
    await a.barrier(true);
    expect(server.stats().drops.unknown_destination).to.equal(1);
    await b.sendData('a', Buffer.from('zombie'));
    const rej = await b.next((m) => protocol.decodeReject(m) !== undefined);
    expect(protocol.decodeReject(rej)).to.equal(protocol.RejectReason.NOT_REGISTERED);
    expect(server.stats().sessions).to.equal(1);
  });

  it('drops a flood of junk cheaply, by reason, while legitimate DATA keeps flowing', async () => {
    await startServer();
    const a = await registered('a');
    const b = await registered('b');
    const junk = await client();
    let seed = 12345;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
    const rounds = 50;
    const perRound = 200;
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < perRound; i++) {
        const len = 1 + (rnd() % 300);
        const buf = Buffer.alloc(len);
        for (let k = 0; k < len; k++) buf[k] = rnd() & 0xff;
        if (i % 4 === 1) buf[0] = 1; // right version, random type
        if (i % 4 === 2 && len > 1) {
          buf[0] = 1;
          buf[1] = protocol.MessageType.DATA; // DATA from an unregistered address
        }
        await junk.send(buf);
      }
      await a.sendData('b', Buffer.from(`legit-${r}`));
      const m = await b.next((x) => protocol.decodeData(x) !== undefined);
      expect(m.subarray(protocol.decodeData(m)!.payloadOffset).toString()).to.equal(`legit-${r}`);
    }
    await junk.barrier(false);
    const st = server.stats();
    const dropped = Object.values(st.drops).reduce((x, y) => x + y, 0);
    expect(st.packetsForwarded).to.equal(rounds);
    // every junk datagram was dropped or (a random HELLO) answered with a CHALLENGE
    const challenges = junk.drain().filter((m) => m[1] === protocol.MessageType.CHALLENGE).length;
    expect(dropped + challenges).to.be.at.least(rounds * perRound);
    expect(st.drops.bad_version + st.drops.short).to.be.greaterThan(0);
    expect(st.drops.not_registered).to.be.greaterThan(0);
    expect(st.drops.unknown_type).to.be.greaterThan(0);
    expect(st.unvalidatedBytesOut).to.be.at.most(st.unvalidatedBytesIn);
    expect(junk.bytesReceived).to.be.at.most(junk.bytesSent);
  });

  it('validates options before doing anything (INVALID_INPUT naming the field)', () => {
    const bad: Array<[Partial<RelayServerOptions>, string]> = [
      [{ listen: { host: 'localhost', port: 1 } }, 'listen.host'],
      [{ listen: { host: '127.0.0.1', port: 70000 } }, 'listen.port'],
      [{ identityKeys: { Bad_Id: makeKey().publicKeyB64 } }, 'identityKeys.Bad_Id'],
      [{ identityKeys: { a: 'notakey' } }, 'identityKeys.a'],
      [{ limits: { packetsPerSecond: -1 } }, 'limits.packetsPerSecond'],
      [{ limits: { bogus: 1 } as never }, 'limits.bogus'],
      [{ recvBufferSize: 1 }, 'recvBufferSize'],
      [{ relayId: 'bad id!' }, 'relayId'],
    ];
    for (const [o, field] of bad) {
      try {
        createRelayServer({ listen: { host: '127.0.0.1', port: 0 }, relayId: 'r', identityKeys: {}, ...o });
        expect.fail(`accepted ${field}`);
      } catch (err) {
        expect(isRustynetError(err, 'INVALID_INPUT'), String(err)).to.equal(true);
        expect((err as { field?: string }).field).to.equal(field);
      }
    }
  });

  it('start twice is ALREADY_RUNNING; a taken port is RELAY_FAILED; stop is idempotent', async () => {
    const ep = await startServer();
    try {
      await server.start();
      expect.fail('started twice');
    } catch (err) {
      expect(isRustynetError(err, 'ALREADY_RUNNING')).to.equal(true);
    }
    const other = createRelayServer({ listen: ep, relayId: 'r', identityKeys: {} });
    try {
      await other.start();
      expect.fail('bound a taken port');
    } catch (err) {
      expect(isRustynetError(err, 'RELAY_FAILED')).to.equal(true);
    }
    await other.stop();
    await server.stop();
    await server.stop();
    expect(server.address()).to.equal(null);
  });

  it('reports metrics through the injected Metrics', async () => {
    const metrics = new RecordingMetrics();
    await startServer({ metrics });
    const a = await registered('a');
    const b = await registered('b');
    await a.sendData('b', Buffer.from('x'));
    await a.send(Buffer.of(9, 9, 9));
    await a.barrier(true);
    await b.barrier(true);
    server.stats();
    expect(metrics.values.get('relay_server_forwarded_packets_total')).to.equal(1);
    expect(metrics.values.get('relay_server_drops_total{reason="bad_version"}')).to.equal(1);
    expect(metrics.values.get('relay_server_registrations_total')).to.equal(2);
    expect(metrics.values.get('relay_server_sessions')).to.equal(2);
  });

  it('replacing the allowlist ends the sessions of removed or re-keyed nodes', async () => {
    await startServer();
    await registered('a');
    await registered('b');
    const newB = makeKey();
    server.setIdentityKeys({ a: keys.a.publicKeyB64, b: newB.publicKeyB64 });
    expect(server.stats().sessions).to.equal(1);
    server.setIdentityKeys({});
    expect(server.stats().sessions).to.equal(0);
  });
});
