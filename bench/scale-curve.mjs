#!/usr/bin/env node
// Scale curve (issue 15 part 4): the daemon's full apply time and RSS at several peer counts,
// next to the raw tools at the same sizes, in one run. Prints, asserts nothing.
//
//   npm run build && node bench/scale-curve.mjs [--sizes 100,1000,10000] [--runs 5] [--json]
//        [--out docs/img/scale-curve]        also write <out>.json and <out>.svg (the chart)
//   node bench/scale-curve.mjs --chart docs/img/scale-curve.json > chart.svg   (redraw only)
//
// Per size, from scratch: a one-node Mesh (core/testbed) with a real `rustynetd` (WireGuard
// backend on wireguard-go) and a second namespace with its own wireguard-go device for the raw
// tools, exactly as bench/daemon-wireguard.mjs sets them up (same synthetic peers, same raw
// worker, same timing: POST /v1/netmap/reload request -> response; raw spawn -> exit). Each
// repetition: raw `wg setconf` of a config with the N peers, raw `wg set` of the same peers +
// `ip -batch` of their 2N host routes (the work without covering routes), then the daemon
// cleared (untimed) and given the signed N-peer netmap (timed). RSS of rustynetd (VmRSS) right
// after each apply; wireguard-go's RSS holding the same N peers is printed for context (the
// data plane, not a tool). A fresh daemon per size, so RSS does not carry over between sizes.
//
// Needs root, wireguard-tools, wireguard-go, iproute2, iputils-ping, nftables, tcpdump and a
// build. Everything runs in network namespaces created here, removed at the end, on failure and
// on SIGINT/SIGTERM; the root namespace is never touched. A size that fails is reported with its
// error and the run goes on; the exit code is then 1.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SKIP_EXIT_CODE, problems } from './lib/prereq.mjs';
import { fmt, ratio, summarize } from './lib/stats.mjs';
import { renderTable } from './lib/table.mjs';
import { machineInfo, machineLine } from './lib/machine.mjs';
import { findPids, memoryOf } from './lib/proc.mjs';
import { x25519Pair } from './lib/keys.mjs';
import { chartSvg } from './lib/svg-chart.mjs';
import { exitWithHelpIfAsked } from './lib/help.mjs';

exitWithHelpIfAsked(import.meta.url);

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const BACKEND = '@rustynet/backend-wireguard';
const PROTOCOL = 'wireguard';
const USAGE = `usage: node bench/scale-curve.mjs [--sizes 100,1000,10000] [--runs 5] [--json] [--out <path prefix>]
       node bench/scale-curve.mjs --chart <scale-curve JSON>     (SVG on stdout, no measurement)`;

// Not strict: bench/run.mjs passes the same `-- args` to every bench of a group.
const { values: opt } = parseArgs({
  strict: false,
  options: {
    sizes: { type: 'string', default: '100,1000,10000' },
    runs: { type: 'string', default: '5' },
    json: { type: 'boolean', default: false },
    out: { type: 'string' },
    chart: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
for (const k of Object.keys(opt))
  if (!['sizes', 'runs', 'json', 'out', 'chart', 'help'].includes(k)) console.error(`scale-curve: ignoring option --${k}`);
if (opt.help) {
  console.log(USAGE);
  process.exit(0);
}

/** The chart of a scale-curve JSON document: apply time (log-log) and RSS against peers. */
export function scaleCurveSvg(doc) {
  const ok = doc.sizes.filter((s) => !s.error);
  const pts = (f) => ok.map((s) => [s.peers, f(s)]);
  const m = doc.machine ?? {};
  return chartSvg({
    title: `Full apply and memory vs peers: rustynetd vs raw tools (${m.nproc ?? '?'} CPUs, ${doc.startedAt?.slice(0, 10) ?? ''}, load ${doc.load?.start?.toFixed(1) ?? '?'})`,
    panels: [
      {
        title: 'Full apply, median (ms, log scale)',
        xLabel: 'peers (log scale)',
        yLabel: 'ms',
        xLog: true,
        yLog: true,
        series: [
          {
            name: 'rustynetd full apply',
            color: '#d62728',
            points: pts((s) => s.daemonMs.median),
            labels: ok.map((s) => `${s.ratioVsSetconf.toFixed(2)}x setconf`),
          },
          { name: 'rustynetd: reconcile part', color: '#d62728', dash: '4 3', points: pts((s) => s.reconcileMs.median) },
          { name: 'raw wg set + ip -batch', color: '#1f77b4', points: pts((s) => s.rawWgSetPlusRoutesMs.median) },
          { name: 'raw wg setconf', color: '#2ca02c', points: pts((s) => s.setconfMs.median) },
        ],
      },
      {
        title: 'Resident set size after the apply, median (MiB, log scale)',
        xLabel: 'peers (log scale)',
        yLabel: 'MiB',
        xLog: true,
        yLog: true,
        series: [
          {
            name: 'rustynetd',
            color: '#d62728',
            points: pts((s) => s.rssKiB.afterApply.median / 1024),
            labels: ok.map((s) => `${(s.rssKiB.afterApply.median / 1024).toFixed(0)} MiB`),
          },
          { name: 'rustynetd idle (no peers)', color: '#d62728', dash: '4 3', points: pts((s) => s.rssKiB.idle / 1024) },
          { name: 'wireguard-go, same peers', color: '#9467bd', points: pts((s) => s.rssKiB.wireguardGoRaw / 1024) },
        ],
      },
    ],
  });
}

if (opt.chart) {
  process.stdout.write(scaleCurveSvg(JSON.parse(readFileSync(opt.chart, 'utf8'))));
  process.exit(0);
}

const SIZES = opt.sizes.split(',').map((s) => Number(s.trim()));
const RUNS = Number(opt.runs);
if (!SIZES.every((n) => Number.isInteger(n) && n >= 1 && n <= 60000) || !(Number.isInteger(RUNS) && RUNS >= 1)) {
  console.error(`bad arguments: --sizes <n,...> each 1..60000, --runs >= 1\n${USAGE}`);
  process.exit(2);
}

const missing = problems(
  {
    root: true,
    tools: ['ip', 'wg', 'wireguard-go', 'ping', 'nft', 'tcpdump'],
    files: [
      'core/testbed/dist/src/index.js',
      'core/cli/dist/src/bin/rustynetd.js',
      'core/daemon/dist/src/index.js',
      'plugins/backend-wireguard/dist/src/index.js',
      'conformance-kit/dist/src/harness/index.js',
    ],
  },
  root,
);
if (missing.length > 0) {
  console.error(`scale-curve: skipped: ${missing.join('; ')}`);
  process.exit(SKIP_EXIT_CODE);
}

const { Mesh } = await import('../core/testbed/dist/src/index.js');
const { TestNetwork } = await import('../conformance-kit/dist/src/harness/index.js');
const { readPrivateKeyFile } = await import('../core/daemon/dist/src/index.js');
const { startDaemon } = await import('./lib/daemon.mjs');
const { measureFullApplies } = await import('./lib/full-apply.mjs');
const { cleanupOnSignals, cleanupSync, trackNetwork } = await import('./lib/cleanup.mjs');
const { Publisher, syntheticPeers } = await import('./lib/synthetic-netmap.mjs');
const { startRawWorker } = await import('./lib/raw-worker-client.mjs');

const t00 = Date.now();
const log = (line) => process.stderr.write(`[scale-curve +${((Date.now() - t00) / 1000).toFixed(0)}s] ${line}\n`);
cleanupOnSignals(log);
const mib = (kib) => `${fmt(kib / 1024)} MiB`;

/** Warnings and errors in the daemon's log, counted by message: [{ msg, count }]. */
async function daemonWarnings(logFile) {
  const byMsg = new Map();
  for (const l of (await readFile(logFile, 'utf8').catch(() => '')).split('\n')) {
    try {
      const r = JSON.parse(l);
      if (r.level >= 40) byMsg.set(r.msg, (byMsg.get(r.msg) ?? 0) + 1);
    } catch {
      /* not JSON */
    }
  }
  return [...byMsg].map(([msg, count]) => ({ msg, count }));
}

/** One size, from scratch; returns its figures (samples in ms, RSS in KiB). */
async function measureSize(n, label) {
  const t0 = Date.now();
  const mesh = await Mesh.create({ backends: [BACKEND], nodes: ['a'], cwd: root, logLevel: 'info', pollIntervalMs: 3_600_000, log });
  const rawNet = await TestNetwork.create({ hosts: ['raw'] });
  const rawIf = `rnm${rawNet.runId}r`;
  trackNetwork(mesh.net, [mesh.node('a').ifname], [mesh.workDir]);
  trackNetwork(rawNet, [rawIf]);
  let daemon;
  let worker;
  const timeoutMs = Math.max(120_000, n * 30); // raw worker: resets + setconf + wg set + 2n routes
  try {
    const a = mesh.node('a');
    const self = mesh.netmapNode(a);
    const pub = new Publisher(mesh, await readPrivateKeyFile(mesh.cpKeyFile));
    log(`${label}: generating ${n} synthetic peers (X25519 + Ed25519 keys)`);
    const peers = syntheticPeers(n, PROTOCOL);
    worker = startRawWorker(rawNet.host('raw'));
    const rawDir = join(mesh.workDir, 'raw');
    await mkdir(rawDir, { recursive: true, mode: 0o700 });
    const peerOf = (p) => ({
      publicKey: p.keys[PROTOCOL],
      endpoint: `${p.endpoints[0].host}:${p.endpoints[0].port}`,
      allowedIps: p.addresses,
    });
    const setup = await worker.cmd(
      {
        op: 'setup',
        ifname: rawIf,
        dir: rawDir,
        listenPort: 51820,
        mtu: 1420,
        addresses: self.addresses,
        privateKey: x25519Pair().privateKey,
        peers: peers.map(peerOf),
      },
      timeoutMs,
    );
    const v = await pub.publish([self]);
    daemon = await startDaemon(mesh, a, { backend: BACKEND, cwd: root });
    await daemon.waitUp(v);
    const idle = memoryOf(daemon.pid);
    const s = await measureFullApplies({
      runs: RUNS,
      self,
      peers,
      pub,
      daemon,
      worker,
      node: a,
      protocol: PROTOCOL,
      timeoutMs,
      log: (r, line) => log(`${label} ${r === 0 ? 'warm-up' : `run ${r}/${RUNS}`}: ${line}`),
    });
    const { netmapBytes } = s;
    const final = memoryOf(daemon.pid);
    const warnings = await daemonWarnings(a.logFile);
    const rawGo = findPids(['wireguard-go', rawIf])[0] ?? setup.wireguardGoPid;
    const daemonGo = findPids(['wireguard-go', a.ifname])[0];
    const out = {
      peers: n,
      netmapBytes,
      daemonMs: summarize(s.daemon),
      daemonFirstApplyMs: s.first,
      reconcileMs: summarize(s.reconcile),
      setconfMs: summarize(s.setconf),
      rawWgSetMs: summarize(s.wgset),
      rawIpBatchRoutesMs: summarize(s.routes),
      rawWgSetPlusRoutesMs: summarize(s.rawTotal),
      ratioVsSetconf: ratio(summarize(s.daemon).median, summarize(s.setconf).median),
      ratioVsWgSetPlusRoutes: ratio(summarize(s.daemon).median, summarize(s.rawTotal).median),
      rssKiB: {
        idle: idle?.rssKiB,
        afterApply: summarize(s.rss),
        peak: final?.hwmKiB,
        wireguardGoRaw: rawGo ? (memoryOf(rawGo)?.rssKiB ?? null) : null,
        wireguardGoDaemon: daemonGo ? (memoryOf(daemonGo)?.rssKiB ?? null) : null,
      },
      daemonWarnings: warnings,
      seconds: (Date.now() - t0) / 1000,
      samples: s,
    };
    log(
      `${label} done in ${out.seconds.toFixed(0)} s: daemon ${fmt(out.daemonMs.median)} ms = ${out.ratioVsSetconf.toFixed(2)}x wg setconf, ${out.ratioVsWgSetPlusRoutes.toFixed(2)}x wg set + ip -batch; RSS ${mib(out.rssKiB.afterApply.median)}`,
    );
    return out;
  } finally {
    if (daemon) await daemon.stop().catch(() => undefined);
    if (worker) await worker.stop();
    await mesh.destroy();
    await rawNet.destroy();
    rmSync(`/var/run/wireguard/${rawIf}.sock`, { force: true });
  }
}

function report(doc) {
  const rows = [['peers', 'daemon', 'wg setconf', 'ratio', 'wg set + ip -batch', 'ratio', 'daemon RSS', 'idle RSS', 'wireguard-go RSS']];
  for (const s of doc.sizes) {
    if (s.error) {
      rows.push([String(s.peers), `FAILED: ${s.error.split('\n')[0].slice(0, 100)}`, '', '', '', '', '', '', '']);
      continue;
    }
    rows.push([
      String(s.peers),
      `${fmt(s.daemonMs.median)} ms`,
      `${fmt(s.setconfMs.median)} ms`,
      `${s.ratioVsSetconf.toFixed(2)}x`,
      `${fmt(s.rawWgSetPlusRoutesMs.median)} ms`,
      `${s.ratioVsWgSetPlusRoutes.toFixed(2)}x`,
      mib(s.rssKiB.afterApply.median),
      mib(s.rssKiB.idle),
      s.rssKiB.wireguardGoRaw ? mib(s.rssKiB.wireguardGoRaw) : 'n/a',
    ]);
  }
  const m = doc.machine;
  return [
    `Scale curve: rustynetd full apply and RSS vs raw tools (WireGuard backend on wireguard-go), ${RUNS} runs per size + 1 warm-up; medians`,
    machineLine(m),
    `tools: ${m.tools.wg ?? 'wg ?'}; ${m.tools.wireguardGo ?? 'wireguard-go ?'}; ${m.tools.ip ?? 'ip ?'}`,
    `load average (1 min) at start ${doc.load.start.toFixed(2)}, at end ${doc.load.end.toFixed(2)} on ${m.nproc} CPUs${Math.max(doc.load.start, doc.load.end) > m.nproc / 2 ? '  WARNING: the machine was busy; figures are noisy' : ''}`,
    '',
    renderTable(rows),
    '',
    'daemon = POST /v1/netmap/reload request -> response of a real rustynetd (trust, diff, wg set, covering routes, persistence, audit);',
    'raw = the tools alone in a second namespace, spawn -> exit; `wg set` packed into as many processes as the backend packs it.',
    'RSS = VmRSS right after each apply; idle = with a netmap holding only itself; wireguard-go = the raw side device holding the same peers.',
    ...doc.sizes
      .filter((s) => s.daemonWarnings?.length)
      .map((s) => `daemon warnings at ${s.peers} peers: ${s.daemonWarnings.map((w) => `${w.count}x ${w.msg}`).join('; ')}`),
  ].join('\n');
}

const doc = {
  bench: 'scale-curve',
  startedAt: new Date().toISOString(),
  machine: machineInfo(),
  params: { sizes: SIZES, runs: RUNS },
  load: { start: loadavg()[0] },
  sizes: [],
};
let exitCode = 0;
try {
  for (const [i, n] of SIZES.entries()) {
    const label = `size ${i + 1}/${SIZES.length} (${n} peers)`;
    try {
      doc.sizes.push({ ...(await measureSize(n, label)), loadAtEnd: loadavg()[0] });
    } catch (err) {
      log(`${label} FAILED: ${err?.stack ?? err}`);
      doc.sizes.push({ peers: n, error: String(err?.message ?? err) });
      exitCode = 1;
    } finally {
      cleanupSync();
    }
  }
} finally {
  cleanupSync();
}
doc.load.end = loadavg()[0];
if (opt.out) {
  // Rounded to µs and laid out as the repository's prettier would (`npm run lint` checks docs/img).
  const file = `${opt.out}.json`;
  let text = `${JSON.stringify(doc, (k, v) => (typeof v === 'number' && !Number.isInteger(v) ? Math.round(v * 1000) / 1000 : v), 2)}\n`;
  try {
    const prettier = await import('prettier');
    text = await prettier.format(text, { ...(await prettier.resolveConfig(file)), filepath: file });
  } catch (err) {
    log(`prettier not available (${err?.message}); ${file} is plain JSON`);
  }
  writeFileSync(file, text);
  writeFileSync(`${opt.out}.svg`, scaleCurveSvg(doc));
  log(`wrote ${opt.out}.json and ${opt.out}.svg`);
}
process.stdout.write(opt.json ? `${JSON.stringify(doc, null, 2)}\n` : `${report(doc)}\n`);
process.exit(exitCode);
