#!/usr/bin/env node
// Daemon overhead with the WireGuard backend (wireguard-go): prints, asserts nothing.
//
//   npm run build && node bench/daemon-wireguard.mjs [--peers 1000] [--runs 7] [--change-runs 15]
//        [--start-runs 5] [--only apply,change,start] [--profile] [--node-args='<node flags>'] [--json]
//
// --profile   afterwards runs rustynetd under `node --cpu-prof` (profile in $TMPDIR/rustynet-bench-profiles)
//             and prints self/inclusive time of the samples inside the timed reload windows.
// --node-args extra node flags for every rustynetd started (experiments, e.g. --max-semi-space-size=2).
//
// Needs root, wireguard-tools, wireguard-go, iproute2, iputils-ping, nftables, tcpdump (the
// Mesh harness checks them) and a build. Everything runs inside network namespaces created here
// (conformance-kit TestNetwork, via core/cli's Mesh) and removed at the end, on failure and on
// SIGINT/SIGTERM. Nothing touches the root namespace; the synthetic peers' endpoints are in
// 198.19.0.0/16, which has no route in the namespaces, and no keepalive is set, so nothing is sent.
//
// "Through the daemon" means: a real `rustynetd` process (core/cli) in namespace A; the signed
// netmap is written to its netmap file, then the bench times `POST /v1/netmap/reload` on the
// local API from request to response. That covers: file read + JSON parse, trust (envelope
// schema, Ed25519 signature over RFC 8785 JSON, netmap schema, semantics, expiry, watermark
// persisted), hooks, peer-key validation, desired state + diff, backend calls (one `wg set`, one
// `ip -batch` for the routes), last-good netmap persisted, metrics, audit records, response.
// The daemon's own `durationMs` of the apply (audit record `apply`: key validation + diff +
// backend calls) is shown as a breakdown.
//
// "Raw" means: the same peers applied by the tools alone, in namespace R (its own wireguard-go
// device with a private key and listen port, like the daemon's), spawned by a node process that
// runs inside R (bench/lib/raw-wg-worker.mjs), timed spawn -> exit. Raw and daemon repetitions
// alternate in the same run.
//
// The phases and the report are in bench/lib/daemon-wg-apply.mjs (with daemon-wg-profile.mjs),
// daemon-wg-start.mjs and daemon-wg-report.mjs.
import { dirname, join } from 'node:path';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SKIP_EXIT_CODE, problems } from './lib/prereq.mjs';
import { machineInfo } from './lib/machine.mjs';
import { exitWithHelpIfAsked } from './lib/help.mjs';

exitWithHelpIfAsked(import.meta.url);

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const BACKEND = '@rustynet/backend-wireguard';
const PROTOCOL = 'wireguard';

// Not strict: bench/run.mjs passes the same `-- args` to every bench of a group.
const { values: opt } = parseArgs({
  strict: false,
  options: {
    peers: { type: 'string', default: '1000' },
    runs: { type: 'string', default: '7' },
    'change-runs': { type: 'string', default: '15' },
    'start-runs': { type: 'string', default: '5' },
    only: { type: 'string', default: 'apply,change,start' },
    profile: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    'node-args': { type: 'string', default: '' },
  },
});
for (const k of Object.keys(opt))
  if (!['peers', 'runs', 'change-runs', 'start-runs', 'only', 'profile', 'json', 'node-args'].includes(k))
    console.error(`daemon-wireguard: ignoring option --${k}`);
/** Extra node flags for every rustynetd started here (experiments, e.g. --max-semi-space-size=2). */
const NODE_ARGS = opt['node-args'].split(/\s+/).filter(Boolean);
const N = Number(opt.peers);
const RUNS = Number(opt.runs);
const CHANGE_RUNS = Number(opt['change-runs']);
const START_RUNS = Number(opt['start-runs']);
const ONLY = new Set(opt.only.split(',').map((s) => s.trim()));
if (!(N >= 1 && N <= 60000) || !(RUNS >= 1) || !(CHANGE_RUNS >= 1) || !(START_RUNS >= 1)) {
  console.error('bad arguments: --peers 1..60000, --runs/--change-runs/--start-runs >= 1');
  process.exit(2);
}

const REQUIREMENTS = {
  root: true,
  tools: ['ip', 'wg', 'wireguard-go', 'ping', 'nft', 'tcpdump'],
  files: [
    'core/testbed/dist/src/index.js',
    'core/cli/dist/src/bin/rustynetd.js',
    'core/daemon/dist/src/index.js',
    'plugins/backend-wireguard/dist/src/index.js',
    'conformance-kit/dist/src/harness/index.js',
  ],
};
const missing = problems(REQUIREMENTS, root);
if (missing.length > 0) {
  console.error(`daemon-wireguard: skipped: ${missing.join('; ')}`);
  process.exit(SKIP_EXIT_CODE);
}

const { cleanupOnSignals, cleanupSync } = await import('./lib/cleanup.mjs');
const { applyPhase } = await import('./lib/daemon-wg-apply.mjs');
const { startPhase } = await import('./lib/daemon-wg-start.mjs');
const { report } = await import('./lib/daemon-wg-report.mjs');

const log = (line) => process.stderr.write(`[daemon-bench] ${line}\n`);

cleanupOnSignals(log);

const cfg = {
  root,
  log,
  backend: BACKEND,
  protocol: PROTOCOL,
  peers: N,
  runs: RUNS,
  changeRuns: CHANGE_RUNS,
  startRuns: START_RUNS,
  only: ONLY,
  profile: opt.profile,
  nodeArgs: NODE_ARGS,
};
const results = { load: { start: loadavg()[0] } };
const machine = machineInfo();
let exitCode = 0;
try {
  if (ONLY.has('apply') || ONLY.has('change')) await applyPhase(results, cfg);
  if (ONLY.has('start')) await startPhase(results, cfg);
} catch (err) {
  log(`FAILED: ${err?.stack ?? err}`);
  exitCode = 1;
} finally {
  cleanupSync();
}
results.load.end = loadavg()[0];
if (Object.keys(results).length > 1) {
  const { text, json } = report(results, machine, cfg);
  if (opt.json) process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
  else process.stdout.write(`${text}\n`);
}
process.exit(exitCode);
