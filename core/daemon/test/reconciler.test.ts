import { expect } from 'chai';
import { isRustynetError, type PeerBatch, type RouteChange } from '@rustynet/plugin-api';
import { Reconciler } from '../src/reconciler/reconciler.js';
import { diffPeers, diffRoutes } from '../src/reconciler/diff.js';
import { dnsZoneFrom, policyInputFrom } from '../src/reconciler/plan.js';
import { DaemonHooks } from '../src/hooks/daemon-hooks.js';
import { DnsController } from '../src/dns/dns-controller.js';
import { createLogger } from '../src/services/logger.js';
import { FAKE_KEY_SCHEMA, FAKE_PROTOCOL, RecordingBackend, RecordingDns, RecordingPolicy, makeNetmap, makeNode } from './helpers.js';

/** The daemon's DNS step target over a recording DNS plugin (no mesh address assigned: loopback only). */
function dnsStep(dns: RecordingDns): DnsController {
  return new DnsController({
    plugin: dns,
    port: 53,
    lookup: () => [],
    logger: createLogger({ level: 'silent' }),
    clock: { now: () => Date.now() },
    callOptions: () => ({}),
  });
}

function reconcilerWith(backend: RecordingBackend, extra: Partial<ConstructorParameters<typeof Reconciler>[0]> = {}): Reconciler {
  return new Reconciler({ backend, backendProtocol: FAKE_PROTOCOL, peerKeySchema: FAKE_KEY_SCHEMA, ...extra });
}

describe('reconciler', () => {
  it('initial apply: one applyPeers (all other nodes) then one applyRoutes', async () => {
    const b = new RecordingBackend();
    const r = reconcilerWith(b);
    const nm = makeNetmap(4);
    nm.nodes[2].routes = ['10.2.0.0/16'];
    const res = await r.reconcile(nm, 'n0');
    expect(res.steps).to.deep.equal(['peers', 'routes']);
    expect(b.calls.map((c) => c.method)).to.deep.equal(['applyPeers', 'applyRoutes']);
    const batch = b.calls[0].arg as PeerBatch;
    expect(batch.upsert.map((p) => p.id)).to.deep.equal(['n1', 'n2', 'n3']);
    expect(batch.remove).to.deep.equal([]);
    const n2 = batch.upsert[1];
    expect(n2.allowedIps).to.deep.equal(['100.64.0.3/32', 'fd00::3/128', '10.2.0.0/16']);
    expect(n2.endpoint).to.deep.equal({ host: '198.18.0.3', port: 51820 });
    expect(n2.publicKey).to.equal(nm.nodes[2].keys[FAKE_PROTOCOL]);
    const routes = b.calls[1].arg as RouteChange;
    expect(routes.add).to.have.length(7);
    expect(routes.add).to.deep.include({ destination: '10.2.0.0/16', peer: 'n2' });
  });

  it('re-applying the same netmap makes zero backend calls', async () => {
    const b = new RecordingBackend();
    const calls = b.calls;
    const r = reconcilerWith(b, { policy: new RecordingPolicy(calls), dns: dnsStep(new RecordingDns(calls)) });
    const nm = makeNetmap(5);
    await r.reconcile(nm, 'n1', ['rn0']);
    const before = calls.length;
    expect(calls.map((c) => c.method)).to.deep.equal(['applyPeers', 'applyRoutes', 'policy.apply', 'dns.start', 'dns.update']);
    expect(before).to.equal(5);
    const again = await r.reconcile(structuredClone(nm), 'n1', ['rn0']);
    expect(again.noop).to.equal(true);
    expect(calls.length).to.equal(before);
  });

  it('nodes without a key for the protocol are not peers', async () => {
    const b = new RecordingBackend();
    const nm = makeNetmap(3);
    nm.nodes[2].keys = { other: 'x' };
    await reconcilerWith(b).reconcile(nm, 'n0');
    expect((b.calls[0].arg as PeerBatch).upsert.map((p) => p.id)).to.deep.equal(['n1']);
  });

  it('diffs add, change and remove into one batch', async () => {
    const b = new RecordingBackend();
    const r = reconcilerWith(b);
    const nm1 = makeNetmap(4);
    await r.reconcile(nm1, 'n0');
    b.calls = [];
    const nm2 = structuredClone(nm1);
    nm2.version = 2;
    nm2.nodes = nm2.nodes.filter((n) => n.id !== 'n3');
    nm2.nodes[1].endpoints = [{ host: '198.18.5.5', port: 4000 }];
    nm2.nodes.push(makeNode(7));
    await r.reconcile(nm2, 'n0');
    expect(b.calls.map((c) => c.method)).to.deep.equal(['applyPeers', 'applyRoutes']);
    const batch = b.calls[0].arg as PeerBatch;
    expect(batch.upsert.map((p) => p.id)).to.deep.equal(['n1', 'n7']);
    expect(batch.upsert[0].endpoint).to.deep.equal({ host: '198.18.5.5', port: 4000 });
    expect(batch.remove).to.deep.equal(['n3']);
    const rc = b.calls[1].arg as RouteChange;
    expect(rc.add.map((x) => x.peer)).to.deep.equal(['n7', 'n7']);
    expect(rc.remove.map((x) => x.peer)).to.deep.equal(['n3', 'n3']);
    expect([...r.actual.peers.keys()].sort()).to.deep.equal(['n1', 'n2', 'n7']);
  });

  it('a 1000-peer netmap is one applyPeers call', async () => {
    const b = new RecordingBackend();
    const r = reconcilerWith(b);
    await r.reconcile(makeNetmap(1001), 'n0');
    const peerCalls = b.calls.filter((c) => c.method === 'applyPeers');
    expect(peerCalls).to.have.length(1);
    expect((peerCalls[0].arg as PeerBatch).upsert).to.have.length(1000);
    expect(b.calls.filter((c) => c.method === 'applyRoutes')).to.have.length(1);
  });

  it('an invalid peer key rejects the whole netmap before any call (INVALID_INPUT naming the node)', async () => {
    const b = new RecordingBackend();
    const r = reconcilerWith(b);
    const nm = makeNetmap(4);
    nm.nodes[2].keys[FAKE_PROTOCOL] = 'not a key';
    try {
      await r.reconcile(nm, 'n0');
      expect.fail('should throw');
    } catch (err) {
      expect(isRustynetError(err, 'INVALID_INPUT')).to.equal(true);
      expect((err as { field: string }).field).to.equal(`nodes[2].keys.${FAKE_PROTOCOL}`);
      expect((err as Error).message).to.include('n2');
    }
    expect(b.calls).to.deep.equal([]);
    expect(r.actual.peers.size).to.equal(0);
  });

  it('rolls back completed steps in reverse order when a step fails', async () => {
    const b = new RecordingBackend();
    const calls = b.calls;
    const policy = new RecordingPolicy(calls);
    const r = reconcilerWith(b, { policy });
    const nm1 = makeNetmap(3);
    await r.reconcile(nm1, 'n0', ['rn0']);
    const appliedPolicy = r.actual.policy;
    calls.length = 0;
    policy.fail = true;
    const nm2 = structuredClone(nm1);
    nm2.version = 2;
    nm2.nodes.push(makeNode(5));
    nm2.acl = { rules: [{ action: 'accept', src: ['*'], dst: ['*'], proto: 'any' }] };
    try {
      await r.reconcile(nm2, 'n0', ['rn0']);
      expect.fail('should throw');
    } catch (err) {
      expect(isRustynetError(err, 'POLICY_FAILED')).to.equal(true);
      expect((err as { details: Record<string, unknown> }).details).to.deep.include({
        step: 'policy',
        rolledBack: ['routes', 'peers'],
        rollbackFailed: false,
      });
    }
    expect(calls.map((c) => c.method)).to.deep.equal(['applyPeers', 'applyRoutes', 'policy.apply', 'applyRoutes', 'applyPeers']);
    // Inverse diffs: the new peer removed again, its routes removed, the old policy kept.
    expect(calls[4].arg).to.deep.equal({ upsert: [], remove: ['n5'] });
    const undoRoutes = calls[3].arg as RouteChange;
    expect(undoRoutes.remove.map((x) => x.peer)).to.deep.equal(['n5', 'n5']);
    expect(undoRoutes.add).to.deep.equal([]);
    expect(r.actual.policy).to.deep.equal(appliedPolicy);
    expect([...r.actual.peers.keys()]).to.deep.equal(['n1', 'n2']);
    expect([...b.peers.keys()].sort()).to.deep.equal(['n1', 'n2']);
  });

  it('the DNS step is the last and best effort: its failure rolls nothing back and fails nothing', async () => {
    const b = new RecordingBackend();
    const calls = b.calls;
    const dns = new RecordingDns(calls, true);
    const r = reconcilerWith(b, { policy: new RecordingPolicy(calls), dns: dnsStep(dns) });
    const nm = makeNetmap(3);
    const res = await r.reconcile(nm, 'n0', ['rn0']);
    expect(res.steps).to.deep.equal(['peers', 'routes', 'policy']);
    expect(res.dns).to.equal(false);
    expect(calls.map((c) => c.method)).to.deep.equal(['applyPeers', 'applyRoutes', 'policy.apply', 'dns.start', 'dns.update']);
    expect(r.actual.peers.size).to.equal(2);
    // The next apply of the same netmap retries DNS only.
    calls.length = 0;
    dns.fail = false;
    const again = await r.reconcile(structuredClone(nm), 'n0', ['rn0']);
    expect(again.noop).to.equal(true);
    expect(again.dns).to.equal(true);
    expect(calls.map((c) => c.method)).to.deep.equal(['dns.update']);
  });

  it('rollback of a changed and a removed peer re-upserts the old configs', async () => {
    const b = new RecordingBackend();
    const r = reconcilerWith(b);
    const nm1 = makeNetmap(3);
    await r.reconcile(nm1, 'n0');
    const old = structuredClone([...r.actual.peers.values()]);
    b.calls = [];
    b.failOn.add('applyRoutes');
    const nm2 = structuredClone(nm1);
    nm2.nodes = nm2.nodes.filter((n) => n.id !== 'n2');
    nm2.nodes[1].routes = ['10.9.0.0/16'];
    await r.reconcile(nm2, 'n0').then(
      () => expect.fail('should throw'),
      (err: unknown) => expect(isRustynetError(err, 'BACKEND_FAILED')).to.equal(true),
    );
    expect(b.calls.map((c) => c.method)).to.deep.equal(['applyPeers', 'applyRoutes', 'applyPeers']);
    const undo = b.calls[2].arg as PeerBatch;
    expect(undo.remove).to.deep.equal([]);
    expect(undo.upsert).to.deep.equal(old);
  });

  it('passes endpoints through hooks.resolvePeerEndpoint with the path', async () => {
    const hooks = new DaemonHooks();
    const seen: string[] = [];
    hooks.forPlugin('relay').resolvePeerEndpoint.tapPromise('sub', async (ep, ctx) => {
      seen.push(`${ctx.peer.id}:${ctx.path}`);
      return ctx.path === 'relay' ? { host: '127.0.0.1', port: 7000 } : ep;
    });
    const b = new RecordingBackend();
    const r = reconcilerWith(b, { hooks });
    await r.reconcile(makeNetmap(3), 'n0', [], new Map([['n2', { path: 'relay' }]]));
    const batch = b.calls[0].arg as PeerBatch;
    expect(batch.upsert[1].endpoint).to.deep.equal({ host: '127.0.0.1', port: 7000 });
    expect(seen).to.deep.equal(['n1:direct', 'n2:relay']);
  });

  it('leaves out prefixes the backend has no capability for (exit node, LAN routes, IPv6)', async () => {
    const nm = makeNetmap(3);
    nm.nodes[1].routes = ['0.0.0.0/0', '10.1.0.0/16'];
    const b = new RecordingBackend();
    const r = reconcilerWith(b, { exitNode: 'n1', capabilities: { exitNode: false, lanRoutes: true, ipv6: false } });
    await r.reconcile(nm, 'n0');
    const batch = b.calls[0].arg as PeerBatch;
    expect(batch.upsert[0].allowedIps).to.deep.equal(['100.64.0.2/32', '10.1.0.0/16']);
    expect(r.lastSkipped).to.deep.include({ peer: 'n1', prefix: '0.0.0.0/0', capability: 'exitNode' });
    expect(r.lastSkipped).to.deep.include({ peer: 'n2', prefix: 'fd00::3/128', capability: 'ipv6' });
    const b2 = new RecordingBackend();
    await reconcilerWith(b2, { exitNode: 'n1', capabilities: { exitNode: true, lanRoutes: false } }).reconcile(nm, 'n0');
    expect((b2.calls[0].arg as PeerBatch).upsert[0].allowedIps).to.deep.equal(['100.64.0.2/32', 'fd00::2/128', '0.0.0.0/0']);
  });

  it('pure diffs are keyed by id and order-insensitive for allowed IPs', () => {
    const a = new Map([['x', { id: 'x', publicKey: 'k', allowedIps: ['1.1.1.1/32', '2.2.2.0/24'] }]]);
    const b2 = new Map([['x', { id: 'x', publicKey: 'k', allowedIps: ['2.2.2.0/24', '1.1.1.1/32'] }]]);
    expect(diffPeers(a, b2)).to.deep.equal({ upsert: [], remove: [] });
    expect(diffRoutes(new Map(), new Map([['x 1.0.0.0/8', { peer: 'x', destination: '1.0.0.0/8' }]])).add).to.have.length(1);
  });

  it('policy and dns inputs from the netmap', () => {
    const nm = makeNetmap(2);
    nm.nodes[1].name = 'web';
    nm.nodes[1].tags = ['web'];
    const p = policyInputFrom(nm, 'n0', ['rn0']);
    expect(p.acl).to.deep.equal({ rules: [] });
    expect(p.nodes[1]).to.deep.equal({ id: 'n1', addresses: ['100.64.0.2/32', 'fd00::2/128'], tags: ['web'] });
    const z = dnsZoneFrom(nm);
    expect(z.zone).to.equal('rustynet');
    expect(z.nodes[1]).to.deep.equal({ id: 'n1', name: 'web', addresses: ['100.64.0.2', 'fd00::2'] });
  });
});
