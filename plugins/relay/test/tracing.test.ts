/**
 * The relay client's spans against the real OpenTelemetry SDK (NodeTracerProvider with an
 * InMemorySpanExporter), with real relay servers on loopback: registration accepted and refused
 * (client and server side), a relayed session's set-up, and a failover after a relay stops. No attribute carries a key or
 * a signature. Nothing is timed: the failover is awaited, never measured.
 */
import { expect } from 'chai';
import { SpanStatusCode, context, propagation, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { RelayPlugin } from '@rustynet/plugin-api';
import { createPlugin, createRelayServer, type RelayServer } from '../src/index.js';
import { makeContext, makeKey, udpSocket, type TestKey } from './helpers.js';

const exporter = new InMemorySpanExporter();
let provider: NodeTracerProvider;

function spans(name: string): ReadableSpan[] {
  return exporter.getFinishedSpans().filter((s) => s.name === name);
}

/** Waits (no bound but mocha's timeout) until `cond` holds, polling every 20 ms. */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 20));
}

/** No attribute of any finished span holds `secret` or is named like a key or signature. */
function expectNoSecrets(secrets: string[]): void {
  for (const s of exporter.getFinishedSpans()) {
    for (const [k, v] of Object.entries(s.attributes)) {
      expect(k, `${s.name} attribute name`).to.not.match(/(key|signature|token|secret)$/i);
      for (const secret of secrets) expect(String(v), `${s.name} ${k}`).to.not.include(secret);
    }
  }
}

describe('relay client tracing', function () {
  this.timeout(20_000);
  let keys: Record<string, TestKey>;
  const servers: RelayServer[] = [];
  const plugins: RelayPlugin[] = [];

  before(() => {
    provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    provider.register();
  });
  after(async () => {
    await provider.shutdown();
    trace.disable();
    context.disable();
    propagation.disable();
  });

  beforeEach(() => {
    exporter.reset();
    keys = { a: makeKey(), b: makeKey() };
  });
  afterEach(async () => {
    await Promise.all(plugins.splice(0).map((p) => p.stop()));
    await Promise.all(servers.splice(0).map((s) => s.stop()));
  });

  async function relay(id: string): Promise<{ id: string; endpoint: { host: string; port: number } }> {
    const s = createRelayServer({
      listen: { host: '127.0.0.1', port: 0 },
      relayId: id,
      identityKeys: { a: keys.a.publicKeyB64, b: keys.b.publicKeyB64 },
    });
    servers.push(s);
    return { id, endpoint: await s.start() };
  }

  function client(options: Record<string, unknown> = {}): RelayPlugin {
    const p = createPlugin(makeContext(options));
    plugins.push(p);
    return p;
  }

  it('registration accepted: span relay.register with node, relay, carrier, mode, outcome registered; status unset', async () => {
    const r1 = await relay('relay-1');
    await client().start({ nodeId: 'a', relays: [r1], sign: keys.a.sign });
    const [s, ...more] = spans('relay.register');
    expect(more).to.have.length(0);
    expect(s.attributes).to.deep.include({
      'rustynet.node.id': 'a',
      'rustynet.relay.id': 'relay-1',
      'rustynet.relay.endpoint': `127.0.0.1:${r1.endpoint.port}`,
      'rustynet.relay.carrier': 'udp',
      'rustynet.relay.register_mode': 'start',
      'rustynet.relay.authenticated': false,
      'rustynet.outcome': 'registered',
    });
    expect(s.attributes['rustynet.relay.keepalive_ms']).to.be.a('number');
    expect(s.status.code).to.equal(SpanStatusCode.UNSET);
    expectNoSecrets([keys.a.publicKeyB64]);
  });

  it('registration refused (wrong key): status ERROR, error.type RELAY_FAILED, outcome refused, reason BAD_SIGNATURE', async () => {
    const r1 = await relay('relay-1');
    const p = client();
    let failed = false;
    await p.start({ nodeId: 'a', relays: [r1], sign: keys.b.sign }).catch(() => (failed = true));
    expect(failed).to.equal(true);
    const [s] = spans('relay.register');
    expect(s.status.code).to.equal(SpanStatusCode.ERROR);
    expect(s.status.message).to.match(/refused registration of node a: BAD_SIGNATURE/);
    expect(s.attributes).to.deep.include({
      'error.type': 'RELAY_FAILED',
      'rustynet.outcome': 'refused',
      'rustynet.relay.refusal_reason': 'BAD_SIGNATURE',
    });
    expectNoSecrets([keys.a.publicKeyB64, keys.b.publicKeyB64]);
  });

  it('a relay that does not answer: outcome failed, error.type TIMEOUT; the next relay registers', async () => {
    const dead = await relay('relay-dead');
    await servers.shift()!.stop();
    const r2 = await relay('relay-2');
    await client({ attemptTimeoutMs: 100 }).start({ nodeId: 'a', relays: [dead, r2], sign: keys.a.sign });
    expect(
      spans('relay.register').map((s) => [s.attributes['rustynet.relay.id'], s.attributes['rustynet.outcome'], s.attributes['error.type']]),
    ).to.deep.equal([
      ['relay-dead', 'failed', 'TIMEOUT'],
      ['relay-2', 'registered', undefined],
    ]);
  });

  it('relayed session set-up: span relay.session.setup with peer, relay and the local endpoint', async () => {
    const r1 = await relay('relay-1');
    const p = client();
    await p.start({ nodeId: 'a', relays: [r1], sign: keys.a.sign });
    const backend = await udpSocket();
    try {
      const local = await p.openPath({ peer: 'b', backendEndpoint: { host: '127.0.0.1', port: backend.port } });
      const [s] = spans('relay.session.setup');
      expect(s.attributes).to.deep.equal({
        'rustynet.node.id': 'a',
        'rustynet.peer.id': 'b',
        'rustynet.relay.id': 'relay-1',
        'rustynet.relay.local_endpoint': `${local.host}:${local.port}`,
      });
      expect(s.status.code).to.equal(SpanStatusCode.UNSET);
    } finally {
      await backend.close();
    }
  });

  it('relay server: relay.server.register for an accepted and a refused registration (status unset, reason named)', async () => {
    const r1 = await relay('relay-1');
    await client().start({ nodeId: 'a', relays: [r1], sign: keys.a.sign });
    await client()
      .start({ nodeId: 'b', relays: [r1], sign: keys.a.sign })
      .catch(() => undefined);
    const server = spans('relay.server.register');
    expect(
      server.map((s) => [
        s.attributes['rustynet.node.id'],
        s.attributes['rustynet.outcome'],
        s.attributes['rustynet.relay.refusal_reason'],
      ]),
    ).to.deep.equal([
      ['a', 'registered', undefined],
      ['b', 'refused', 'BAD_SIGNATURE'],
    ]);
    for (const s of server) {
      expect(s.attributes).to.deep.include({
        'rustynet.relay.id': 'relay-1',
        'rustynet.relay.authenticated': false,
        'client.address': '127.0.0.1',
      });
      expect(s.status.code).to.equal(SpanStatusCode.UNSET);
    }
    expectNoSecrets([keys.a.publicKeyB64, keys.b.publicKeyB64]);
  });

  it('failover: the home relay stops; span relay.failover from relay-1 to relay-2, which was already registered', async () => {
    const r1 = await relay('relay-1');
    const r2 = await relay('relay-2');
    const p = client({ keepaliveIntervalMs: 100, keepaliveMisses: 1, attemptTimeoutMs: 100, initialBackoffMs: 50, maxBackoffMs: 100 });
    await p.start({ nodeId: 'a', relays: [r1, r2], sign: keys.a.sign });
    // The client registers with every relay; relay-1 (first to answer at start) is home.
    await until(() => spans('relay.register').some((s) => s.attributes['rustynet.relay.id'] === 'relay-2'));
    await until(() => (p.relays?.() ?? []).find((r) => r.id === 'relay-1')?.home === true);
    await servers[0].stop();
    await until(() => spans('relay.failover').length > 0);
    const [f] = spans('relay.failover');
    expect(f.attributes).to.deep.include({
      'rustynet.node.id': 'a',
      'rustynet.relay.from': 'relay-1',
      'rustynet.relay.to': 'relay-2',
      'rustynet.outcome': 'switched',
    });
    expect(f.attributes['rustynet.relay.failover_reason']).to.be.oneOf(['home unhealthy', 'home lost']);
    const r2reg = spans('relay.register').filter((s) => s.attributes['rustynet.relay.id'] === 'relay-2');
    expect(r2reg.map((s) => s.attributes['rustynet.outcome'])).to.include('registered');
  });
});
