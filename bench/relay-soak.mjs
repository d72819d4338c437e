#!/usr/bin/env node
// Relay soak (issue 16, part 6): a relayed mesh under mixed load for a configurable time,
// recording RSS, open file descriptors, CPU and drops of the relay server and each daemon at
// each minute, and failing on growth that indicates a leak.
//
//   npm run build && node bench/relay-soak.mjs [--minutes 10] [--sample-seconds 60] [--port 5201] [--json]
//
// One mesh of three nodes (a, b, c) plus a relay host (the testbed's Mesh with `relay: true`,
// namespaces `imps-<hex>-*`): a real `rustynetd` per node, WireGuard backend on wireguard-go, the
// relay client plugin and the path controller, and `rustynet relay serve` (with
// `--metrics-listen 127.0.0.1:9470` inside its namespace, for its drop counters). Every direct
// underlay path is blocked with nftables, so all mesh traffic is relayed. Load, every interval
// (`--sample-seconds`, default one minute):
//   - continuous pings a -> b, b -> c, c -> a (5 per second each) all the time;
//   - an iperf3 TCP burst of 10 s (b -> a, c -> b, a -> c in turn) at the start of the interval;
//   - every second interval, a netmap reload (a new version signed and published to the
//     daemons and the relay);
//   - at the end of the interval, a sample: per process (relay server, rustynetd a/b/c) RSS
//     (/proc/<pid>/status VmRSS, the lowest of 5 reads 1 s apart), open fds (/proc/<pid>/fd), CPU share over the interval
//     (/proc/<pid>/stat utime + stime), drops in the interval (relay: relay_server_drops_total
//     from its /metrics; daemons: relay_client_drops_total from `rustynet metrics`), and the ping
//     replies per pair.
// Leak judgement (bench/lib/leak.mjs, docs/performance.md "Relay soak"): over the second half of
// the run, a process leaks when the lower bound (slope - 2 standard errors) of the least-squares
// slope of its RSS is above 0.5 MiB/min and its RSS grew more than 4 MiB, or the same for its fds
// with 0.1/min and 2. A leak, a pair with no ping reply in an interval, or a process that died: exit 1.
//
// Needs root, ip, wg, wireguard-go, ping, nft, tcpdump, iperf3, curl and a build. Everything
// runs in namespaces created here, removed at the end, on failure and on SIGINT/SIGTERM.
import { loadavg } from 'node:os';
import { readdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SKIP_EXIT_CODE } from './lib/prereq.mjs';
import { cpuSecondsOf, meshCleanup, runIperf3, skipUnlessReady } from './lib/iperf-bench.mjs';
import { fmt } from './lib/stats.mjs';
import { renderTable } from './lib/table.mjs';
import { machineInfo, machineLine } from './lib/machine.mjs';
import { commOf, findPids, memoryOf } from './lib/proc.mjs';
import { LEAK_THRESHOLDS, judgeLeak } from './lib/leak.mjs';
import { exitWithHelpIfAsked } from './lib/help.mjs';

exitWithHelpIfAsked(import.meta.url);

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const BACKEND = '@rustynet/backend-wireguard';
const NAME = 'relay-soak';
const METRICS = '127.0.0.1:9470';
/** RSS reads per sample, 1 s apart (the sample's RSS is the lowest). */
const RSS_READS = 5;

const { values: opt } = parseArgs({
  strict: false,
  options: {
    minutes: { type: 'string', default: '10' },
    'sample-seconds': { type: 'string', default: '60' },
    port: { type: 'string', default: '5201' },
    json: { type: 'boolean', default: false },
  },
});
const MINUTES = Number(opt.minutes);
const SAMPLE_S = Number(opt['sample-seconds']);
const PORT = Number(opt.port);
if (!(MINUTES > 0 && MINUTES <= 1440) || !(SAMPLE_S >= 20 && SAMPLE_S <= 600) || !(PORT >= 1024 && PORT <= 65535)) {
  console.error(`${NAME}: bad arguments: --minutes (0, 1440], --sample-seconds 20..600, --port 1024..65535`);
  process.exit(2);
}
const INTERVALS = Math.max(1, Math.round((MINUTES * 60) / SAMPLE_S));

const REQUIREMENTS = {
  root: true,
  tools: ['ip', 'wg', 'wireguard-go', 'ping', 'nft', 'tcpdump', 'iperf3', 'curl'],
  files: [
    'core/testbed/dist/src/index.js',
    'core/cli/dist/src/bin/rustynetd.js',
    'core/cli/dist/src/bin/rustynet.js',
    'plugins/backend-wireguard/dist/src/index.js',
    'plugins/relay/dist/src/index.js',
    'conformance-kit/dist/src/harness/index.js',
  ],
};
skipUnlessReady(NAME, REQUIREMENTS, root);

const { Mesh, RUSTYNET_BIN, relayUnsupportedReason, runNodeProgram } = await import('../core/testbed/dist/src/index.js');
const unsupported = await relayUnsupportedReason(BACKEND, root);
if (unsupported) {
  console.error(`${NAME}: skipped: ${unsupported}`);
  process.exit(SKIP_EXIT_CODE);
}

const log = (line) => process.stderr.write(`[${NAME}] ${new Date().toISOString().slice(11, 19)} ${line}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const cleanup = meshCleanup(log);

/** Sum of the samples of Prometheus family `name` in `text` (label sets summed). */
function promSum(text, name) {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+([-+0-9.eE]+|NaN)/.exec(line);
    if (m && m[1] === name) sum += Number(m[3]);
  }
  return sum;
}

async function relayDrops(m) {
  const r = await m.relayHost.exec('curl', ['-sf', '--max-time', '5', `http://${METRICS}/metrics`], { reject: false });
  return r.exitCode === 0 ? promSum(r.stdout, 'relay_server_drops_total') : NaN;
}

async function daemonDrops(m, id) {
  const r = await runNodeProgram(RUSTYNET_BIN, ['metrics', '--socket', m.node(id).socket, '--match', 'relay_client_drops']);
  if (r.code !== 0) return NaN;
  const text = r.stdout;
  // The daemon prefixes plugin metrics (rustynet_plugin_relay_client_drops_total).
  const name = /^(\S*relay_client_drops_total)/m.exec(text.replace(/^#.*$/gm, ''))?.[1];
  return name ? promSum(text, name) : 0;
}

function fdsOf(pid) {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return NaN;
  }
}

const PAIRS = [
  ['a', 'b'],
  ['b', 'c'],
  ['c', 'a'],
];
const BURSTS = [
  ['b', 'a'],
  ['c', 'b'],
  ['a', 'c'],
];

const machine = machineInfo();
const out = {
  bench: NAME,
  machine,
  startedAt: new Date().toISOString(),
  settings: { minutes: MINUTES, sampleSeconds: SAMPLE_S, intervals: INTERVALS, backend: BACKEND, iperfBurstSeconds: 10, pingsPerSecond: 5 },
  thresholds: LEAK_THRESHOLDS,
  load: { start: loadavg()[0] },
  samples: [],
  bursts: [],
  reloads: [],
};
let failed = false;
const failures = [];
const pingers = [];
try {
  log(machineLine(machine));
  log(`${INTERVALS} intervals of ${SAMPLE_S} s; load average at start ${loadavg()[0].toFixed(2)}`);
  const m = cleanup.track(
    await Mesh.create({
      backends: [BACKEND],
      nodes: ['a', 'b', 'c'],
      cwd: root,
      relay: true,
      logLevel: 'info',
      log,
      namePrefix: `imps-${randomBytes(2).toString('hex')}`,
      relayExtraArgs: ['--metrics-listen', METRICS],
    }),
  );
  let version = 1;
  await m.publish(await m.sign(m.netmap(version)));
  await m.startDaemons(BACKEND, version);
  const t0 = Date.now();
  for (const [x, y] of [...PAIRS]) await m.blockDirect(x, y);
  const both = PAIRS.flatMap(([x, y]) => [
    [x, y],
    [y, x],
  ]);
  const tRelay = await m.waitForPath(both, 'relay', 30_000);
  out.blockToRelayMs = tRelay - t0;
  log(`all pairs relayed after ${tRelay - t0} ms`);

  const relayPid = findPids(['relay', 'serve', m.relayNetmapFile]).filter((p) => commOf(p) === 'node');
  if (relayPid.length !== 1) throw new Error(`relay server process not found (${relayPid.length} candidates)`);
  const pids = { relay: relayPid[0], ...Object.fromEntries(Object.entries(m.daemonPids()).map(([id, p]) => [`rustynetd ${id}`, p])) };
  out.pids = pids;

  for (const [x, y] of PAIRS) pingers.push({ pair: `${x}->${y}`, p: m.continuousPing(x, m.node(y).v4, 0.2) });
  const dropsNow = async () => ({
    relay: await relayDrops(m),
    ...Object.fromEntries(await Promise.all(m.nodes.map(async (n) => [`rustynetd ${n.id}`, await daemonDrops(m, n.id)]))),
  });

  const sample = async (interval, prevCpu, prevDrops, prevReplies) => {
    const cpu = Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, cpuSecondsOf(p)]));
    const drops = await dropsNow();
    const replies = Object.fromEntries(pingers.map(({ pair, p }) => [pair, p.replies.length]));
    // RSS: the lowest of RSS_READS reads 1 s apart (the level after a collection, less GC noise).
    const rssReads = Object.fromEntries(Object.keys(pids).map((k) => [k, []]));
    for (let r = 0; r < RSS_READS; r++) {
      if (r > 0) await sleep(1000);
      for (const [k, pid] of Object.entries(pids)) rssReads[k].push((memoryOf(pid)?.rssKiB ?? NaN) / 1024);
    }
    const procs = {};
    for (const [k, pid] of Object.entries(pids)) {
      const mem = memoryOf(pid);
      procs[k] = {
        rssMiB: Math.min(...rssReads[k]),
        rssMaxMiB: Math.max(...rssReads[k]),
        fds: fdsOf(pid),
        cpuShare: prevCpu ? (cpu[k] - prevCpu[k]) / SAMPLE_S : NaN,
        drops: prevDrops ? drops[k] - prevDrops[k] : NaN,
        alive: mem !== null,
      };
    }
    const pings = prevReplies ? Object.fromEntries(Object.entries(replies).map(([k, v]) => [k, v - prevReplies[k]])) : null;
    const s = { minute: (interval * SAMPLE_S) / 60, at: new Date().toISOString(), load: loadavg()[0], procs, pingReplies: pings };
    out.samples.push(s);
    log(
      `t=${fmt(s.minute)} min: ` +
        Object.entries(procs)
          .map(([k, v]) => `${k} ${fmt(v.rssMiB)} MiB/${v.fds} fd/${fmt(v.cpuShare * 100)}%/${v.drops} drops`)
          .join(', ') +
        (pings ? `; ping replies ${JSON.stringify(pings)}` : '') +
        `; load ${s.load.toFixed(2)}`,
    );
    for (const [k, v] of Object.entries(procs)) if (!v.alive) failures.push(`${k} died before minute ${fmt(s.minute)}`);
    if (pings)
      for (const [k, v] of Object.entries(pings))
        if (v === 0) failures.push(`no ping reply ${k} in the interval ending at minute ${fmt(s.minute)}`);
    return { cpu, drops, replies };
  };

  let prev = await sample(0, null, null, null);
  for (let i = 1; i <= INTERVALS && failures.length === 0; i++) {
    const start = Date.now();
    const [srv, cli] = BURSTS[(i - 1) % BURSTS.length];
    try {
      const r = await runIperf3({ server: m.node(srv).host, client: m.node(cli).host, addr: m.node(srv).v4, port: PORT, seconds: 10 });
      out.bursts.push({ interval: i, pair: `${cli}->${srv}`, gbps: r.gbps, retransmits: r.retransmits });
      log(`interval ${i}: iperf3 ${cli} -> ${srv} ${fmt(r.gbps * 1000)} Mbit/s (retransmits ${r.retransmits ?? 'n/a'})`);
    } catch (err) {
      out.bursts.push({ interval: i, pair: `${cli}->${srv}`, error: String(err.message ?? err).split('\n')[0] });
      log(`interval ${i}: iperf3 ${cli} -> ${srv} failed: ${String(err.message ?? err).split('\n')[0]}`);
    }
    if (i % 2 === 0) {
      version++;
      const errs = await m.publish(await m.sign(m.netmap(version)));
      const bad = Object.entries(errs).filter(([, e]) => e !== undefined);
      out.reloads.push({ interval: i, version, errors: bad.map(([id, e]) => `${id}: ${e.message}`) });
      if (bad.length > 0) failures.push(`netmap v${version} refused: ${bad.map(([id, e]) => `${id}: ${e.message}`).join('; ')}`);
    }
    await sleep(Math.max(0, start + (SAMPLE_S - RSS_READS) * 1000 - Date.now()));
    prev = await sample(i, prev.cpu, prev.drops, prev.replies);
  }
  const paths = {};
  for (const [x, y] of both) paths[`${x}->${y}`] = (await m.status(x)).peers.find((p) => p.id === y)?.path ?? 'missing';
  out.pathsAtEnd = paths;
  if (Object.values(paths).some((p) => p !== 'relay')) failures.push(`paths at the end: ${JSON.stringify(paths)}`);
} catch (err) {
  failed = true;
  out.error = String(err?.stack ?? err);
  log(`FAILED: ${out.error}`);
} finally {
  for (const { p } of pingers) await p.stop().catch(() => undefined);
  out.load.end = loadavg()[0];
  await cleanup.destroyAll();
}

// ------------------------------------------------------------------ judgement and report
const names = Object.keys(out.samples[0]?.procs ?? {});
out.judgement = Object.fromEntries(
  names.map((k) => [k, judgeLeak(out.samples.map((s) => ({ minute: s.minute, rssMiB: s.procs[k].rssMiB, fds: s.procs[k].fds })))]),
);
for (const [k, j] of Object.entries(out.judgement)) {
  if (j.leaks.length > 0) failures.push(`${k}: growth beyond the thresholds (${j.leaks.join(', ')})`);
}
out.failures = failures;
failed ||= failures.length > 0;
out.finishedAt = new Date().toISOString();

const rows = [['minute', ...names.flatMap((k) => [`${k} RSS MiB`, 'fds', 'CPU %', 'drops'])]];
for (const s of out.samples) {
  rows.push([
    fmt(s.minute),
    ...names.flatMap((k) => {
      const v = s.procs[k];
      return [
        fmt(v.rssMiB),
        String(v.fds),
        Number.isFinite(v.cpuShare) ? fmt(v.cpuShare * 100) : '-',
        Number.isFinite(v.drops) ? String(v.drops) : '-',
      ];
    }),
  ]);
}
const judgeRows = [['process', 'RSS slope MiB/min (2nd half, ± 2 SE)', 'RSS growth MiB', 'fd slope /min (± 2 SE)', 'fd growth', 'verdict']];
for (const [k, j] of Object.entries(out.judgement)) {
  judgeRows.push([
    k,
    `${fmt(j.rssSlopeMiBPerMin)} ± ${fmt(2 * j.rssSlopeStdErr)}`,
    fmt(j.rssGrowthMiB),
    `${fmt(j.fdSlopePerMin)} ± ${fmt(2 * j.fdSlopeStdErr)}`,
    String(j.fdGrowth),
    !j.judged ? 'not judged (< 3 points)' : j.leaks.length ? `LEAK (${j.leaks.join(', ')})` : 'ok',
  ]);
}
const text = [
  `${NAME}: relayed 3-node mesh (WireGuard, every direct path blocked), ${INTERVALS} x ${SAMPLE_S} s; pings, iperf3 bursts, netmap reloads`,
  machineLine(machine),
  `load average: ${out.load.start.toFixed(2)} at start, ${out.load.end.toFixed(2)} at end`,
  '',
  renderTable(rows),
  '',
  renderTable(judgeRows),
  `leak = slope - 2 SE > ${LEAK_THRESHOLDS.rssMiB.perMinute} MiB/min and RSS growth > ${LEAK_THRESHOLDS.rssMiB.total} MiB, or slope - 2 SE > ${LEAK_THRESHOLDS.fds.perMinute} fd/min and fd growth > ${LEAK_THRESHOLDS.fds.total} (second half of the run)`,
  `iperf3 bursts (Mbit/s): ${out.bursts.map((b) => (b.error ? 'failed' : fmt(b.gbps * 1000))).join(', ') || 'none'}; netmap reloads: ${out.reloads.length}`,
  failed
    ? `FAILED: ${[...failures, ...(out.error ? [out.error.split('\n')[0]] : [])].join('; ')}`
    : 'PASS: no growth beyond the thresholds',
].join('\n');
if (opt.json) {
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  process.stderr.write(`${text}\n`);
} else process.stdout.write(`${text}\n`);
process.exit(failed ? 1 : 0);
