import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import type {
  BackendPlugin,
  BackendRuntimeStats,
  Netmap,
  NetmapNode,
  PeerBatch,
  RouteChange,
  CallOptions,
  DnsZoneData,
  PolicyInput,
} from '@rustynet/plugin-api';
import { SystemClock } from '../src/services/clock.js';
import { ExecaCommandRunner } from '../src/services/command-runner.js';
import { createLogger } from '../src/services/logger.js';
import { PromMetrics } from '../src/services/metrics.js';
import type { HostServices } from '../src/container/containers.js';

const dirs: string[] = [];

/** A fresh temporary directory removed after the run. */
export function tmpDir(prefix = 'rn-daemon-test-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

process.on('exit', () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A stream collecting log lines. */
export function captureStream(): { stream: Writable; lines: () => string[]; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  return { stream, lines: () => chunks.join('').split('\n').filter(Boolean), text: () => chunks.join('') };
}

/** Host services with a silent (or captured) logger. */
export function testServices(stateDir = tmpDir(), stream?: Writable): HostServices {
  const logger = createLogger({ level: stream ? 'debug' : 'silent', ...(stream && { stream }) });
  return { logger, runner: new ExecaCommandRunner(), metrics: new PromMetrics(), clock: new SystemClock(), stateDir };
}

/** A random 32-byte key in base64 (the fake backend's key format). */
export function fakeKey(): string {
  return randomBytes(32).toString('base64');
}

/** Protocol id of the in-test fake backend. */
export const FAKE_PROTOCOL = 'fake';

/** peerKeySchema of the in-test fake backend. */
export const FAKE_KEY_SCHEMA = { type: 'string', pattern: '^[A-Za-z0-9+/]{43}=$' };

/** A node with addresses 100.64.0.<i+1>/32 and fd00::<i+1>/128. */
export function makeNode(i: number, extra: Partial<NetmapNode> = {}): NetmapNode {
  const b = Math.floor((i + 1) / 256);
  const c = (i + 1) % 256;
  return {
    id: `n${i}`,
    addresses: [`100.64.${b}.${c}/32`, `fd00::${(i + 1).toString(16)}/128`],
    endpoints: [{ host: `198.18.${b}.${c}`, port: 51820 }],
    keys: { [FAKE_PROTOCOL]: fakeKey() },
    identityKey: randomBytes(32).toString('base64'),
    ...extra,
  };
}

/** A netmap of `count` nodes (n0 .. n<count-1>), valid for an hour. */
export function makeNetmap(count: number, version = 1, now = Date.now()): Netmap {
  return {
    version,
    issuedAt: new Date(now - 1000).toISOString(),
    expiresAt: new Date(now + 3600_000).toISOString(),
    nodes: Array.from({ length: count }, (_, i) => makeNode(i)),
  };
}

/** One recorded call. */
export interface Call {
  method: string;
  arg: unknown;
}

/** A recording in-memory backend; `failOn` makes a method throw BACKEND_FAILED. */
export class RecordingBackend {
  calls: Call[] = [];
  failOn = new Set<string>();
  peers = new Map<string, unknown>();

  private record(method: string, arg: unknown): void {
    this.calls.push({ method, arg: structuredClone(arg) });
    if (this.failOn.has(method)) {
      const err = Object.assign(new Error(`${method} failed`), { name: 'RustynetError', code: 'BACKEND_FAILED' });
      throw err;
    }
  }
  async applyPeers(batch: PeerBatch, _o?: CallOptions): Promise<void> {
    this.record('applyPeers', batch);
    for (const id of batch.remove) this.peers.delete(id);
    for (const p of batch.upsert) this.peers.set(p.id, p);
  }
  async applyRoutes(change: RouteChange, _o?: CallOptions): Promise<void> {
    this.record('applyRoutes', change);
  }
}

/** Recording policy and dns targets. */
export class RecordingPolicy {
  constructor(
    private readonly calls: Call[],
    public fail = false,
  ) {}
  async apply(input: PolicyInput): Promise<void> {
    this.calls.push({ method: 'policy.apply', arg: structuredClone(input) });
    if (this.fail) throw Object.assign(new Error('policy failed'), { name: 'RustynetError', code: 'POLICY_FAILED' });
  }
}
/** A DNS plugin recording start/stop/update; `fail` makes `update` throw `DNS_FAILED`. */
export class RecordingDns {
  constructor(
    private readonly calls: Call[],
    public fail = false,
  ) {}
  async start(config: unknown): Promise<void> {
    this.calls.push({ method: 'dns.start', arg: structuredClone(config) });
  }
  async stop(): Promise<void> {
    this.calls.push({ method: 'dns.stop', arg: undefined });
  }
  async update(zone: DnsZoneData): Promise<void> {
    this.calls.push({ method: 'dns.update', arg: structuredClone(zone) });
    if (this.fail) throw Object.assign(new Error('dns failed'), { name: 'RustynetError', code: 'DNS_FAILED' });
  }
}

/** Writes a plugin fixture directory: manifest (object or raw text) + entry module source. */
export function writePluginFixture(
  dir: string,
  manifest: Record<string, unknown> | string,
  entrySource?: string,
  entryName = 'index.mjs',
): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'rustynet-plugin.json'), typeof manifest === 'string' ? manifest : JSON.stringify(manifest, null, 2));
  if (entrySource !== undefined) writeFileSync(join(dir, entryName), entrySource);
  return dir;
}

/** Manifest of the in-test fake backend. */
export function fakeBackendManifest(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'fake-backend',
    version: '1.0.0',
    kind: 'backend',
    apiVersions: ['1.0'],
    entry: './index.mjs',
    capabilities: {
      roaming: true,
      ipv6: true,
      exitNode: false,
      lanRoutes: true,
      udpTransport: true,
      handshakeStats: true,
      maxPeers: 10000,
      allowedIpsUpdate: true,
    },
    backend: { protocol: FAKE_PROTOCOL, peerKeySchema: FAKE_KEY_SCHEMA },
    configSchema: { type: 'object', additionalProperties: false, properties: { label: { type: 'string', default: 'fake' } } },
    ...extra,
  };
}

/**
 * Source of an in-memory backend plugin (ESM). It records calls in `globalThis.__fakeBackendCalls`
 * keyed by interface name, and taps `applied` so the hook timeline has an entry.
 */
export const FAKE_BACKEND_SOURCE = `
const caps = { roaming: true, ipv6: true, exitNode: false, lanRoutes: true, udpTransport: true, handshakeStats: true, maxPeers: 10000, allowedIpsUpdate: true };
export function createPlugin(context) {
  let running = null;
  const peers = new Map();
  const log = (globalThis.__fakeBackendCalls ??= {});
  const rec = (m, a) => { const k = running?.interfaceName ?? 'none'; (log[k] ??= []).push({ method: m, arg: a === undefined ? null : JSON.parse(JSON.stringify(a)) }); };
  const need = () => { if (!running) { const e = new Error('not running'); e.name = 'RustynetError'; e.code = 'NOT_RUNNING'; throw e; } };
  context.hooks.applied.tapPromise('count', async () => { context.metrics.counter('fake_applied_total', 'applies seen').inc(); });
  return {
    kind: 'backend',
    capabilities: () => caps,
    async generateKeyPair() { throw new Error('unused'); },
    async publicKey() { return 'x'; },
    async start(cfg) { if (running) { const e = new Error('already'); e.name = 'RustynetError'; e.code = 'ALREADY_RUNNING'; throw e; } running = cfg; rec('start', cfg); context.logger.info({ label: context.options.label }, 'fake started'); },
    async stop() { rec('stop'); running = null; peers.clear(); },
    async applyPeers(b) { need(); rec('applyPeers', b); for (const id of b.remove) peers.delete(id); for (const p of b.upsert) peers.set(p.id, p); },
    async applyRoutes(c) { need(); rec('applyRoutes', c); },
    async updatePeerEndpoint(id, ep) { need(); rec('updatePeerEndpoint', { id, ep }); const p = peers.get(id); if (p) peers.set(id, { ...p, endpoint: ep }); },
    async stats() { need(); rec('stats'); return { interfaces: [running.interfaceName], listenPort: running.listenPort || 40000,
      peers: [...peers.values()].map((p) => ({ id: p.id, endpoint: p.endpoint, lastHandshakeAt: 1700000000000, rxBytes: 10, txBytes: 20 })) }; },
  };
}
`;

export type { BackendPlugin, BackendRuntimeStats };
