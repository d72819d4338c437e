/**
 * The relay client's handling of definite refusals (REJECT BAD_SIGNATURE / UNKNOWN_NODE) versus
 * transient failures. Loopback only; nothing is timed: attempts are counted (server drop counters,
 * HELLOs through a proxy) and back-offs are read from a recording clock.
 */
import { expect } from 'chai';
import type { RelayPlugin } from '@rustynet/plugin-api';
import { createPlugin, createRelayServer, protocol, type RelayServer } from '../src/index.js';
import { RecordingClock, RecordingLogger, makeContext, makeKey, rejection, udpSocket, type TestKey } from './helpers.js';
import { udpProxy, type UdpProxy } from './udp-proxy.js';

const RELAY_ID = 'relay-1';

/** A UDP proxy in front of the relay that drops the first `dropHellos` HELLOs and counts them. */
async function lossyProxy(target: { host: string; port: number }, dropHellos: number): Promise<UdpProxy & { hellos: () => number }> {
  let hellos = 0;
  const proxy = await udpProxy(target, { up: (m) => (m[1] === protocol.MessageType.HELLO && ++hellos <= dropHellos ? undefined : m) });
  return { ...proxy, hellos: () => hellos };
}

describe('relay client: definite refusals and transient failures', () => {
  let server: RelayServer;
  let keys: Record<string, TestKey>;
  let allowlist: Record<string, string>;
  let relayEp: { host: string; port: number };
  const plugins: RelayPlugin[] = [];
  const closers: Array<() => Promise<void>> = [];

  beforeEach(async () => {
    keys = { a: makeKey(), b: makeKey() };
    allowlist = { a: keys.a.publicKeyB64, b: keys.b.publicKeyB64 };
    server = createRelayServer({ listen: { host: '127.0.0.1', port: 0 }, relayId: RELAY_ID, identityKeys: allowlist });
    relayEp = await server.start();
  });

  afterEach(async () => {
    await Promise.all(plugins.splice(0).map((p) => p.stop()));
    await Promise.all(closers.splice(0).map((c) => c()));
    await server.stop();
  });

  function plugin(options: Record<string, unknown> = {}, clock = new RecordingClock(), logger = new RecordingLogger()) {
    const context = makeContext(options, { clock, logger });
    const p = createPlugin(context);
    plugins.push(p);
    return { p, clock, logger, metrics: context.metrics };
  }

  it('wrong key: start rejects at the first refusal with RELAY_FAILED, reason BAD_SIGNATURE (one REGISTER, no back-off)', async () => {
    const { p, clock, metrics } = plugin();
    // The default deadline (30 s) applies: a prompt rejection is shown by one attempt and no sleep.
    const err = await rejection(p.start({ nodeId: 'a', relays: [{ id: RELAY_ID, endpoint: relayEp }], sign: keys.b.sign }));
    expect(err.code).to.equal('RELAY_FAILED');
    expect(err.message).to.equal(
      "relay relay-1 refused registration of node a: BAD_SIGNATURE (the node's identity key does not match the netmap)",
    );
    expect(err.details).to.include({ reason: 'BAD_SIGNATURE', relay: RELAY_ID, node: 'a' });
    expect(server.stats().drops.bad_signature).to.equal(1); // exactly one REGISTER reached the signature check
    expect(server.stats().registrations).to.equal(0);
    expect(clock.sleeps).to.deep.equal([]); // no back-off round
    expect(metrics.values.get('relay_client_refusals_total{relay="relay-1",reason="BAD_SIGNATURE"}')).to.equal(1);
    const e2 = await rejection(p.openPath({ peer: 'b', backendEndpoint: { host: '127.0.0.1', port: 5000 } }));
    expect(e2.code).to.equal('NOT_RUNNING');
    // the plugin is stopped and can start properly afterwards
    await p.start({ nodeId: 'a', relays: [{ id: RELAY_ID, endpoint: relayEp }], sign: keys.a.sign });
    expect(server.stats().sessions).to.equal(1);
  });

  it('unknown node: start rejects at the first refusal with RELAY_FAILED, reason UNKNOWN_NODE', async () => {
    const stranger = makeKey();
    const { p, clock } = plugin();
    const err = await rejection(p.start({ nodeId: 'z', relays: [{ id: RELAY_ID, endpoint: relayEp }], sign: stranger.sign }));
    expect(err.code).to.equal('RELAY_FAILED');
    expect(err.message).to.match(/^relay relay-1 refused registration of node z: UNKNOWN_NODE \(/);
    expect(err.details).to.include({ reason: 'UNKNOWN_NODE', relay: RELAY_ID });
    expect(server.stats().drops.unknown_node).to.equal(1);
    expect(clock.sleeps).to.deep.equal([]);
  });

  it('several relays: a refusing relay is skipped; start rejects once every relay refused, naming each', async () => {
    const other = createRelayServer({
      listen: { host: '127.0.0.1', port: 0 },
      relayId: 'relay-2',
      identityKeys: { b: keys.b.publicKeyB64 },
    });
    const ep2 = await other.start();
    closers.push(() => other.stop());
    const { p, clock } = plugin();
    const relays = [
      { id: RELAY_ID, endpoint: relayEp },
      { id: 'relay-2', endpoint: ep2 },
    ];
    const err = await rejection(p.start({ nodeId: 'a', relays, sign: keys.b.sign }));
    expect(err.code).to.equal('RELAY_FAILED');
    expect(err.details).to.include({ reason: 'BAD_SIGNATURE', relay: RELAY_ID });
    expect(err.message)
      .to.include('relay relay-1 refused registration of node a: BAD_SIGNATURE')
      .and.include('relay relay-2 refused registration of node a: UNKNOWN_NODE');
    expect(server.stats().drops.bad_signature).to.equal(1);
    expect(other.stats().drops.unknown_node).to.equal(1);
    expect(clock.sleeps).to.deep.equal([]);
  });

  it('transient loss is still retried with back-off (lost HELLOs, then registered)', async () => {
    const proxy = await lossyProxy(relayEp, 2);
    closers.push(proxy.close);
    const { p, clock } = plugin({ attemptTimeoutMs: 50, initialBackoffMs: 10, maxBackoffMs: 40 });
    await p.start({ nodeId: 'a', relays: [{ id: RELAY_ID, endpoint: proxy.endpoint }], sign: keys.a.sign });
    expect(proxy.hellos()).to.equal(3);
    expect(clock.sleeps).to.have.length(2); // one back-off after each lost attempt
    expect(server.stats().sessions).to.equal(1);
  });

  it('transient loss until the deadline still ends in RELAY_FAILED "no relay reachable", after several attempts', async () => {
    const proxy = await lossyProxy(relayEp, Number.MAX_SAFE_INTEGER);
    closers.push(proxy.close);
    const { p, clock } = plugin({ attemptTimeoutMs: 20, initialBackoffMs: 5, maxBackoffMs: 10 });
    const err = await rejection(
      p.start({ nodeId: 'a', relays: [{ id: RELAY_ID, endpoint: proxy.endpoint }], sign: keys.a.sign }, { timeoutMs: 300 }),
    );
    expect(err.code).to.equal('RELAY_FAILED');
    expect(err.message).to.match(/^no relay reachable within 300 ms/);
    expect(proxy.hellos()).to.be.greaterThan(1);
    expect(clock.sleeps.length).to.be.greaterThan(0);
  });

  it('while running: a refused re-registration is logged at error level, counted, stops forwarding, and is retried at the largest back-off until the netmap accepts the node again', async () => {
    const opts = { keepaliveIntervalMs: 100, attemptTimeoutMs: 100, initialBackoffMs: 10, maxBackoffMs: 40 };
    const a = plugin(opts);
    const b = plugin(opts);
    await a.p.start({ nodeId: 'a', relays: [{ id: RELAY_ID, endpoint: relayEp }], sign: keys.a.sign });
    await b.p.start({ nodeId: 'b', relays: [{ id: RELAY_ID, endpoint: relayEp }], sign: keys.b.sign });
    const backendA = await udpSocket();
    const backendB = await udpSocket();
    closers.push(backendA.close, backendB.close);
    const aToB = await a.p.openPath({ peer: 'b', backendEndpoint: { host: '127.0.0.1', port: backendA.port } });
    await b.p.openPath({ peer: 'a', backendEndpoint: { host: '127.0.0.1', port: backendB.port } });
    backendA.socket.send(Buffer.from('before'), aToB.port, aToB.host);
    expect((await backendB.next()).toString()).to.equal('before');

    // The relay's netmap now lists another key for a: a's session ends at once; a's next keepalive
    // is answered NOT_REGISTERED, and its re-registration is refused with BAD_SIGNATURE.
    const refusals = (): number => a.metrics.values.get('relay_client_refusals_total{relay="relay-1",reason="BAD_SIGNATURE"}') ?? 0;
    const refusalsAtSleep: number[] = [];
    a.clock.onSleep = () => refusalsAtSleep.push(refusals());
    server.setIdentityKeys({ ...allowlist, a: keys.b.publicKeyB64 });
    await a.clock.untilSleep(() => refusals() >= 3);

    const info = (a.p as unknown as { info(): { relay: string | null; refused: Record<string, string> } }).info();
    expect(info.relay).to.equal(null); // no session: the backend's datagrams are dropped (no_session)
    expect(info.refused).to.deep.equal({ [RELAY_ID]: 'BAD_SIGNATURE' });
    const errors = a.logger.records.filter((r) => r.level === 'error');
    expect(errors, 'one error record per refusal reason, not one per attempt').to.have.length(1);
    expect(JSON.stringify(errors[0])).to.include('BAD_SIGNATURE').and.include(RELAY_ID);
    // every back-off after a refusal is the largest one (with its jitter of 0.5..1)
    const after = a.clock.sleeps.filter((_, i) => refusalsAtSleep[i] > 0);
    expect(after.length).to.be.at.least(2);
    for (const ms of after) expect(ms).to.be.within(opts.maxBackoffMs / 2, opts.maxBackoffMs);
    expect(server.stats().drops.bad_signature).to.be.at.least(3);

    // The netmap changes back: the next retry registers again and datagrams flow.
    server.setIdentityKeys(allowlist);
    const pump = setInterval(() => backendA.socket.send(Buffer.from('after'), aToB.port, aToB.host), 20);
    try {
      let got: string | undefined;
      while (got !== 'after') got = (await backendB.next()).toString();
    } finally {
      clearInterval(pump);
    }
    const later = (a.p as unknown as { info(): { relay: string | null; refused: Record<string, string> } }).info();
    expect(later.relay).to.equal(RELAY_ID);
    expect(later.refused).to.deep.equal({});
    expect(a.metrics.values.get('relay_client_registrations_total{relay="relay-1"}')).to.equal(2);
  });
});
