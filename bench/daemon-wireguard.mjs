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
import { readdirSync, rmSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { loadavg, tmpdir } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SKIP_EXIT_CODE, problems } from './lib/prereq.mjs';
import { fmt, ratio, summarize } from './lib/stats.mjs';
import { renderTable } from './lib/table.mjs';
import { machineInfo, machineLine } from './lib/machine.mjs';
import { commOf, findPids, memoryOf } from './lib/proc.mjs';
import { x25519Pair } from './lib/keys.mjs';

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

const { Mesh } = await import('../core/testbed/dist/src/index.js');
const { TestNetwork } = await import('../conformance-kit/dist/src/harness/index.js');
const { readPrivateKeyFile } = await import('../core/daemon/dist/src/index.js');
const { startDaemon, lastAudit, timedReload, wgPeerCount } = await import('./lib/daemon.mjs');
const { cleanupOnSignals, cleanupSync, trackNetwork } = await import('./lib/cleanup.mjs');
const { Publisher, deltaFileOf, syntheticPeers } = await import('./lib/synthetic-netmap.mjs');
const { startRawWorker } = await import('./lib/raw-worker-client.mjs');

const log = (line) => process.stderr.write(`[daemon-bench] ${line}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

cleanupOnSignals(log);

// ------------------------------------------------------------------ phase 1: apply / change / RSS
async function applyPhase(results) {
  log(`phase 1: ${N}-peer netmap through rustynetd vs raw wg/ip (runs ${RUNS} + 1 warm-up, change runs ${CHANGE_RUNS})`);
  const mesh = await Mesh.create({ backends: [BACKEND], nodes: ['a'], cwd: root, logLevel: 'info', pollIntervalMs: 3_600_000, log });
  const rawNet = await TestNetwork.create({ hosts: ['raw'] });
  const rawIf = `rnm${rawNet.runId}r`;
  trackNetwork(mesh.net, [mesh.node('a').ifname], [mesh.workDir]);
  trackNetwork(rawNet, [rawIf]);
  let daemon;
  let worker;
  try {
    const a = mesh.node('a');
    const self = mesh.netmapNode(a);
    const cpPem = await readPrivateKeyFile(mesh.cpKeyFile);
    const pub = new Publisher(mesh, cpPem);
    log(`generating ${N + 1} synthetic peers (X25519 + Ed25519 keys)`);
    const peers = syntheticPeers(N + 1);
    const extra = peers.pop();
    const rawPeer = (p) => ({
      publicKey: p.keys[PROTOCOL],
      endpoint: `${p.endpoints[0].host}:${p.endpoints[0].port}`,
      allowedIps: p.addresses,
    });

    // Raw side.
    worker = startRawWorker(rawNet.host('raw'));
    const rawDir = join(mesh.workDir, 'raw');
    await mkdir(rawDir, { recursive: true, mode: 0o700 });
    const setup = await worker.cmd({
      op: 'setup',
      ifname: rawIf,
      dir: rawDir,
      listenPort: 51820,
      mtu: 1420,
      addresses: self.addresses,
      privateKey: x25519Pair().privateKey,
      peers: peers.map(rawPeer),
    });

    // Daemon side: start with a netmap holding only itself.
    let v = await pub.publish([self]);
    daemon = await startDaemon(mesh, a, { backend: BACKEND, cwd: root, nodeArgs: NODE_ARGS, deltaFile: deltaFileOf(a) });
    await daemon.waitUp(v);
    if (commOf(daemon.pid) !== 'node') throw new Error(`pid ${daemon.pid} is ${commOf(daemon.pid)}, not the daemon's node process`);
    const rssIdle = memoryOf(daemon.pid);

    const full = { daemon: [], reconcile: [], setconf: [], wgset: [], routes: [], rawTotal: [], firstDaemon: NaN, rss: [] };
    for (let r = 0; r <= RUNS; r++) {
      const raw = await worker.cmd({ op: 'full' });
      v = await pub.publish([self]);
      await timedReload(daemon, v); // clear: every peer and route removed (not timed)
      if ((await wgPeerCount(a)) !== 0) throw new Error('daemon left peers after clearing');
      v = await pub.publish([self, ...peers]);
      const ms = await timedReload(daemon, v);
      const audit = await lastAudit(a, PROTOCOL, 'apply');
      const count = await wgPeerCount(a);
      if (count !== N) throw new Error(`daemon applied ${count} peers, want ${N}`);
      if (audit?.data?.netmapVersion !== v) throw new Error(`no audit record for version ${v}`);
      const mem = memoryOf(daemon.pid);
      log(
        `full apply ${r === 0 ? 'warm-up' : `run ${r}`}: daemon ${fmt(ms)} ms (reconcile ${fmt(audit.data.durationMs)} ms); raw setconf ${fmt(raw.setconf)} ms, wg set ${fmt(raw.wgset)} ms + ip -batch ${fmt(raw.routes)} ms; RSS ${(mem.rssKiB / 1024).toFixed(1)} MiB`,
      );
      if (r === 0) {
        full.firstDaemon = ms;
        continue;
      }
      full.daemon.push(ms);
      full.reconcile.push(audit.data.durationMs);
      full.setconf.push(raw.setconf);
      full.wgset.push(raw.wgset);
      full.routes.push(raw.routes);
      full.rawTotal.push(raw.wgset + raw.routes);
      full.rss.push(mem.rssKiB);
    }

    // One-peer changes on top of the full netmap.
    const change = { daemon: [], reconcile: [], raw: [] };
    const add = { daemon: [], reconcile: [], rawWg: [], rawRoutes: [], rawTotal: [] };
    const delta = { daemon: [], reconcile: [], raw: [] };
    if (ONLY.has('change')) {
      const p0 = peers[0];
      for (let r = 0; r <= CHANGE_RUNS; r++) {
        const port = 51821 + (r % 2);
        const raw = await worker.cmd({ op: 'change', port });
        p0.endpoints = [{ host: p0.endpoints[0].host, port }];
        v = await pub.publish([self, ...peers]);
        const ms = await timedReload(daemon, v);
        const audit = await lastAudit(a, PROTOCOL, 'apply');
        if (audit?.data?.peersUpserted !== 1) throw new Error(`endpoint change upserted ${audit?.data?.peersUpserted} peers, want 1`);
        if (r === 0) continue;
        change.daemon.push(ms);
        change.reconcile.push(audit.data.durationMs);
        change.raw.push(raw.wgset);
      }
      log(
        `one-peer endpoint change: daemon median ${fmt(summarize(change.daemon).median)} ms, raw wg set ${fmt(summarize(change.raw).median)} ms`,
      );
      for (let r = 0; r <= CHANGE_RUNS; r++) {
        const raw = await worker.cmd({ op: 'add', peer: rawPeer(extra) });
        v = await pub.publish([self, ...peers, extra]);
        const ms = await timedReload(daemon, v);
        const audit = await lastAudit(a, PROTOCOL, 'apply');
        if (audit?.data?.peersUpserted !== 1 || audit?.data?.routesAdded !== 2)
          throw new Error(`peer add: unexpected plan ${JSON.stringify(audit?.data)}`);
        v = await pub.publish([self, ...peers]);
        await timedReload(daemon, v);
        if (r === 0) continue;
        add.daemon.push(ms);
        add.reconcile.push(audit.data.durationMs);
        add.rawWg.push(raw.wgset);
        add.rawRoutes.push(raw.routes);
        add.rawTotal.push(raw.wgset + raw.routes);
      }
      log(
        `one-peer add: daemon median ${fmt(summarize(add.daemon).median)} ms, raw wg set + ip -batch ${fmt(summarize(add.rawTotal).median)} ms`,
      );
      // The same one-peer endpoint change, shipped as a signed delta (netmap.deltaFile).
      for (let r = 0; r <= CHANGE_RUNS; r++) {
        const port = 51821 + (r % 2);
        const raw = await worker.cmd({ op: 'change', port });
        p0.endpoints = [{ host: p0.endpoints[0].host, port }];
        v = await pub.publishDelta([self, ...peers]);
        const ms = await timedReload(daemon, v);
        const audit = await lastAudit(a, PROTOCOL, 'apply');
        const accepted = await lastAudit(a, PROTOCOL, 'netmap.accepted');
        if (audit?.data?.peersUpserted !== 1) throw new Error(`delta change upserted ${audit?.data?.peersUpserted} peers, want 1`);
        if (accepted?.data?.origin !== 'delta') throw new Error(`version ${v} was not applied from the delta (${accepted?.data?.origin})`);
        if (r === 0) continue;
        delta.daemon.push(ms);
        delta.reconcile.push(audit.data.durationMs);
        delta.raw.push(raw.wgset);
      }
      log(
        `one-peer change by delta: daemon median ${fmt(summarize(delta.daemon).median)} ms, raw wg set ${fmt(summarize(delta.raw).median)} ms`,
      );
    }

    const rssFinal = memoryOf(daemon.pid);
    const wgGoPid = findPids(['wireguard-go', a.ifname])[0];
    const wgGoMem = wgGoPid ? memoryOf(wgGoPid) : null;
    const metrics = await daemon.api.metrics().catch(() => '');
    const applyHist = /rustynet_apply_duration_seconds_count\s+(\d+)/.exec(metrics)?.[1];
    Object.assign(results, {
      full,
      change,
      add,
      delta,
      memory: {
        daemonIdleRssKiB: rssIdle?.rssKiB,
        daemonRssAfterApplyKiB: summarize(full.rss),
        daemonRssFinalKiB: rssFinal?.rssKiB,
        daemonPeakRssKiB: rssFinal?.hwmKiB,
        wireguardGoRssKiB: wgGoMem?.rssKiB ?? null,
      },
      applyCountFromMetrics: applyHist ? Number(applyHist) : null,
      rawWireguardGoPid: setup.wireguardGoPid,
    });
    await daemon.stop();
    daemon = undefined;
    // What the daemon logged during the measured phase (log volume is part of the apply cost).
    const logText = await readFile(a.logFile, 'utf8').catch(() => '');
    const byMsg = new Map();
    for (const l of logText.split('\n')) {
      if (!l) continue;
      try {
        const r = JSON.parse(l);
        const k = `${r.level >= 40 ? 'WARN ' : ''}${r.msg}`;
        byMsg.set(k, (byMsg.get(k) ?? 0) + 1);
        // routes a full apply installs: 2000 host routes, or a few covering routes (routesByAllowedIps)
        if (r.msg === 'applied route change' && typeof r.added === 'number')
          results.maxRoutesAdded = Math.max(results.maxRoutesAdded ?? 0, r.added);
      } catch {
        /* not JSON */
      }
    }
    results.logLines = [...byMsg.entries()]
      .sort((x, y) => y[1] - x[1])
      .slice(0, 8)
      .map(([msg, count]) => ({ msg, count }));

    if (opt.profile) {
      const profDir = join(tmpdir(), 'rustynet-bench-profiles');
      await mkdir(profDir, { recursive: true });
      const before = new Set(readdirSync(profDir));
      await rm(join(a.dir, 'state'), { recursive: true, force: true });
      v = await pub.publish([self]);
      log(`profiling: rustynetd --cpu-prof (${RUNS} full applies + ${CHANGE_RUNS} one-peer changes), profiles in ${profDir}`);
      daemon = await startDaemon(mesh, a, {
        backend: BACKEND,
        cwd: root,
        nodeArgs: [...NODE_ARGS, '--cpu-prof', '--cpu-prof-dir', profDir],
      });
      await daemon.waitUp(v);
      const us = () => Number(process.hrtime.bigint() / 1000n);
      const timedWindow = async (win, samples, version) => {
        const a0 = us();
        samples.push(await timedReload(daemon, version));
        win.push([a0, us()]);
      };
      const pFull = [];
      const wFull = [];
      for (let r = 0; r < RUNS; r++) {
        v = await pub.publish([self]);
        await timedReload(daemon, v);
        v = await pub.publish([self, ...peers]);
        await timedWindow(wFull, pFull, v);
      }
      const pChange = [];
      const wChange = [];
      for (let r = 0; r < CHANGE_RUNS; r++) {
        peers[0].endpoints = [{ host: peers[0].endpoints[0].host, port: 51823 + (r % 2) }];
        v = await pub.publish([self, ...peers]);
        await timedWindow(wChange, pChange, v);
      }
      await daemon.stop();
      daemon = undefined;
      const files = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile') && !before.has(f));
      const { summarizeCpuProfile } = await import('./lib/cpuprofile.mjs');
      const file = files.length > 0 ? join(profDir, files[0]) : null;
      results.profile = {
        file,
        fullApplyMs: summarize(pFull),
        changeMs: summarize(pChange),
        fullApply: file ? summarizeCpuProfile(file, root, 25, wFull) : null,
        change: file ? summarizeCpuProfile(file, root, 25, wChange) : null,
        whole: file ? summarizeCpuProfile(file, root, 25) : null,
      };
    }
  } finally {
    if (daemon) await daemon.stop().catch(() => undefined);
    if (worker) await worker.stop();
    await mesh.destroy();
    await rawNet.destroy();
    rmSync(`/var/run/wireguard/${rawIf}.sock`, { force: true });
  }
}

// ------------------------------------------------------------------ phase 2: start -> first ping
/** Pings `ip` from `host` every 10 ms until the first echo reply; returns its epoch ms (ping -D). */
async function firstReplyAt(host, ip, deadlineMs) {
  while (Date.now() < deadlineMs) {
    const child = host.spawn(
      'ping',
      ['-n', '-D', '-i', '0.01', '-W', '1', '-w', String(Math.max(1, Math.ceil((deadlineMs - Date.now()) / 1000))), ip],
      {
        stdin: 'ignore',
        stdout: 'pipe',
        stderr: 'ignore',
        buffer: false,
      },
    );
    const at = await new Promise((resolve) => {
      let buf = '';
      child.stdout.on('data', (d) => {
        buf += d;
        const m = /^\[(\d+\.\d+)\] \d+ bytes from/m.exec(buf);
        if (m) resolve(Number(m[1]) * 1000);
      });
      void Promise.resolve(child).then(() => resolve(null));
    });
    if (at !== null) {
      child.kill('SIGKILL');
      await Promise.resolve(child).catch(() => undefined);
      return at;
    }
    await sleep(10); // e.g. "Network is unreachable" before the tunnel exists
  }
  throw new Error(`no ping reply from ${ip}`);
}

async function startPhase(results) {
  log(`phase 2: daemon start -> first ping over a 2-node mesh (${START_RUNS} runs)`);
  const mesh = await Mesh.create({ backends: [BACKEND], nodes: ['a', 'b'], cwd: root, logLevel: 'info', pollIntervalMs: 3_600_000, log });
  trackNetwork(
    mesh.net,
    mesh.nodes.map((n) => n.ifname),
    [mesh.workDir],
  );
  const daemons = [];
  try {
    const cpPem = await readPrivateKeyFile(mesh.cpKeyFile);
    const pub = new Publisher(mesh, cpPem);
    const [a, b] = mesh.nodes;
    const v = await pub.publish(mesh.nodes.map((n) => mesh.netmapNode(n)));
    const out = { both: { toPing: [], toUp: [] }, join: { toPing: [], toUp: [] } };
    for (let r = 0; r <= START_RUNS; r++) {
      for (const mode of ['both', 'join']) {
        for (const n of mesh.nodes) await rm(join(n.dir, 'state'), { recursive: true, force: true });
        daemons.length = 0;
        if (mode === 'join') {
          // b is up first (not timed); then a starts and joins.
          daemons.push(await startDaemon(mesh, b, { backend: BACKEND, cwd: root, nodeArgs: NODE_ARGS }));
          await daemons[0].waitUp(v);
        }
        const wall0 = performance.timeOrigin + performance.now();
        const t0 = performance.now();
        const timed = mode === 'both' ? [a, b] : [a];
        const started = [];
        for (const n of timed) started.push(await startDaemon(mesh, n, { backend: BACKEND, cwd: root, nodeArgs: NODE_ARGS }));
        daemons.push(...started);
        const [pingAt, ...ups] = await Promise.all([firstReplyAt(a.host, b.v4, Date.now() + 60_000), ...started.map((d) => d.waitUp(v))]);
        const ping = pingAt - wall0;
        const up = Math.max(...ups) - t0;
        log(
          `start run ${r === 0 ? 'warm-up' : r} (${mode === 'both' ? 'both nodes start together' : 'a joins b, b already up'}): first ping a->b ${fmt(ping)} ms after start, daemon(s) report up at ${fmt(up)} ms`,
        );
        for (const d of daemons) await d.stop();
        daemons.length = 0;
        if (r === 0) continue;
        out[mode].toPing.push(ping);
        out[mode].toUp.push(up);
      }
    }
    results.start = out;
  } finally {
    for (const d of daemons) await d.stop().catch(() => undefined);
    await mesh.destroy();
  }
}

// ------------------------------------------------------------------ report
function report(results, machine) {
  const rows = [['figure', 'daemon median', 'daemon p95', 'raw median', 'raw p95', 'ratio (median)', 'target']];
  const pair = (name, d, r, target) => {
    const sd = summarize(d);
    const sr = r ? summarize(r) : null;
    rows.push([
      name,
      `${fmt(sd.median)} ms`,
      `${fmt(sd.p95)} ms`,
      sr ? `${fmt(sr.median)} ms` : '-',
      sr ? `${fmt(sr.p95)} ms` : '-',
      sr ? `${ratio(sd.median, sr.median).toFixed(2)}x` : '-',
      target,
    ]);
    return sr ? ratio(sd.median, sr.median) : null;
  };
  const rawOnly = (name, r) => {
    const sr = summarize(r);
    rows.push([name, '-', '-', `${fmt(sr.median)} ms`, `${fmt(sr.p95)} ms`, '-', '']);
  };
  const out = {
    bench: 'daemon-wireguard',
    machine,
    params: { peers: N, runs: RUNS, changeRuns: CHANGE_RUNS, startRuns: START_RUNS, nodeArgs: NODE_ARGS },
    load: results.load,
    figures: {},
  };
  const f = results.full;
  if (f) {
    out.figures.fullApply = {
      daemonMs: summarize(f.daemon),
      daemonFirstApplyAfterStartMs: f.firstDaemon,
      daemonReconcileMs: summarize(f.reconcile),
      rawWgSetconfMs: summarize(f.setconf),
      rawWgSetMs: summarize(f.wgset),
      rawIpBatchRoutesMs: summarize(f.routes),
      rawWgSetPlusRoutesMs: summarize(f.rawTotal),
      ratioVsSetconf: pair(`full apply, ${N} peers  vs  wg setconf`, f.daemon, f.setconf, '<= 1.2x'),
      ratioVsWgSetPlusRoutes: pair(`full apply, ${N} peers  vs  wg set + ip -batch routes`, f.daemon, f.rawTotal, '(same work)'),
      target: 1.5,
    };
    pair('  daemon reconcile part (audit durationMs)', f.reconcile, null, '');
    rawOnly('  raw alone: wg set, all peers, one process', f.wgset);
    rawOnly(`  raw alone: ip -batch, ${2 * N} routes`, f.routes);
  }
  if (results.change?.daemon.length) {
    const c = results.change;
    out.figures.onePeerChange = {
      kind: 'endpoint of one existing peer changes in a new signed netmap',
      daemonMs: summarize(c.daemon),
      daemonReconcileMs: summarize(c.reconcile),
      rawWgSetMs: summarize(c.raw),
      ratio: pair('one-peer change (endpoint)  vs  wg set <if> peer ...', c.daemon, c.raw, '<= 3x'),
      target: 3,
    };
    pair('  daemon reconcile part (audit durationMs)', c.reconcile, null, '');
    const dl = results.delta;
    if (dl?.daemon.length) {
      out.figures.onePeerChangeDelta = {
        kind: 'endpoint of one existing peer changes in a signed netmap delta (netmap.deltaFile)',
        daemonMs: summarize(dl.daemon),
        daemonReconcileMs: summarize(dl.reconcile),
        rawWgSetMs: summarize(dl.raw),
        ratio: pair('one-peer change by signed delta  vs  wg set <if> peer ...', dl.daemon, dl.raw, '<= 2x'),
        target: 2,
      };
      pair('  daemon reconcile part (audit durationMs)', dl.reconcile, null, '');
    }
    const a = results.add;
    out.figures.onePeerAdd = {
      kind: 'one new peer (2 allowed IPs, 2 routes) in a new signed netmap',
      daemonMs: summarize(a.daemon),
      daemonReconcileMs: summarize(a.reconcile),
      rawWgSetMs: summarize(a.rawWg),
      rawIpBatchRoutesMs: summarize(a.rawRoutes),
      rawTotalMs: summarize(a.rawTotal),
      ratio: pair('one-peer add  vs  wg set + ip -batch routes', a.daemon, a.rawTotal, '(info)'),
    };
  }
  if (results.start) {
    const st = results.start;
    out.figures.startToFirstPing = {
      nodes: 2,
      bothStartTogether: { toFirstPingMs: summarize(st.both.toPing), bothUpMs: summarize(st.both.toUp) },
      joinRunningPeer: { toFirstPingMs: summarize(st.join.toPing), upMs: summarize(st.join.toUp) },
    };
    pair('start -> first ping, a joins running b', st.join.toPing, null, '(none)');
    pair('  start -> daemon reports up', st.join.toUp, null, '');
    pair('start -> first ping, a and b start together', st.both.toPing, null, '(none)');
    pair('  start -> both report up', st.both.toUp, null, '');
  }
  out.samples = {
    note: 'ms, except full.rss in KiB',
    full: results.full,
    change: results.change,
    add: results.add,
    delta: results.delta,
    start: results.start,
  };
  if (results.memory) {
    const m = results.memory;
    // Issue 15: at most 80 MB (= 76.3 MiB) with 1000 peers (issue 2 had 100 MB).
    out.figures.memory = { ...m, targetMiB: 76.3 };
    const mib = (k) => (k === undefined || k === null ? 'n/a' : `${(k / 1024).toFixed(1)} MiB`);
    rows.push([
      `daemon RSS after ${N}-peer apply`,
      mib(m.daemonRssAfterApplyKiB.median),
      mib(m.daemonRssAfterApplyKiB.max) + ' (max)',
      '-',
      '-',
      '-',
      '<= 80 MB = 76.3 MiB',
    ]);
    rows.push(['  daemon RSS idle (self only) / peak (VmHWM)', mib(m.daemonIdleRssKiB), mib(m.daemonPeakRssKiB), '-', '-', '-', '']);
    rows.push(['  wireguard-go RSS (data plane, not counted)', mib(m.wireguardGoRssKiB), '-', '-', '-', '-', '']);
  }
  const lines = [];
  lines.push(`Rustynet daemon vs raw tools: WireGuard backend (wireguard-go), ${N} peers`);
  lines.push(machineLine(machine));
  lines.push(`tools: ${machine.tools.wg ?? 'wg ?'}; ${machine.tools.wireguardGo ?? 'wireguard-go ?'}; ${machine.tools.ip ?? 'ip ?'}`);
  if (NODE_ARGS.length > 0) lines.push(`rustynetd node flags: ${NODE_ARGS.join(' ')} (experiment, not the default)`);
  if (results.load)
    lines.push(
      `load average (1 min) at start ${results.load.start.toFixed(2)}, at end ${results.load.end.toFixed(2)} on ${machine.nproc} CPUs${results.load.start > machine.nproc / 2 || results.load.end > machine.nproc / 2 ? '  WARNING: the machine was busy; figures are noisy' : ''}`,
    );
  const runsText = [
    f && `full apply ${RUNS}`,
    results.change?.daemon.length && `one-peer ${CHANGE_RUNS}`,
    results.start && `start ${START_RUNS}`,
  ].filter(Boolean);
  lines.push(`runs: ${runsText.join(', ')} (each after 1 warm-up run, not counted); p95 = nearest rank`);
  lines.push('');
  lines.push(renderTable(rows));
  lines.push('');
  lines.push('daemon   = real rustynetd in its own netns; POST /v1/netmap/reload request -> response (file read, JSON parse, schema,');
  lines.push('           Ed25519 signature over RFC 8785 JSON, expiry, watermark, hooks, key validation, diff, one `wg set`,');
  lines.push('           one `ip -batch`, last-good + audit persisted). "reconcile part" = the daemon\'s own apply durationMs.');
  lines.push('raw      = the same peers by the tools alone, spawned from a node process inside a second netns, spawn -> exit.');
  lines.push('start    = spawn of rustynetd (node a; or a and b together) -> first ICMP echo reply a->b over the mesh (ping -D every');
  lines.push("           10 ms; empty state dir). When both start together, a's first handshake can reach b before b listens and");
  lines.push('           WireGuard retries only after REKEY_TIMEOUT (5 s), so that figure is bimodal: see min/max in --json.');
  if (f) lines.push(`first full apply after daemon start (cold JIT, not in the table): ${fmt(f.firstDaemon)} ms`);
  if (results.maxRoutesAdded !== undefined) {
    out.maxRoutesAdded = results.maxRoutesAdded;
    lines.push(`routes installed by one full apply (largest applyRoutes add, backend log): ${results.maxRoutesAdded}`);
  }
  if (results.logLines) {
    out.daemonLogLines = results.logLines;
    const reps = RUNS + 1;
    lines.push(
      `daemon log lines during phase 1 (${reps} clear + ${reps} full applies${results.change?.daemon.length ? `, ${2 * (CHANGE_RUNS + 1)} one-peer changes` : ''}), by message:`,
    );
    for (const l of results.logLines) lines.push(`  ${String(l.count).padStart(7)}  ${l.msg}`);
  }
  if (results.profile) {
    const p = results.profile;
    out.profile = p;
    lines.push('');
    lines.push(`CPU profile of rustynetd (node --cpu-prof; ${p.file}), samples inside the timed reload windows only:`);
    const section = (title, s, perOp) => {
      if (!s) return;
      lines.push('');
      lines.push(
        `${title}: window ${fmt(s.wallMs)} ms total (${fmt(perOp)} ms median per op under the profiler); on-CPU ${fmt(s.busyMs)} ms, idle (waiting on wg/ip/fs) ${fmt(s.idleMs)} ms, GC ${fmt(s.gcMs)} ms`,
      );
      lines.push('  self time by package:');
      for (const b of s.buckets.slice(0, 12)) lines.push(`    ${fmt(b.ms).padStart(8)} ms  ${b.name}`);
      lines.push('  self time by function:');
      for (const b of s.self.slice(0, 15)) lines.push(`    ${fmt(b.ms).padStart(8)} ms  ${b.name}`);
      lines.push('  inclusive time, project functions:');
      for (const b of s.inclusive.slice(0, 22)) lines.push(`    ${fmt(b.ms).padStart(8)} ms  ${b.name}`);
    };
    section(`${RUNS} full applies of ${N} peers`, p.fullApply, p.fullApplyMs.median);
    section(`${CHANGE_RUNS} one-peer changes`, p.change, p.changeMs.median);
  }
  return { text: lines.join('\n'), json: out };
}

const results = { load: { start: loadavg()[0] } };
const machine = machineInfo();
let exitCode = 0;
try {
  if (ONLY.has('apply') || ONLY.has('change')) await applyPhase(results);
  if (ONLY.has('start')) await startPhase(results);
} catch (err) {
  log(`FAILED: ${err?.stack ?? err}`);
  exitCode = 1;
} finally {
  cleanupSync();
}
results.load.end = loadavg()[0];
if (Object.keys(results).length > 1) {
  const { text, json } = report(results, machine);
  if (opt.json) process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
  else process.stdout.write(`${text}\n`);
}
process.exit(exitCode);
