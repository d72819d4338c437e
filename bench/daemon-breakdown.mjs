#!/usr/bin/env node
// CPU cost of each stage of the daemon's apply path on a synthetic N-peer netmap, measured
// in-process with the daemon's and the WireGuard backend's own exported functions (no root, no
// namespaces, no processes). Prints, asserts nothing. Explains where bench/daemon-wireguard.mjs
// spends the time that raw `wg` does not.
//
//   npm run build && node bench/daemon-breakdown.mjs [--peers 1000] [--runs 30] [--json]
//
// Each stage runs `runs` times after 5 warm-up runs; median and p95 in ms.
import { performance } from 'node:perf_hooks';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SKIP_EXIT_CODE, problems } from './lib/prereq.mjs';
import { fmt, summarize } from './lib/stats.mjs';
import { renderTable } from './lib/table.mjs';
import { machineInfo, machineLine } from './lib/machine.mjs';
import { ed25519PublicB64, x25519Pair } from './lib/keys.mjs';
import { exitWithHelpIfAsked } from './lib/help.mjs';

exitWithHelpIfAsked(import.meta.url);

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// Not strict: bench/run.mjs passes the same `-- args` to every bench of a group.
const { values: opt } = parseArgs({
  strict: false,
  options: {
    peers: { type: 'string', default: '1000' },
    runs: { type: 'string', default: '30' },
    json: { type: 'boolean', default: false },
  },
});
for (const k of Object.keys(opt)) if (!['peers', 'runs', 'json'].includes(k)) console.error(`daemon-breakdown: ignoring option --${k}`);
const N = Number(opt.peers);
const RUNS = Number(opt.runs);
const missing = problems({ files: ['core/daemon/dist/src/index.js', 'plugins/backend-wireguard/dist/src/validate.js'] }, root);
if (missing.length > 0) {
  console.error(`daemon-breakdown: skipped: ${missing.join('; ')}`);
  process.exit(SKIP_EXIT_CODE);
}
const d = await import('../core/daemon/dist/src/index.js');
const { canonicalJson, sha256Hex } = await import('../core/daemon/dist/src/util/json.js');
const wgValidate = await import('../plugins/backend-wireguard/dist/src/validate.js');
const wgCidr = await import('../core/plugin-kit/dist/src/index.js');
const wgCommands = await import('../plugins/backend-wireguard/dist/src/wg-commands.js');
const { createAjv } = await import('../core/daemon/dist/src/util/ajv.js');
const api = await import('../core/plugin-api/dist/src/index.js');
const { createPublicKey, verify: edVerify, sign: edSign, createPrivateKey } = await import('node:crypto');
const { mkdtempSync, rmSync } = await import('node:fs');
const { tmpdir } = await import('node:os');
const manifest = JSON.parse(
  await (await import('node:fs/promises')).readFile(join(root, 'plugins/backend-wireguard/rustynet-plugin.json'), 'utf8'),
);

// The same shape of netmap as bench/daemon-wireguard.mjs.
const cp = d.generateEd25519KeyPair();
const self = {
  id: 'a',
  addresses: ['100.64.0.1/32', 'fd7a:115c:a1e0::1/128'],
  endpoints: [{ host: '198.18.0.1', port: 51820 }],
  keys: { wireguard: x25519Pair().publicKey },
  identityKey: ed25519PublicB64(),
};
const peers = Array.from({ length: N }, (_, i) => ({
  id: `p${i}`,
  addresses: [`100.65.${(i >> 8) & 255}.${i & 255}/32`, `fd7a:115c:a1e1::${(i + 1).toString(16)}/128`],
  endpoints: [{ host: `198.19.${(i >> 8) & 255}.${i & 255}`, port: 51820 }],
  keys: { wireguard: x25519Pair().publicKey },
  identityKey: ed25519PublicB64(),
}));
const issued = new Date(Date.now() - 5000);
const netmap = {
  version: 2,
  issuedAt: issued.toISOString(),
  expiresAt: new Date(issued.getTime() + 3_600_000).toISOString(),
  network: 'bench',
  nodes: [self, ...peers],
};
const signed = d.signNetmap(netmap, cp.privateKeyPem);
const text = JSON.stringify(signed);
const validateKey = d.createPeerKeyValidator(manifest.backend.peerKeySchema);

const desired = await d.computeDesiredState({ netmap, selfId: 'a', protocol: 'wireguard', validateKey });
const actualFull = {
  peers: new Map([...desired.peers].map(([k, v]) => [k, { ...v, allowedIps: [...v.allowedIps] }])),
  routes: new Map(desired.routes),
};
const onePeer = { ...desired.peers.get('p0'), endpoint: { host: '198.19.0.0', port: 51821 } };
const wgCurrent = new Map([...desired.peers].map(([k, v]) => [k, { ...v }]));
const routesParsed = [...desired.routes.values()].map((r) => ({
  destination: r.destination,
  parsed: wgCidr.parseCidr(r.destination),
  peer: r.peer,
}));

const ajv = createAjv();
const validateEnvelope = ajv.compile(api.signedNetmapSchema);
const validateNetmap = ajv.compile(api.netmapSchema);
const tmp = mkdtempSync(join(tmpdir(), 'rn-breakdown-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
const store = new d.FileStateStore(join(tmp, 'state'));
const audit = new d.AuditLog(join(tmp, 'audit.log'));
const rawSig = edSign(null, Buffer.from(text), createPrivateKey(cp.privateKeyPem));
const cpPub = d.publicKeyFromRawB64(cp.publicKeyB64);

const stages = [
  ['JSON.parse of the netmap file', 'daemon', () => JSON.parse(text)],
  ['verifySignedNetmap (all trust checks)', 'daemon', () => d.verifySignedNetmap(signed, cpPub)],
  ['  canonicalJson(netmap) (signature input)', 'daemon', () => canonicalJson(netmap)],
  ['  checkNetmapSemantics', 'daemon', () => d.checkNetmapSemantics(netmap)],
  ['  ajv envelope + netmap schema', 'daemon', () => validateEnvelope(signed) && validateNetmap(netmap)],
  ['jsonDigest(netmap) (watermark digest)', 'daemon', () => sha256Hex(canonicalJson(netmap))],
  ['validatePeerKeys (ajv per node)', 'daemon', () => d.validatePeerKeys(netmap, 'a', 'wireguard', validateKey)],
  [
    'computeDesiredState (validates keys again)',
    'daemon',
    () => d.computeDesiredState({ netmap, selfId: 'a', protocol: 'wireguard', validateKey }),
  ],
  ['diffPeers, nothing changed (2 canonicalJson/peer)', 'daemon', () => d.diffPeers(actualFull.peers, desired.peers)],
  ['StateStore.write last-good (stringify, write, fsync, rename)', 'daemon', () => store.write('last-good-netmap', signed)],
  [
    'AuditLog.append x2 (RFC 8785 hash chain)',
    'daemon',
    async () => {
      await audit.append('netmap.accepted', { version: 2, digest: 'x'.repeat(64), origin: 'source' });
      await audit.append('apply', {
        netmapVersion: 2,
        peersUpserted: 1,
        peersRemoved: 0,
        routesAdded: 0,
        routesRemoved: 0,
        durationMs: 1,
        steps: ['peers'],
      });
    },
  ],
  ['(alternative) Ed25519 verify over the raw file bytes', 'idea', () => edVerify(null, Buffer.from(text), cpPub, rawSig)],
  ['(alternative) sha256 of the raw file bytes', 'idea', () => sha256Hex(text)],
  [
    `backend validatePeerBatch, ${N} new peers`,
    'backend',
    () => wgValidate.validatePeerBatch({ upsert: [...desired.peers.values()], remove: [] }, new Map()),
  ],
  [
    `backend validatePeerBatch, 1 peer vs ${N} present`,
    'backend',
    () => wgValidate.validatePeerBatch({ upsert: [onePeer], remove: [] }, wgCurrent),
  ],
  [
    `backend warnUnroutedRoutes equivalent (${routesParsed.length} routes)`,
    'backend',
    () => {
      for (const r of routesParsed) {
        const p = wgCurrent.get(r.peer);
        p?.allowedIps.some((a) => wgCidr.cidrContains(wgCidr.parseCidr(a), r.parsed));
      }
    },
  ],
  [
    `backend wg set argv for ${N} peers (planClauses + packWgSet)`,
    'backend',
    () =>
      wgCommands.packWgSet(
        'rn0',
        wgCommands.planClauses(wgValidate.validatePeerBatch({ upsert: [...desired.peers.values()], remove: [] }, new Map())),
      ),
  ],
];

const results = [];
for (const [name, owner, fn] of stages) {
  for (let i = 0; i < 5; i++) await fn();
  const samples = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    await fn();
    samples.push(performance.now() - t0);
  }
  results.push({ name, owner, ...summarize(samples) });
}

const machine = machineInfo();
if (opt.json) {
  process.stdout.write(
    `${JSON.stringify({ bench: 'daemon-breakdown', machine, params: { peers: N, runs: RUNS, netmapBytes: text.length }, stages: results }, null, 2)}\n`,
  );
} else {
  const rows = [['stage (in-process, CPU only)', 'code', 'median', 'p95']];
  for (const r of results) rows.push([r.name, r.owner, `${fmt(r.median)} ms`, `${fmt(r.p95)} ms`]);
  console.log(
    `Daemon apply path, stage by stage: ${N}-peer netmap (${(text.length / 1024).toFixed(0)} KiB signed JSON), ${RUNS} runs after 5 warm-up`,
  );
  console.log(machineLine(machine));
  console.log('');
  console.log(renderTable(rows));
}
