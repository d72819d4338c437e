import { expect } from 'chai';
import { isRustynetError, RustynetError, type DnsStartConfig, type DnsZoneData, type PolicyInput } from '@rustynet/plugin-api';
import { Reconciler } from '../src/reconciler/reconciler.js';
import { DnsController, ipKey } from '../src/dns/dns-controller.js';
import { createLogger } from '../src/services/logger.js';
import { FAKE_KEY_SCHEMA, FAKE_PROTOCOL, RecordingBackend, RecordingPolicy, makeNetmap, type Call } from './helpers.js';

describe('reconciler: policy interfaces read at the policy step', () => {
  function setUp() {
    const b = new RecordingBackend();
    const calls = b.calls;
    const policy = new RecordingPolicy(calls);
    const r = new Reconciler({ backend: b, backendProtocol: FAKE_PROTOCOL, peerKeySchema: FAKE_KEY_SCHEMA, policy });
    let interfaces: string[] = [];
    const read = async (): Promise<readonly string[]> => {
      calls.push({ method: 'read', arg: null });
      return interfaces;
    };
    return { b, calls, policy, r, read, setInterfaces: (i: string[]) => (interfaces = i) };
  }

  it('reads the interfaces once, after peers and routes, and applies the policy with them (deduplicated, sorted)', async () => {
    const { calls, r, read, setInterfaces } = setUp();
    setInterfaces(['tun-b', 'tun-a', 'tun-b']);
    const res = await r.reconcile(makeNetmap(3), 'n0', read);
    expect(res.steps).to.deep.equal(['peers', 'routes', 'policy']);
    expect(calls.map((c) => c.method)).to.deep.equal(['applyPeers', 'applyRoutes', 'read', 'policy.apply']);
    expect((calls[3].arg as PolicyInput).interfaces).to.deep.equal(['tun-a', 'tun-b']);
    expect(r.actual.policy!.interfaces).to.deep.equal(['tun-a', 'tun-b']);
  });

  it('skips the policy while there is no interface, and applies it in the apply that brings one', async () => {
    const { calls, r, read, setInterfaces } = setUp();
    const nm = makeNetmap(1);
    const first = await r.reconcile(nm, 'n0', read);
    expect(first.steps).to.deep.equal([]);
    expect(first.noop).to.equal(true);
    expect(calls.map((c) => c.method)).to.deep.equal(['read']);
    expect(r.actual.policy).to.equal(undefined);
    // Peers arrive and with them the device: one apply does peers, routes and the policy.
    calls.length = 0;
    const nm2 = makeNetmap(2, 2);
    nm2.nodes[0] = nm.nodes[0]!;
    setInterfaces([]);
    const readAfterPeers = async (): Promise<readonly string[]> => {
      calls.push({ method: 'read', arg: null });
      return calls.some((c) => c.method === 'applyPeers') ? ['tun-n1'] : [];
    };
    const second = await r.reconcile(nm2, 'n0', readAfterPeers);
    expect(second.steps).to.deep.equal(['peers', 'routes', 'policy']);
    expect(calls.map((c) => c.method)).to.deep.equal(['applyPeers', 'applyRoutes', 'read', 'policy.apply']);
    // Same netmap, same interfaces: one read, no call.
    calls.length = 0;
    const third = await r.reconcile(nm2, 'n0', readAfterPeers);
    expect(third.noop).to.equal(true);
    expect(calls.map((c) => c.method)).to.deep.equal(['read']);
  });

  it('rolls peers and routes back when the interface read or the policy fails (fail closed)', async () => {
    const { b, calls, policy, r, setInterfaces, read } = setUp();
    setInterfaces(['tun0']);
    policy.fail = true;
    const err = await r.reconcile(makeNetmap(3), 'n0', read).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isRustynetError(err, 'POLICY_FAILED')).to.equal(true);
    expect((err as RustynetError).details).to.deep.include({ step: 'policy', rolledBack: ['routes', 'peers'] });
    expect(b.peers.size).to.equal(0);
    policy.fail = false;
    calls.length = 0;
    const broken = async (): Promise<readonly string[]> => {
      throw new RustynetError('BACKEND_FAILED', 'stats failed');
    };
    const err2 = await r.reconcile(makeNetmap(3), 'n0', broken).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isRustynetError(err2, 'BACKEND_FAILED')).to.equal(true);
    expect(calls.map((c: Call) => c.method)).to.deep.equal(['applyPeers', 'applyRoutes', 'applyRoutes', 'applyPeers']);
    expect(b.peers.size).to.equal(0);
    expect(r.actual.peers.size).to.equal(0);
  });

  it('never reads interfaces without a policy target', async () => {
    const b = new RecordingBackend();
    const r = new Reconciler({ backend: b, backendProtocol: FAKE_PROTOCOL, peerKeySchema: FAKE_KEY_SCHEMA });
    let reads = 0;
    await r.reconcile(makeNetmap(2), 'n0', async () => {
      reads += 1;
      return ['x'];
    });
    expect(reads).to.equal(0);
  });

  it('syncPolicy re-applies only when the interfaces changed and at least one exists', async () => {
    const { calls, r, read, setInterfaces } = setUp();
    const nm = makeNetmap(2);
    setInterfaces(['tun-n1']);
    await r.reconcile(nm, 'n0', read);
    calls.length = 0;
    expect(await r.syncPolicy(nm, 'n0', read)).to.equal(false);
    setInterfaces(['tun-n1', 'tun-x']);
    expect(await r.syncPolicy(nm, 'n0', read)).to.equal(true);
    setInterfaces([]);
    expect(await r.syncPolicy(nm, 'n0', read)).to.equal(false);
    expect(calls.map((c) => c.method)).to.deep.equal(['read', 'read', 'policy.apply', 'read']);
    expect(r.actual.policy!.interfaces).to.deep.equal(['tun-n1', 'tun-x']);
  });
});

describe('DnsController', () => {
  const zone: DnsZoneData = { zone: 'rustynet', nodes: [{ id: 'n0', name: 'n0', addresses: ['100.64.0.1'] }] };

  function setUp(assigned: string[]) {
    const calls: Array<{ m: string; a?: unknown }> = [];
    const fake = {
      failStart: false,
      async start(cfg: DnsStartConfig) {
        calls.push({ m: 'start', a: cfg });
        if (fake.failStart) throw new RustynetError('DNS_FAILED', 'cannot listen');
      },
      async stop() {
        calls.push({ m: 'stop' });
      },
      async update(z: DnsZoneData) {
        calls.push({ m: 'update', a: z });
      },
    };
    const c = new DnsController({
      plugin: fake,
      port: 53,
      lookup: () => assigned,
      logger: createLogger({ level: 'silent' }),
      clock: { now: () => 0 },
      callOptions: () => ({ timeoutMs: 1000 }),
    });
    return { c, calls, fake };
  }

  it('canonical IP keys', () => {
    expect(ipKey('fd00:0:0::1')).to.equal(ipKey('fd00::1'));
    expect(ipKey('FD00::1')).to.equal(ipKey('fd00::1'));
    expect(ipKey('fe80::1%eth0')).to.equal(ipKey('fe80::1'));
    expect(ipKey('100.64.0.1')).to.not.equal(ipKey('100.64.0.2'));
    expect(ipKey('nope')).to.equal(undefined);
  });

  it('listens on the assigned mesh addresses (once each, any IPv6 spelling) plus loopback', async () => {
    const { c } = setUp(['127.0.0.1', '100.64.0.1', '100.64.0.1', 'fd00::1', '10.0.0.9']);
    c.setDesired(['100.64.0.1/32', 'fd00:0:0::1/128', '100.64.0.7/32'], zone);
    expect(await c.wantedListeners()).to.deep.equal([
      { host: '100.64.0.1', port: 53 },
      { host: 'fd00:0:0::1', port: 53 },
      { host: '127.0.0.1', port: 53 },
    ]);
  });

  it('sync is idempotent; a failed start is retried; stop forgets everything', async () => {
    const { c, calls, fake } = setUp(['100.64.0.1']);
    expect(await c.sync()).to.equal(true); // nothing desired yet
    expect(calls).to.deep.equal([]);
    c.setDesired(['100.64.0.1/32'], zone);
    fake.failStart = true;
    expect(await c.sync()).to.equal(false);
    expect(calls.map((x) => x.m)).to.deep.equal(['start', 'stop']);
    expect(c.status()).to.deep.include({ listen: [], ok: false, failures: 1 });
    fake.failStart = false;
    calls.length = 0;
    expect(await c.sync()).to.equal(true);
    expect(calls.map((x) => x.m)).to.deep.equal(['start', 'update']);
    calls.length = 0;
    expect(await c.sync()).to.equal(true);
    expect(calls).to.deep.equal([]);
    expect(c.status()).to.deep.include({ listen: ['100.64.0.1:53', '127.0.0.1:53'], ok: true, failures: 1 });
    await c.stop();
    expect(calls.map((x) => x.m)).to.deep.equal(['stop']);
    expect(c.status().listen).to.deep.equal([]);
    calls.length = 0;
    expect(await c.sync()).to.equal(true); // desired state cleared with stop
    expect(calls).to.deep.equal([]);
  });
});
