/**
 * The fakes and set-up of the per-peer data-plane tests (per-peer-dataplane.test.ts): a daemon
 * whose backend makes one tunnel device per peer, with a policy and a DNS fake.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Netmap } from '@rustynet/plugin-api';
import { Daemon, generateEd25519KeyPair, signNetmap, type DaemonConfig } from '../src/index.js';
import { fakeBackendManifest, testServices, tmpDir, writePluginFixture } from './helpers.js';
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

/** One recorded call of a fake: method name and (cloned) argument. */
export interface Rec {
  m: string;
  a?: unknown;
}
/** What the fakes of one daemon share and record; flags make a fake fail. */
export interface FakeState {
  log: Rec[];
  assigned: Set<string>;
  extraInterfaces: string[];
  failPolicy?: boolean;
  failDnsStart?: boolean;
  failDnsUpdate?: boolean;
}

const keySchema = { type: 'object', required: ['key'], properties: { key: { type: 'string' }, port: { type: 'integer' } } };

/** A daemon (node n0) with the per-peer fakes; `dns`/`policy` choose the plugins loaded. */
export async function setUp(opts: { policy?: boolean; dns?: boolean } = {}) {
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
export function subset(full: Netmap, count: number, version: number): Netmap {
  const nm = structuredClone(full);
  nm.version = version;
  nm.nodes = nm.nodes.slice(0, count);
  return nm;
}
