#!/usr/bin/env node
// Control plane: time to build, schema-check and sign a 1000-node netmap (target <= 50 ms), and
// change-to-client latency with 200 concurrent long-polling clients (target p95 <= 500 ms).
// Prints, asserts nothing. Loopback HTTP, a real SQLite file in a temp dir, no root needed.
//
//   npm run build && node bench/control.mjs [--nodes 1000] [--clients 200] [--rounds 20] [--runs 30] [--json]
//
// Build+sign: `runs` runs after 5 warm-ups of the control plane's own NetmapCache (build, ajv
// netmap schema, Ed25519 over RFC 8785 JSON, serialise), median and p95; plus the same from the
// SQLite snapshot read. Latency: each round changes a node's tags through the admin socket and
// measures, per client, admin request start -> signed netmap fully received.
import { createPrivateKey, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SKIP_EXIT_CODE, problems } from './lib/prereq.mjs';
import { fmt, summarize } from './lib/stats.mjs';
import { renderTable } from './lib/table.mjs';
import { machineInfo, machineLine } from './lib/machine.mjs';
import { ed25519PublicB64 } from './lib/keys.mjs';
import { exitWithHelpIfAsked } from './lib/help.mjs';

exitWithHelpIfAsked(import.meta.url);

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: opt } = parseArgs({
  strict: false,
  options: {
    nodes: { type: 'string', default: '1000' },
    clients: { type: 'string', default: '200' },
    rounds: { type: 'string', default: '20' },
    runs: { type: 'string', default: '30' },
    json: { type: 'boolean', default: false },
  },
});
const N = Number(opt.nodes);
const CLIENTS = Number(opt.clients);
const ROUNDS = Number(opt.rounds);
const RUNS = Number(opt.runs);
const missing = problems({ files: ['core/control/dist/src/index.js'] }, root);
if (missing.length > 0) {
  console.error(`control: skipped: ${missing.join('; ')}`);
  process.exit(SKIP_EXIT_CODE);
}
const c = await import('../core/control/dist/src/index.js');
const log = (s) => console.error(`control: ${s}`);

const ED25519_PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');
/** An Ed25519 private key PEM from random bytes (no generateKeyPairSync + JWK: see lib/keys.mjs). */
function ed25519Pem() {
  return createPrivateKey({ key: Buffer.concat([ED25519_PKCS8, randomBytes(32)]), format: 'der', type: 'pkcs8' })
    .export({ format: 'pem', type: 'pkcs8' })
    .toString();
}

// ------------------------------------------------------------ 1. build + sign N nodes
const signerPem = ed25519Pem();
const snapshot = {
  version: 1,
  issuedAt: Date.now(),
  ulaPrefix: 'fd12:3456:789a::',
  nodes: Array.from({ length: N }, (_, i) => {
    const a = c.hostAddresses('fd12:3456:789a::', i + 1);
    return {
      id: `node-${i}`,
      name: `node-${i}`,
      identityKey: ed25519PublicB64(),
      keys: { example: randomBytes(32).toString('base64') },
      endpoints: [{ host: `198.18.${(i >> 8) & 255}.${i & 255}`, port: 51820 }],
      tags: i % 10 === 0 ? ['canary'] : ['web'],
      ...a,
      createdAt: 0,
      updatedAt: 0,
      expiredAt: null,
    };
  }),
  acl: { rules: [{ id: 'web', action: 'accept', src: ['tag:web'], dst: ['tag:web'], proto: 'tcp', ports: [443] }] },
  canary: null,
};
const buildTimes = [];
for (let i = 0; i < RUNS + 5; i++) {
  const cache = new c.NetmapCache(signerPem, { lifetimeMs: 1_800_000, dnsZone: 'rustynet' });
  const t = performance.now();
  cache.get({ ...snapshot, version: i + 1 }, 'stable');
  if (i >= 5) buildTimes.push(performance.now() - t);
}
const build = summarize(buildTimes);
log(`build+sign ${N} nodes: median ${fmt(build.median)} ms, p95 ${fmt(build.p95)} ms`);

// ------------------------------------------------------------ 2. server, N enrolled, long-poll latency
const dir = await mkdtemp(join(tmpdir(), 'rn-bench-control-'));
let server;
try {
  server = await c.startControlServer({ listen: '127.0.0.1:0', dataDir: join(dir, 'data') });
  const svc = server.service;
  const admin = new c.AdminClient(server.adminSocket);
  const { key } = await admin.call('POST', '/admin/v1/keys', { reusable: true });
  const pems = Array.from({ length: CLIENTS }, () => ed25519Pem());
  const clients = pems.map((pem) => new c.ControlClient({ url: server.url, identityKeyPem: pem }));
  const tEnrol = performance.now();
  for (let i = 0; i < CLIENTS; i++)
    await clients[i].enrol({ authKey: key, name: `client-${i}`, keys: { example: randomBytes(32).toString('base64') } });
  const enrolMs = (performance.now() - tEnrol) / CLIENTS;
  log(`enrolled ${CLIENTS} clients (${fmt(enrolMs)} ms each, fsync per enrolment)`);
  // Store-backed build + sign: snapshot from SQLite and sign, at the enrolled size.
  const fromDb = [];
  for (let i = 0; i < Math.min(RUNS, 10); i++) {
    const t = performance.now();
    const s = await svc.store.snapshot();
    new c.NetmapCache(signerPem, { lifetimeMs: 1_800_000 }).get(s, 'stable');
    fromDb.push(performance.now() - t);
  }
  const dbBuild = summarize(fromDb);

  // Raw long-poll client on a keep-alive agent (ControlClient.poll per request is fine, but one
  // agent with enough sockets keeps 200 connections open like 200 daemons would).
  const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS + 10 });
  const url = new URL(server.url);
  const { privateKeyFromPem } = await import('../core/daemon/dist/src/index.js');
  const keys = pems.map((p) => privateKeyFromPem(p));
  function poll(i, after) {
    const path = `/v1/netmap?after=${after}&wait=30000`;
    const headers = c.signRequest(keys[i], clients[i].identityKey, 'GET', path, '');
    return new Promise((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, path, headers, agent }, (res) => {
        const chunks = [];
        res.on('data', (d) => chunks.push(d));
        res.on('end', () => resolve({ status: res.statusCode, at: performance.now(), body: Buffer.concat(chunks) }));
      });
      req.on('error', reject);
      req.end();
    });
  }
  const latencies = [];
  const roundMax = [];
  for (let r = 0; r < ROUNDS + 2; r++) {
    const after = svc.snapshot.version;
    const polls = clients.map((_, i) => poll(i, after));
    const t0w = performance.now();
    while (svc.waitingPolls < CLIENTS) {
      if (performance.now() - t0w > 20_000) throw new Error(`only ${svc.waitingPolls} polls waiting`);
      await new Promise((res) => setTimeout(res, 5));
    }
    const t0 = performance.now();
    await admin.call('POST', `/admin/v1/nodes/client-${r % CLIENTS}/tags`, { tags: [`round-${r}`] });
    const got = await Promise.all(polls);
    if (got.some((g) => g.status !== 200)) throw new Error(`round ${r}: statuses ${[...new Set(got.map((g) => g.status))]}`);
    if (r < 2) continue; // warm-up
    const lat = got.map((g) => g.at - t0);
    latencies.push(...lat);
    roundMax.push(Math.max(...lat));
  }
  agent.destroy();
  const lat = summarize(latencies);
  const mx = summarize(roundMax);
  log(`change-to-client, ${CLIENTS} polls x ${ROUNDS} rounds: p50 ${fmt(lat.median)} ms, p95 ${fmt(lat.p95)} ms, max ${fmt(lat.max)} ms`);

  const rows = [
    ['figure', 'median ms', 'p95 ms', 'max ms', 'target'],
    [`build+check+sign ${N}-node netmap (in memory)`, fmt(build.median), fmt(build.p95), fmt(build.max), '<= 50 ms'],
    [`SQLite snapshot + build+sign (${CLIENTS} nodes)`, fmt(dbBuild.median), fmt(dbBuild.p95), fmt(dbBuild.max), ''],
    [`change -> client, ${CLIENTS} long-polls (all samples)`, fmt(lat.median), fmt(lat.p95), fmt(lat.max), 'p95 <= 500 ms'],
    [`change -> last of ${CLIENTS} clients (per round)`, fmt(mx.median), fmt(mx.p95), fmt(mx.max), ''],
    ['enrolment (sequential, each)', fmt(enrolMs), '', '', ''],
  ];
  const result = {
    bench: 'control',
    machine: machineInfo(),
    nodes: N,
    clients: CLIENTS,
    rounds: ROUNDS,
    buildSignMs: build,
    dbBuildSignMs: dbBuild,
    changeToClientMs: lat,
    changeToLastClientMs: mx,
    enrolMsEach: enrolMs,
  };
  if (opt.json) console.log(JSON.stringify(result, null, 2));
  else console.log(`${machineLine()}\n\n${renderTable(rows)}`);
} finally {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
}
