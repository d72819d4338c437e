import { Ajv } from 'ajv';
import { expect } from 'chai';
import { createSocket } from 'node:dgram';
import { API_VERSION, isRustynetError, type RelayPlugin } from '@rustynet/plugin-api';
import { createPlugin, createRelayServer, relayClientConfigSchema, type RelayServer } from '../src/index.js';
import { makeContext, makeKey, udpSocket, type TestKey } from './helpers.js';

const RELAY_ID = 'relay-1';

async function expectCode(p: Promise<unknown>, code: string, field?: string): Promise<void> {
  try {
    await p;
  } catch (err) {
    expect(isRustynetError(err), String(err)).to.equal(true);
    expect((err as { code: string }).code, String(err)).to.equal(code);
    if (field !== undefined) expect((err as { field?: string }).field).to.equal(field);
    return;
  }
  expect.fail(`expected ${code}`);
}

describe('relay client plugin', () => {
  let server: RelayServer;
  let keys: Record<string, TestKey>;
  let relayEp: { host: string; port: number };
  const plugins: RelayPlugin[] = [];
  const closers: Array<() => Promise<void>> = [];

  beforeEach(async () => {
    keys = { a: makeKey(), b: makeKey(), c: makeKey() };
    server = createRelayServer({
      listen: { host: '127.0.0.1', port: 0 },
      relayId: RELAY_ID,
      identityKeys: Object.fromEntries(Object.entries(keys).map(([id, k]) => [id, k.publicKeyB64])),
    });
    relayEp = await server.start();
  });

  afterEach(async () => {
    await Promise.all(plugins.splice(0).map((p) => p.stop()));
    await Promise.all(closers.splice(0).map((c) => c()));
    await server.stop();
  });

  function plugin(options: Record<string, unknown> = {}): RelayPlugin {
    const p = createPlugin(makeContext(options));
    plugins.push(p);
    return p;
  }

  async function started(id: string, options: Record<string, unknown> = {}): Promise<RelayPlugin> {
    const p = plugin(options);
    await p.start({ nodeId: id, relays: [{ id: RELAY_ID, endpoint: relayEp }], sign: keys[id].sign });
    return p;
  }

  it('reports its kind and capabilities (matching the manifest)', async () => {
    const p = plugin();
    expect(p.kind).to.equal('relay');
    const { readFile } = await import('node:fs/promises');
    const manifest = JSON.parse(await readFile(new URL('../../rustynet-plugin.json', import.meta.url), 'utf8'));
    expect(p.capabilities()).to.deep.equal(manifest.capabilities);
    expect(manifest.kind).to.equal('relay');
    expect(manifest.entry).to.equal('./dist/src/index.js');
    expect(manifest.apiVersions).to.include(API_VERSION);
    // the manifest's configSchema is the one the plugin enforces
    const strip = (o: Record<string, Record<string, unknown>>) =>
      Object.fromEntries(Object.entries(o).map(([k, v]) => [k, { type: v.type, minimum: v.minimum, maximum: v.maximum }]));
    expect(strip(manifest.configSchema.properties)).to.deep.equal(strip(relayClientConfigSchema.properties));
    expect(manifest.configSchema.additionalProperties).to.equal(false);
  });

  it('NOT_RUNNING before start, ALREADY_RUNNING on a second start, INVALID_INPUT changes nothing', async () => {
    const p = plugin();
    await expectCode(p.openPath({ peer: 'b', backendEndpoint: { host: '127.0.0.1', port: 5000 } }), 'NOT_RUNNING');
    expect(await p.status()).to.deep.equal([]);
    await p.closePath('b'); // no-op
    await p.stop(); // idempotent
    await expectCode(
      p.start({ nodeId: 'Not_A_Label', relays: [{ id: RELAY_ID, endpoint: relayEp }], sign: keys.a.sign }),
      'INVALID_INPUT',
      'nodeId',
    );
    await expectCode(p.start({ nodeId: 'a', relays: [], sign: keys.a.sign }), 'INVALID_INPUT', 'relays');
    await expectCode(
      p.start({ nodeId: 'a', relays: [{ id: RELAY_ID, endpoint: { host: 'relay.example', port: 1 } }], sign: keys.a.sign }),
      'INVALID_INPUT',
      'relays[0].endpoint.host',
    );
    await expectCode(p.openPath({ peer: 'b', backendEndpoint: { host: '127.0.0.1', port: 5000 } }), 'NOT_RUNNING');
    await p.start({ nodeId: 'a', relays: [{ id: RELAY_ID, endpoint: relayEp }], sign: keys.a.sign });
    await expectCode(p.start({ nodeId: 'a', relays: [{ id: RELAY_ID, endpoint: relayEp }], sign: keys.a.sign }), 'ALREADY_RUNNING');
    await expectCode(p.openPath({ peer: 'B!', backendEndpoint: { host: '127.0.0.1', port: 5000 } }), 'INVALID_INPUT', 'peer');
    await expectCode(p.openPath({ peer: 'b', backendEndpoint: { host: '127.0.0.1', port: 0 } }), 'INVALID_INPUT', 'backendEndpoint.port');
    await expectCode(p.openPath({ peer: 'a', backendEndpoint: { host: '127.0.0.1', port: 5000 } }), 'INVALID_INPUT', 'peer');
    expect(await p.status()).to.deep.equal([]);
    expect(server.stats().sessions).to.equal(1);
  });

  it('unknown or out-of-range options are refused by the configSchema the loader applies (CONFIG_INVALID)', async () => {
    // The daemon's loader validates options against the manifest's configSchema (ajv, defaults)
    // and throws CONFIG_INVALID; the plugin no longer re-checks them.
    const { readFile } = await import('node:fs/promises');
    const manifest = JSON.parse(await readFile(new URL('../../rustynet-plugin.json', import.meta.url), 'utf8'));
    const validate = new Ajv({ strict: false, useDefaults: true }).compile(manifest.configSchema);
    expect(validate({ bogus: 1 })).to.equal(false);
    expect(validate({ attemptTimeoutMs: 0 })).to.equal(false);
    expect(validate({ attemptTimeoutMs: 10 })).to.equal(true);
  });

  it('carries datagrams both ways between two backends through the relay (openPath)', async () => {
    const pa = await started('a');
    const pb = await started('b');
    const backendA = await udpSocket();
    const backendB = await udpSocket();
    closers.push(backendA.close, backendB.close);
    // a's backend talks to b through a's local endpoint for b, and vice versa
    const aToB = await pa.openPath({ peer: 'b', backendEndpoint: { host: '127.0.0.1', port: backendA.port } });
    const bToA = await pb.openPath({ peer: 'a', backendEndpoint: { host: '127.0.0.1', port: backendB.port } });
    expect(aToB.host).to.equal('127.0.0.1');
    // idempotent
    expect(await pa.openPath({ peer: 'b', backendEndpoint: { host: '127.0.0.1', port: backendA.port } })).to.deep.equal(aToB);

    const N = 200;
    for (let i = 0; i < N; i++) {
      backendA.socket.send(Buffer.from(`a->b ${i}`), aToB.port, aToB.host);
      const m = await backendB.next();
      expect(m.toString()).to.equal(`a->b ${i}`);
      // b's backend replies to the address the datagram came from, like WireGuard roaming does
      backendB.socket.send(Buffer.from(`b->a ${i}`), bToA.port, bToA.host);
      const r = await backendA.next();
      expect(r.toString()).to.equal(`b->a ${i}`);
    }
    // the backend sees the peer at the local endpoint
    const sa = await pa.status();
    expect(sa).to.deep.equal([{ peer: 'b', localEndpoint: aToB, relay: RELAY_ID, rxPackets: N, txPackets: N }]);
    const sb = await pb.status();
    expect(sb[0].rxPackets).to.equal(N);
    expect(server.stats().packetsForwarded).to.equal(2 * N);

    // a datagram from another local process on the path socket is not relayed
    const intruder = createSocket('udp4');
    await new Promise<void>((r) => intruder.bind(0, '127.0.0.1', () => r()));
    closers.push(() => new Promise((r) => intruder.close(() => r())));
    intruder.send(Buffer.from('inject'), aToB.port, aToB.host);
    backendA.socket.send(Buffer.from('after'), aToB.port, aToB.host);
    expect((await backendB.next()).toString()).to.equal('after');
    expect((await pa.status())[0].txPackets).to.equal(N + 1);

    // closePath: the endpoint goes away; the peer's datagrams are dropped
    await pa.closePath('b');
    expect(await pa.status()).to.deep.equal([]);
    const probe = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.bind(aToB.port, '127.0.0.1', () => resolve()); // the port is free again
    });
    await new Promise<void>((r) => probe.close(() => r()));
  });

  it('carries daemon probes (sendProbe/onProbe) between nodes, apart from the backend paths', async () => {
    const a = await started('a');
    const b = await started('b');
    const stopped = plugin();
    expect(stopped.sendProbe!('b', Buffer.from('x')), 'not running: nothing sent').to.equal(false);
    const got: Array<{ from: string; payload: string }> = [];
    let wake: () => void = () => {};
    b.onProbe!((from, payload) => {
      got.push({ from, payload: payload.toString() });
      wake();
    });
    const arrived = (n: number): Promise<void> =>
      new Promise<void>((resolve) => {
        wake = () => {
          if (got.length >= n) resolve();
        };
        wake();
      });
    // A backend path to a is open on b: a probe must not reach it.
    const backend = await udpSocket();
    closers.push(backend.close);
    await b.openPath({ peer: 'a', backendEndpoint: { host: '127.0.0.1', port: backend.port } });
    expect(a.sendProbe!('b', Buffer.from('ping-1'))).to.equal(true);
    await arrived(1);
    expect(got).to.deep.equal([{ from: 'a', payload: 'ping-1' }]);
    // Refused without sending: this node itself, a non-id, an empty or oversized payload.
    expect(a.sendProbe!('a', Buffer.from('x'))).to.equal(false);
    expect(a.sendProbe!('Not_A_Label', Buffer.from('x'))).to.equal(false);
    expect(a.sendProbe!('b', Buffer.alloc(0))).to.equal(false);
    expect(a.sendProbe!('b', Buffer.alloc(257))).to.equal(false);
    expect(a.sendProbe!('b', Buffer.from('ping-2'))).to.equal(true);
    await arrived(2);
    expect(got.map((g) => g.payload)).to.deep.equal(['ping-1', 'ping-2']);
    expect(backend.received, 'no probe reached the backend').to.deep.equal([]);
    // Without a handler the probe is dropped (counted), nothing else happens.
    b.onProbe!(undefined);
    expect(a.sendProbe!('b', Buffer.from('ping-3'))).to.equal(true);
  });

  it('works over IPv6 and dual-stack: a v4 node and a v6 node through a relay on [::]', async () => {
    const dual = createRelayServer({
      listen: { host: '::', port: 0 },
      relayId: RELAY_ID,
      identityKeys: { a: keys.a.publicKeyB64, b: keys.b.publicKeyB64 },
    });
    const ep = await dual.start();
    closers.push(() => dual.stop());
    const pa = plugin();
    await pa.start({ nodeId: 'a', relays: [{ id: RELAY_ID, endpoint: { host: '127.0.0.1', port: ep.port } }], sign: keys.a.sign });
    const pb = plugin();
    await pb.start({ nodeId: 'b', relays: [{ id: RELAY_ID, endpoint: { host: '::1', port: ep.port } }], sign: keys.b.sign });
    const backendA = await udpSocket();
    closers.push(backendA.close);
    const backendB = createSocket('udp6');
    await new Promise<void>((r) => backendB.bind(0, '::1', () => r()));
    closers.push(() => new Promise((r) => backendB.close(() => r())));
    const aToB = await pa.openPath({ peer: 'b', backendEndpoint: { host: '127.0.0.1', port: backendA.port } });
    const bToA = await pb.openPath({ peer: 'a', backendEndpoint: { host: '::1', port: backendB.address().port } });
    expect(bToA.host).to.equal('::1');
    const gotB = new Promise<Buffer>((r) => backendB.once('message', r));
    backendA.socket.send(Buffer.from('v4->v6'), aToB.port, aToB.host);
    expect((await gotB).toString()).to.equal('v4->v6');
    backendB.send(Buffer.from('v6->v4'), bToA.port, bToA.host);
    expect((await backendA.next()).toString()).to.equal('v6->v4');
    expect(dual.stats().sessions).to.equal(2);
  });

  it('relays a full-size datagram unchanged', async () => {
    const pa = await started('a');
    const pb = await started('b');
    const backendA = await udpSocket();
    const backendB = await udpSocket();
    closers.push(backendA.close, backendB.close);
    const ep = await pa.openPath({ peer: 'b', backendEndpoint: { host: '127.0.0.1', port: backendA.port } });
    await pb.openPath({ peer: 'a', backendEndpoint: { host: '127.0.0.1', port: backendB.port } });
    const big = Buffer.alloc(60_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
    backendA.socket.send(big, ep.port, ep.host);
    expect((await backendB.next()).equals(big)).to.equal(true);
  });

  it('start fails with RELAY_FAILED when the relay refuses the signature; state stays stopped', async () => {
    const p = plugin({ attemptTimeoutMs: 200, initialBackoffMs: 10, maxBackoffMs: 20 });
    await expectCode(
      p.start({ nodeId: 'a', relays: [{ id: RELAY_ID, endpoint: relayEp }], sign: keys.b.sign }, { timeoutMs: 300 }),
      'RELAY_FAILED',
    );
    await expectCode(p.openPath({ peer: 'b', backendEndpoint: { host: '127.0.0.1', port: 5000 } }), 'NOT_RUNNING');
    expect(server.stats().sessions).to.equal(0);
    expect(server.stats().drops.bad_signature).to.be.greaterThan(0);
    // and it can start properly afterwards
    await p.start({ nodeId: 'a', relays: [{ id: RELAY_ID, endpoint: relayEp }], sign: keys.a.sign });
    expect(server.stats().sessions).to.equal(1);
  });

  it('an aborted start rejects with ABORTED', async () => {
    const p = plugin();
    const ac = new AbortController();
    ac.abort();
    await expectCode(
      p.start({ nodeId: 'a', relays: [{ id: RELAY_ID, endpoint: relayEp }], sign: keys.a.sign }, { signal: ac.signal }),
      'ABORTED',
    );
  });

  it('stop() during a start that is still trying makes start reject with ABORTED', async () => {
    const dead = createSocket('udp4');
    await new Promise<void>((r) => dead.bind(0, '127.0.0.1', () => r()));
    closers.push(() => new Promise((r) => dead.close(() => r())));
    const p = plugin({ attemptTimeoutMs: 60000 });
    const starting = p.start({
      nodeId: 'a',
      relays: [{ id: 'dead', endpoint: { host: '127.0.0.1', port: dead.address().port } }],
      sign: keys.a.sign,
    });
    await new Promise((r) => dead.once('message', r)); // the HELLO arrived: start is waiting
    await p.stop();
    await expectCode(starting, 'ABORTED');
    await expectCode(p.openPath({ peer: 'b', backendEndpoint: { host: '127.0.0.1', port: 5000 } }), 'NOT_RUNNING');
  });

  it('falls over to the next relay when the first does not answer', async () => {
    // a bound socket that never answers stands in for a dead relay
    const dead = createSocket('udp4');
    await new Promise<void>((r) => dead.bind(0, '127.0.0.1', () => r()));
    closers.push(() => new Promise((r) => dead.close(() => r())));
    const p = plugin({ attemptTimeoutMs: 50 });
    await p.start({
      nodeId: 'a',
      relays: [
        { id: 'dead', endpoint: { host: '127.0.0.1', port: dead.address().port } },
        { id: RELAY_ID, endpoint: relayEp },
      ],
      sign: keys.a.sign,
    });
    expect(server.stats().sessions).to.equal(1);
  });

  it('registers again when the relay restarts and forgets the session', async () => {
    const opts = { attemptTimeoutMs: 100, initialBackoffMs: 10, maxBackoffMs: 50 };
    const pa = await started('a', opts);
    const pb = await started('b', opts);
    const backendA = await udpSocket();
    const backendB = await udpSocket();
    closers.push(backendA.close, backendB.close);
    const ep = await pa.openPath({ peer: 'b', backendEndpoint: { host: '127.0.0.1', port: backendA.port } });
    const epB = await pb.openPath({ peer: 'a', backendEndpoint: { host: '127.0.0.1', port: backendB.port } });
    backendA.socket.send(Buffer.from('before'), ep.port, ep.host);
    expect((await backendB.next()).toString()).to.equal('before');

    await server.stop();
    server = createRelayServer({
      listen: relayEp,
      relayId: RELAY_ID,
      identityKeys: Object.fromEntries(Object.entries(keys).map(([id, k]) => [id, k.publicKeyB64])),
    });
    await server.start();
    // Both sides send until a datagram gets through: each is told NOT_REGISTERED and registers
    // again. No timing is asserted; the mocha timeout bounds the wait.
    let got: string | undefined;
    const pump = setInterval(() => {
      backendA.socket.send(Buffer.from('after'), ep.port, ep.host);
      backendB.socket.send(Buffer.from('ping'), epB.port, epB.host);
    }, 20);
    try {
      while (got !== 'after') got = (await backendB.next()).toString();
    } finally {
      clearInterval(pump);
    }
    expect(server.stats().registrations).to.be.at.least(2);
  });

  it('stop closes the relay session sockets and every path', async () => {
    const pa = await started('a');
    const ep = await pa.openPath({ peer: 'b', backendEndpoint: { host: '127.0.0.1', port: 5555 } });
    await pa.stop();
    expect(await pa.status()).to.deep.equal([]);
    await expectCode(pa.openPath({ peer: 'b', backendEndpoint: { host: '127.0.0.1', port: 5555 } }), 'NOT_RUNNING');
    const probe = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.bind(ep.port, '127.0.0.1', () => resolve());
    });
    await new Promise<void>((r) => probe.close(() => r()));
  });
});
