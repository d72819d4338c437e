import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Netmap } from '@rustynet/plugin-api';
import { Daemon, generateEd25519KeyPair, signNetmap, type DaemonConfig } from '../src/index.js';
import { fakeBackendManifest, makeNetmap, testServices, tmpDir, writePluginFixture } from './helpers.js';

/**
 * Fakes of a backend that makes one tunnel device per peer and puts the node's overlay address
 * only on those devices (so both the interface list and the assigned addresses are empty until
 * peers are applied), of a policy plugin that, like policy-nftables, refuses an empty interface
 * list, and of a DNS plugin that cannot listen on an address not assigned in the namespace.
 * Everything is recorded in `globalThis.__pp[<options.key>]`.
 */
const PLUGIN_COMMON = `
const fail = (code, message) => Object.assign(new Error(message), { name: 'RustynetError', code });
const state = (context) => globalThis.__pp[context.options.key];
const rec = (st, m, a) => st.log.push(a === undefined ? { m } : { m, a: JSON.parse(JSON.stringify(a)) });
`;

const BACKEND_SOURCE = `${PLUGIN_COMMON}
export function createPlugin(context) {
  const st = state(context);
  let running = null;
  const peers = new Map();
  const own = () => (running ? running.addresses.map((a) => a.split('/')[0]) : []);
  const need = () => { if (!running) throw fail('NOT_RUNNING', 'not running'); };
  return {
    kind: 'backend',
    capabilities: () => ({ roaming: false, ipv6: true, exitNode: false, lanRoutes: true, udpTransport: false, handshakeStats: false, maxPeers: 100, allowedIpsUpdate: false }),
    async generateKeyPair() { throw new Error('unused'); },
    async publicKey() { return 'x'; },
    async start(cfg) { if (running) throw fail('ALREADY_RUNNING', 'already'); running = cfg; rec(st, 'backend.start'); },
    async stop() { for (const a of own()) st.assigned.delete(a); running = null; peers.clear(); rec(st, 'backend.stop'); },
    async applyPeers(b) {
      need();
      rec(st, 'backend.applyPeers', b);
      for (const id of b.remove) peers.delete(id);
      for (const p of b.upsert) peers.set(p.id, p);
      // The overlay address lives on the per-peer devices only.
      for (const a of own()) peers.size > 0 ? st.assigned.add(a) : st.assigned.delete(a);
    },
    async applyRoutes(c) { need(); rec(st, 'backend.applyRoutes', c); },
    async updatePeerEndpoint() { throw fail('UNSUPPORTED', 'no roaming'); },
    async stats() {
      need();
      rec(st, 'backend.stats');
      const interfaces = [...peers.keys()].map((id) => 'pp-' + id).concat(st.extraInterfaces);
      return { interfaces, listenPort: 1194, peers: [...peers.values()].map((p) => ({ id: p.id, lastHandshakeAt: null, rxBytes: 0, txBytes: 0 })) };
    },
  };
}
`;

const POLICY_SOURCE = `${PLUGIN_COMMON}
export function createPlugin(context) {
  const st = state(context);
  let running = false;
  return {
    kind: 'policy',
    capabilities: () => ({ ipv6: true, counters: false, atomicUpdate: true }),
    async start() { running = true; rec(st, 'policy.start'); },
    async stop() { running = false; rec(st, 'policy.stop'); },
    validate() {},
    async apply(input) {
      if (!running) throw fail('NOT_RUNNING', 'policy not running');
      rec(st, 'policy.apply', input);
      if (input.interfaces.length === 0) throw Object.assign(fail('INVALID_INPUT', 'interfaces: at least one tunnel interface is required'), { field: 'interfaces' });
      if (st.failPolicy) throw fail('POLICY_FAILED', 'nft said no');
    },
    async counters() { return []; },
    explain() { return { action: 'drop', ruleId: null, ruleIndex: null, reason: 'default deny' }; },
  };
}
`;

const DNS_SOURCE = `${PLUGIN_COMMON}
export function createPlugin(context) {
  const st = state(context);
  let running = false;
  return {
    kind: 'dns',
    capabilities: () => ({ aaaa: true, forwarder: false, rateLimit: false }),
    async start(cfg) {
      rec(st, 'dns.start', cfg);
      if (running) throw fail('ALREADY_RUNNING', 'dns already running');
      if (st.failDnsStart) throw fail('DNS_FAILED', 'port in use');
      for (const l of cfg.listen) {
        if (l.host !== '127.0.0.1' && !st.assigned.has(l.host)) throw fail('DNS_FAILED', 'cannot listen on udp ' + l.host + ':' + l.port + ': address not assigned');
      }
      running = true;
    },
    async stop() { running = false; rec(st, 'dns.stop'); },
    async update(zone) {
      if (!running) throw fail('NOT_RUNNING', 'dns not running');
      rec(st, 'dns.update', zone);
      if (st.failDnsUpdate) throw fail('DNS_FAILED', 'update broke');
    },
  };
}
`;

interface Rec {
  m: string;
  a?: unknown;
}
interface FakeState {
  log: Rec[];
  assigned: Set<string>;
  extraInterfaces: string[];
  failPolicy?: boolean;
  failDnsStart?: boolean;
  failDnsUpdate?: boolean;
}

const keySchema = { type: 'object', required: ['key'], properties: { key: { type: 'string' }, port: { type: 'integer' } } };

/** A daemon (node n0) with the per-peer fakes; `dns`/`policy` choose the plugins loaded. */
async function setUp(opts: { policy?: boolean; dns?: boolean } = {}) {
  const key = randomBytes(4).toString('hex');
  const st: FakeState = { log: [], assigned: new Set(), extraInterfaces: [] };
  (globalThis as Record<string, unknown>).__pp ??= {} as Record<string, FakeState>;
  ((globalThis as Record<string, unknown>).__pp as Record<string, FakeState>)[key] = st;
  const dir = tmpDir('rn-pp-');
  const cp = generateEd25519KeyPair();
  const netmapFile = join(dir, 'netmap.json');
  const plugins: NonNullable<DaemonConfig['plugins']> = [];
  if (opts.policy !== false) {
    plugins.push({
      plugin: writePluginFixture(
        join(dir, 'policy'),
        {
          name: 'pp-policy',
          version: '0.1.0',
          kind: 'policy',
          apiVersions: ['1.0'],
          entry: './index.mjs',
          capabilities: { ipv6: true, counters: false, atomicUpdate: true },
          configSchema: keySchema,
        },
        POLICY_SOURCE,
      ),
      options: { key },
    });
  }
  if (opts.dns !== false) {
    plugins.push({
      plugin: writePluginFixture(
        join(dir, 'dns'),
        {
          name: 'pp-dns',
          version: '0.1.0',
          kind: 'dns',
          apiVersions: ['1.0'],
          entry: './index.mjs',
          capabilities: { aaaa: true, forwarder: false, rateLimit: false },
          configSchema: keySchema,
        },
        DNS_SOURCE,
      ),
      options: { key, port: 5353 },
    });
  }
  const config: DaemonConfig = {
    node: 'n0',
    stateDir: join(dir, 'state'),
    socket: join(dir, 's.sock'),
    controlPlaneKey: cp.publicKeyB64,
    netmap: { file: netmapFile, pollIntervalMs: 3_600_000 },
    backend: {
      plugin: writePluginFixture(join(dir, 'b'), fakeBackendManifest({ name: 'pp-backend', configSchema: keySchema }), BACKEND_SOURCE),
      interfaceName: `pp${key.slice(0, 4)}`,
      keyDirectory: join(dir, 'k'),
      options: { key },
    },
    plugins,
  };
  const publish = (nm: Netmap): void => writeFileSync(netmapFile, JSON.stringify(signNetmap(nm, cp.privateKeyPem)));
  const services = testServices(config.stateDir);
  // Injected address lookup: what the fake backend has assigned, plus loopback.
  const daemon = new Daemon(config, { services, processGuards: false, localAddresses: () => ['127.0.0.1', '::1', ...st.assigned] });
  const methods = (from = 0): string[] => st.log.slice(from).map((r) => r.m);
  const args = (m: string): unknown[] => st.log.filter((r) => r.m === m).map((r) => r.a);
  const metrics = (): Promise<string> => services.metrics.registry.metrics();
  return { st, daemon, publish, methods, args, metrics };
}

/** `full` with its first `count` nodes only (n0 is this node), as `version`. */
function subset(full: Netmap, count: number, version: number): Netmap {
  const nm = structuredClone(full);
  nm.version = version;
  nm.nodes = nm.nodes.slice(0, count);
  return nm;
}

describe('Daemon with a backend that makes tunnel devices per peer', function () {
  this.timeout(20000);

  it('brings the mesh up: no peers => policy skipped, DNS on loopback; peers => policy on the new devices in the same apply, DNS restarted on the mesh address', async () => {
    const { st, daemon, publish, methods, args } = await setUp();
    const full = makeNetmap(3, 1);
    publish(subset(full, 1, 1)); // only this node: no peer, no device, no overlay address yet
    await daemon.start();
    try {
      expect(methods()).to.deep.equal(['backend.start', 'backend.stats', 'policy.start', 'backend.stats', 'dns.start', 'dns.update']);
      let s = await daemon.status();
      expect(s.state).to.equal('up');
      expect(s.netmap!.version).to.equal(1);
      expect(s.lastRejection).to.equal(null);
      expect(args('policy.apply')).to.deep.equal([]);
      expect(args('dns.start')).to.deep.equal([{ listen: [{ host: '127.0.0.1', port: 5353 }] }]);
      expect(s.dns).to.deep.include({ listen: ['127.0.0.1:5353'], ok: true, failures: 0 });
      expect(s.policy).to.deep.include({ interfaces: [], ok: true });

      // Peers arrive: devices and the overlay address appear with applyPeers.
      const nm2 = structuredClone(full);
      nm2.version = 2;
      publish(nm2);
      const before = st.log.length;
      expect(await daemon.reload()).to.deep.equal({ result: 'applied', version: 2 });
      expect(methods(before)).to.deep.equal([
        'backend.applyPeers',
        'backend.applyRoutes',
        'backend.stats',
        'policy.apply',
        'dns.stop',
        'dns.start',
        'dns.update',
      ]);
      const policy = args('policy.apply')[0] as { interfaces: string[]; self: string };
      expect(policy.interfaces).to.deep.equal(['pp-n1', 'pp-n2']);
      expect(policy.self).to.equal('n0');
      expect(args('dns.start')[1]).to.deep.equal({
        listen: [
          { host: '100.64.0.1', port: 5353 },
          { host: 'fd00::1', port: 5353 },
          { host: '127.0.0.1', port: 5353 },
        ],
      });
      expect((args('dns.update')[1] as { nodes: unknown[] }).nodes).to.have.length(3);
      s = await daemon.status();
      expect(s.backend!.interfaces).to.deep.equal(['pp-n1', 'pp-n2']);
      expect(s.policy).to.deep.include({ interfaces: ['pp-n1', 'pp-n2'], ok: true });
      expect(s.dns!.listen).to.deep.equal(['100.64.0.1:5353', '[fd00::1]:5353', '127.0.0.1:5353']);

      // Nothing changed: a refresh makes one stats() call and no plugin call.
      const quiet = st.log.length;
      await daemon.refresh();
      expect(methods(quiet)).to.deep.equal(['backend.stats']);

      // All peers leave: devices and the overlay address go; policy kept (nothing to filter), DNS back to loopback only.
      const nm3 = subset(full, 1, 3);
      publish(nm3);
      const before3 = st.log.length;
      expect(await daemon.reload()).to.deep.equal({ result: 'applied', version: 3 });
      expect(methods(before3)).to.deep.equal([
        'backend.applyPeers',
        'backend.applyRoutes',
        'backend.stats',
        'dns.stop',
        'dns.start',
        'dns.update',
      ]);
      expect(args('dns.start')[2]).to.deep.equal({ listen: [{ host: '127.0.0.1', port: 5353 }] });
      expect((await daemon.status()).dns!.listen).to.deep.equal(['127.0.0.1:5353']);
    } finally {
      await daemon.stop();
    }
    expect(methods().slice(-3)).to.deep.equal(['dns.stop', 'policy.stop', 'backend.stop']);
  });

  it('applies the policy before the first apply with peers succeeds, and rolls the peers back when it fails (fail closed)', async () => {
    const { st, daemon, publish, methods, args, metrics } = await setUp({ dns: false });
    st.failPolicy = true;
    publish(makeNetmap(3, 1));
    await daemon.start();
    try {
      const log0 = methods();
      const s = await daemon.status();
      expect(s.netmap).to.equal(null);
      expect(s.lastRejection!.code).to.equal('POLICY_FAILED');
      expect(log0).to.deep.equal([
        'backend.start',
        'backend.stats',
        'policy.start',
        'backend.applyPeers',
        'backend.applyRoutes',
        'backend.stats',
        'policy.apply',
        'backend.applyRoutes',
        'backend.applyPeers',
      ]);
      expect(args('policy.apply')[0]).to.deep.include({ interfaces: ['pp-n1', 'pp-n2'] });
      // The rollback removed the new peers, and with them their devices.
      expect(args('backend.applyPeers')[1]).to.deep.equal({ upsert: [], remove: ['n1', 'n2'] });
      expect(s.peers).to.deep.equal([]);
      expect(await metrics()).to.include('rustynet_netmap_applies_total{result="failed"} 1');

      st.failPolicy = false;
      expect(await daemon.reload()).to.deep.equal({ result: 'applied', version: 1 });
      expect((await daemon.status()).policy).to.deep.include({ interfaces: ['pp-n1', 'pp-n2'], ok: true });
    } finally {
      await daemon.stop();
    }
  });

  it('re-applies the policy when the backend adds or removes a device between applies; a failure keeps the old policy and is retried', async () => {
    const { st, daemon, publish, methods, args, metrics } = await setUp({ dns: false });
    publish(makeNetmap(2, 1));
    await daemon.start();
    try {
      expect(args('policy.apply')).to.have.length(1);
      st.extraInterfaces = ['pp-extra'];
      let before = st.log.length;
      await daemon.refresh();
      expect(methods(before)).to.deep.equal(['backend.stats', 'policy.apply']);
      expect(args('policy.apply')[1]).to.deep.include({ interfaces: ['pp-extra', 'pp-n1'] });

      // Unchanged: no policy call.
      before = st.log.length;
      await daemon.refresh();
      expect(methods(before)).to.deep.equal(['backend.stats']);

      // The device goes away while the policy plugin fails: logged, counted, shown, retried.
      st.extraInterfaces = [];
      st.failPolicy = true;
      await daemon.refresh();
      let s = await daemon.status();
      expect(s.state).to.equal('up');
      expect(s.policy).to.deep.include({ interfaces: ['pp-extra', 'pp-n1'], ok: false, failures: 1 });
      expect(s.policy!.lastError!.code).to.equal('POLICY_FAILED');
      expect(await metrics()).to.include('rustynet_policy_sync_failures_total 1');
      st.failPolicy = false;
      before = st.log.length;
      await daemon.refresh();
      expect(methods(before)).to.deep.equal(['backend.stats', 'policy.apply']);
      s = await daemon.status();
      expect(s.policy).to.deep.include({ interfaces: ['pp-n1'], ok: true, failures: 1 });
    } finally {
      await daemon.stop();
    }
  });

  it('a DNS failure never rolls back the data plane: logged, counted, in status, retried on the next cycle', async () => {
    const { st, daemon, publish, methods, args, metrics } = await setUp();
    st.failDnsStart = true;
    publish(makeNetmap(3, 1));
    await daemon.start();
    try {
      let s = await daemon.status();
      expect(s.state).to.equal('up');
      expect(s.netmap!.version).to.equal(1);
      expect(s.lastRejection).to.equal(null);
      expect(s.peers.map((p) => p.id)).to.deep.equal(['n1', 'n2']);
      expect(args('backend.applyPeers')).to.have.length(1); // no rollback
      expect(s.dns).to.deep.include({ listen: [], ok: false, failures: 1 });
      expect(s.dns!.lastError).to.deep.include({ code: 'DNS_FAILED', message: 'port in use' });
      expect(await metrics()).to.include('rustynet_dns_failures_total{operation="start"} 1');

      // Still failing on the next cycle: counted again, still no data-plane change.
      await daemon.refresh();
      expect((await daemon.status()).dns).to.deep.include({ ok: false, failures: 2 });

      st.failDnsStart = false;
      const before = st.log.length;
      await daemon.refresh();
      expect(methods(before).filter((m) => m.startsWith('dns.'))).to.deep.equal(['dns.start', 'dns.update']);
      s = await daemon.status();
      expect(s.dns).to.deep.include({ listen: ['100.64.0.1:5353', '[fd00::1]:5353', '127.0.0.1:5353'], ok: true, failures: 2 });

      // A failed zone update is retried too, without a restart.
      st.failDnsUpdate = true;
      const nm2 = makeNetmap(3, 2);
      nm2.nodes[1].name = 'db'; // a zone change
      publish(nm2);
      expect((await daemon.reload()).result).to.equal('applied');
      expect((await daemon.status()).dns).to.deep.include({ ok: false, failures: 3 });
      expect(await metrics()).to.include('rustynet_dns_failures_total{operation="update"} 1');
      st.failDnsUpdate = false;
      const b2 = st.log.length;
      await daemon.refresh();
      expect(methods(b2).filter((m) => m.startsWith('dns.'))).to.deep.equal(['dns.update']);
      expect((await daemon.status()).dns!.ok).to.equal(true);
    } finally {
      await daemon.stop();
    }
  });

  it('restarts DNS when a mesh address is assigned or removed between applies', async () => {
    const { st, daemon, publish, methods, args } = await setUp({ policy: false });
    publish(makeNetmap(1, 1));
    await daemon.start();
    try {
      expect(args('dns.start')).to.deep.equal([{ listen: [{ host: '127.0.0.1', port: 5353 }] }]);
      st.assigned.add('fd00::1');
      let before = st.log.length;
      await daemon.refresh();
      expect(methods(before)).to.deep.equal(['dns.stop', 'dns.start', 'dns.update']);
      expect(args('dns.start')[1]).to.deep.equal({
        listen: [
          { host: 'fd00::1', port: 5353 },
          { host: '127.0.0.1', port: 5353 },
        ],
      });
      before = st.log.length;
      await daemon.refresh();
      expect(methods(before)).to.deep.equal([]); // no policy plugin: not even a stats() call
      st.assigned.delete('fd00::1');
      await daemon.refresh();
      expect(args('dns.start')[2]).to.deep.equal({ listen: [{ host: '127.0.0.1', port: 5353 }] });
    } finally {
      await daemon.stop();
    }
  });
});
