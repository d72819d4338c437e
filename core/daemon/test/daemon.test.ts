import { expect } from 'chai';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Netmap } from '@rustynet/plugin-api';
import {
  Daemon,
  generateEd25519KeyPair,
  isDaemonStatus,
  parseDaemonStatus,
  verifyAuditLog,
  writeKeyFile,
  type DaemonConfig,
} from '../src/index.js';
import { makeNetmap, makeNode, testServices, writePluginFixture } from './helpers.js';
import { backendCalls, fileFlowRig } from './file-flow-rig.js';

const POLICY_SOURCE = `
export function createPlugin(context) {
  let running = false;
  const log = (globalThis.__fakePolicyCalls ??= []);
  context.hooks.netmapAccepted.tapPromise('veto-network', async (nm) => nm.network === context.options.vetoNetwork ? 'network is vetoed' : undefined);
  return {
    kind: 'policy',
    capabilities: () => ({ ipv6: true, counters: false, atomicUpdate: true }),
    async start() { running = true; log.push('start'); },
    async stop() { running = false; log.push('stop'); },
    validate() {},
    async apply(input) { if (!running) throw new Error('not running'); log.push({ apply: input }); },
    async counters() { return []; },
    explain() { return { action: 'drop', ruleId: null, ruleIndex: null, reason: 'default deny' }; },
  };
}
`;

describe('Daemon with an in-test backend plugin', function () {
  this.timeout(20000);
  const rig = fileFlowRig('rn-dmn-', 'rt');
  const { dir, ifname, socket, stateDir, publish, get, post, status } = rig;
  let config: DaemonConfig;
  let daemon: Daemon;

  const nm1 = makeNetmap(3, 1);
  nm1.nodes[1].routes = ['10.20.0.0/16'];

  before(async () => {
    const base = await rig.baseConfig();
    const policyDir = writePluginFixture(
      join(dir, 'fake-policy'),
      {
        name: 'fake-policy',
        version: '0.1.0',
        kind: 'policy',
        apiVersions: ['1.0'],
        entry: './index.mjs',
        capabilities: { ipv6: true, counters: false, atomicUpdate: true },
        configSchema: { type: 'object', properties: { vetoNetwork: { type: 'string', default: 'evil' } } },
      },
      POLICY_SOURCE,
    );
    publish(nm1);
    config = {
      ...base,
      backend: { ...base.backend, mtu: 1380, options: { label: 'x' } },
      plugins: [{ plugin: policyDir }],
      hooks: { deadlineMs: 2000 },
    };
    daemon = new Daemon(config, { services: testServices(stateDir) });
    await daemon.start();
  });

  after(async () => {
    await daemon?.stop();
  });

  it('starts the backend from the own netmap node and applies the peers', async () => {
    const calls = backendCalls(ifname);
    const start = calls.find((c) => c.method === 'start')!.arg;
    expect(start).to.deep.equal({
      nodeId: 'n0',
      addresses: ['100.64.0.1/32', 'fd00::1/128'],
      listenPort: 51820,
      mtu: 1380,
      interfaceName: ifname,
      keyDirectory: join(dir, 'keys'),
    });
    // The last stats() is the policy step reading the interfaces after peers and routes.
    expect(calls.map((c) => c.method)).to.deep.equal(['start', 'stats', 'applyPeers', 'applyRoutes', 'stats']);
    expect(statSync(socket).mode & 0o777).to.equal(0o600);
  });

  it('serves /v1/status with the brief shape', async () => {
    const s = await status();
    expect(s.node).to.equal('n0');
    expect(s.state).to.equal('up');
    expect(s.netmap!.version).to.equal(1);
    expect(s.netmap!.expiresAt).to.equal(nm1.expiresAt);
    expect(Date.parse(s.netmap!.appliedAt)).to.be.a('number').and.not.satisfy(Number.isNaN);
    expect(s.lastRejection).to.equal(null);
    expect(s.backend).to.deep.equal({ name: 'fake-backend', version: '1.0.0', apiVersion: '1.0', interfaces: [ifname], listenPort: 51820 });
    expect(s.peers).to.have.length(2);
    expect(s.peers[0]).to.deep.equal({
      id: 'n1',
      endpoint: '198.18.0.2:51820',
      path: 'direct',
      allowedIps: ['100.64.0.2/32', 'fd00::2/128', '10.20.0.0/16'],
      lastHandshakeAt: new Date(1700000000000).toISOString(),
      rxBytes: 10,
      txBytes: 20,
    });
    expect(s.plugins.map((p) => `${p.kind}:${p.name}`)).to.deep.equal(['backend:fake-backend', 'policy:fake-policy']);
    const policyCalls = (globalThis as Record<string, unknown>).__fakePolicyCalls as unknown[];
    expect(policyCalls[0]).to.equal('start');
    expect((policyCalls[1] as { apply: { interfaces: string[]; self: string } }).apply).to.include({ self: 'n0' });
    expect((policyCalls[1] as { apply: { interfaces: string[] } }).apply.interfaces).to.deep.equal([ifname]);
    // The served document matches the status schema the CLI validates with.
    expect(isDaemonStatus(s)).to.equal(true);
    expect(isDaemonStatus(await daemon.status())).to.equal(true);
    expect(isDaemonStatus({ ...s, peers: [{ ...s.peers[0], path: 'sideways' }] })).to.equal(false);
    expect(() => parseDaemonStatus({ ...s, dns: undefined })).to.throw(/not a daemon status: .*must have required property 'dns'/);
    // The audit log's start-up check: passed on a fresh state directory; a malformed one is refused.
    expect(s.audit).to.include({ ok: true });
    expect(Number.isNaN(Date.parse(s.audit?.checkedAt ?? ''))).to.equal(false);
    expect(isDaemonStatus({ ...s, audit: { ok: false, checkedAt: 'x', brokenAt: 3, reason: 'r' } })).to.equal(true);
    expect(isDaemonStatus({ ...s, audit: { ok: 'no', checkedAt: 'x' } })).to.equal(false);
    expect(isDaemonStatus({ ...s, audit: { ok: false, checkedAt: 'x', brokenAt: 0 } })).to.equal(false);
  });

  it('GET /v1/plugins and GET /v1/timeline', async () => {
    const p = await get('/v1/plugins');
    expect((p.json as Array<{ name: string }>).map((x) => x.name)).to.deep.equal(['fake-backend', 'fake-policy']);
    const t = await get('/v1/timeline');
    const taps = (t.json as Array<{ tap: string }>).map((e) => e.tap);
    expect(taps).to.include('fake-policy/veto-network');
    expect(taps).to.include('fake-backend/count');
    expect((await get('/v1/nope')).status).to.equal(404);
    expect((await post('/v1/status')).status).to.equal(405);
  });

  it('reload of the same netmap is a no-op with zero backend calls', async () => {
    const before = backendCalls(ifname).length;
    const r = await post('/v1/netmap/reload');
    expect(r.json).to.deep.equal({ result: 'unchanged', version: 1 });
    expect(backendCalls(ifname).length).to.equal(before);
  });

  it('applies a newer netmap as one diff', async () => {
    const nm2 = structuredClone(nm1);
    nm2.version = 2;
    nm2.nodes.push(makeNode(3));
    publish(nm2);
    const before = backendCalls(ifname).length;
    const r = await post('/v1/netmap/reload');
    expect(r.json).to.deep.equal({ result: 'applied', version: 2 });
    const fresh = backendCalls(ifname).slice(before);
    expect(fresh.map((c) => c.method)).to.deep.equal(['applyPeers', 'applyRoutes', 'stats']);
    expect((fresh[0].arg as { upsert: Array<{ id: string }> }).upsert.map((p) => p.id)).to.deep.equal(['n3']);
    expect((await status()).netmap!.version).to.equal(2);
  });

  it('rejects replay, bad signature, vetoed and bad-key maps, keeping the last good state', async () => {
    const cases: Array<[Netmap, string, string?]> = [];
    const replay = structuredClone(nm1);
    cases.push([replay, 'NETMAP_REPLAYED']);
    const forged = structuredClone(nm1);
    forged.version = 9;
    cases.push([forged, 'NETMAP_SIGNATURE_INVALID', generateEd25519KeyPair().privateKeyPem]);
    const vetoed = makeNetmap(3, 10);
    vetoed.network = 'evil';
    cases.push([vetoed, 'NETMAP_VETOED']);
    const badKey = makeNetmap(3, 11);
    badKey.nodes[2].keys.fake = '!!';
    cases.push([badKey, 'INVALID_INPUT']);
    const notMe = makeNetmap(3, 12);
    notMe.nodes = notMe.nodes.filter((n) => n.id !== 'n0');
    cases.push([notMe, 'NETMAP_INVALID']);
    const before = backendCalls(ifname).length;
    for (const [nm, code, key] of cases) {
      publish(nm, key);
      const r = await post('/v1/netmap/reload');
      expect((r.json as { result: string }).result, code).to.equal('rejected');
      expect((r.json as { error: { code: string } }).error.code).to.equal(code);
      const s = await status();
      expect(s.lastRejection!.code).to.equal(code);
      expect(s.netmap!.version).to.equal(2);
      expect(s.state).to.equal('up');
    }
    expect(
      backendCalls(ifname)
        .slice(before)
        .every((c) => c.method === 'stats'),
    ).to.equal(true);
    const m = await get('/metrics');
    expect(m.contentType).to.include('text/plain');
    expect(m.body).to.include('rustynet_netmap_rejected_total{code="NETMAP_REPLAYED"} 1');
    expect(m.body).to.include('rustynet_netmap_rejected_total{code="NETMAP_VETOED"} 1');
    expect(m.body).to.include('rustynet_netmap_version 2');
    expect(m.body).to.include('rustynet_peers 3');
    expect(m.body).to.include('rustynet_backend_calls_total{method="applyPeers",outcome="ok"} 2');
    expect(m.body).to.include('rustynet_apply_duration_seconds_count');
    expect(m.body).to.include('rustynet_plugin_fake_applied_total 2');
  });

  it('down removes the tunnel but keeps the API; up re-applies the last good netmap', async () => {
    const d = await post('/v1/down');
    expect(d.json).to.deep.equal({ state: 'down' });
    let s = await status();
    expect(s.state).to.equal('down');
    expect(s.peers).to.deep.equal([]);
    expect(backendCalls(ifname).at(-1)!.method).to.equal('stop');
    const before = backendCalls(ifname).length;
    const u = await post('/v1/up');
    expect(u.json).to.deep.equal({ state: 'up' });
    s = await status();
    expect(s.state).to.equal('up');
    expect(s.netmap!.version).to.equal(2);
    expect(s.peers.map((p) => p.id)).to.deep.equal(['n1', 'n2', 'n3']);
    const fresh = backendCalls(ifname)
      .slice(before)
      .map((c) => c.method);
    expect(fresh.slice(0, 4)).to.deep.equal(['start', 'stats', 'applyPeers', 'applyRoutes']);
  });

  it('refuses rotate-keys on the file flow with UNSUPPORTED naming what to do; nothing changes', async () => {
    const before = backendCalls(ifname).length;
    const r = await post('/v1/rotate-keys');
    expect(r.status).to.equal(501);
    const err = (r.json as { error: { code: string; message: string } }).error;
    expect(err.code).to.equal('UNSUPPORTED');
    expect(err.message)
      .to.match(/netmap\.control/)
      .and.match(/keygen/);
    expect(backendCalls(ifname).length).to.equal(before);
    expect((await status()).state).to.equal('up');
  });

  it('applyRotatedKeys reloads the identity key and restarts the backend with the peers', async () => {
    const next = generateEd25519KeyPair();
    await writeKeyFile(join(dir, 'identity.key'), next.privateKeyPem);
    const before = backendCalls(ifname).length;
    await daemon.applyRotatedKeys();
    const calls = backendCalls(ifname)
      .slice(before)
      .map((c) => c.method);
    expect(calls.slice(0, 2)).to.deep.equal(['stop', 'start']);
    expect(calls).to.include('applyPeers');
    const s = await status();
    expect(s.state).to.equal('up');
    expect(s.peers.map((p) => p.id)).to.deep.equal(['n1', 'n2', 'n3']);
  });

  it('stop removes the socket; the audit chain verifies; a restart re-applies the last good netmap', async () => {
    await daemon.stop();
    expect(existsSync(socket)).to.equal(false);
    const audit = await verifyAuditLog(join(stateDir, 'audit.log'));
    expect(audit.ok).to.equal(true);
    expect(audit.records).to.be.greaterThan(8);
    // The source now holds a rejected map; the restarted daemon must use the persisted last good one.
    daemon = new Daemon(config, { services: testServices(stateDir) });
    await daemon.start();
    const s = await status();
    expect(s.state).to.equal('up');
    expect(s.netmap!.version).to.equal(2);
    expect(s.peers).to.have.length(3);
    expect(s.lastRejection?.code).to.equal('NETMAP_INVALID');
  });
});
