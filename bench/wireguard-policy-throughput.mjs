#!/usr/bin/env node
// iperf3 throughput over the WireGuard backend with the policy plugin off vs on (issue 5), real rustynetd daemons.
//
//   npm run build && node bench/wireguard-policy-throughput.mjs [--seconds 5] [--rounds 3] [--port 5201] [--json]
//
// Two meshes of two nodes (a, b) run side by side, each a real `rustynetd` per node in its own
// network namespace (core/cli's Mesh on the conformance-kit TestNetwork) with the WireGuard
// backend on wireguard-go:
//   - "policy off": daemons without @rustynet/policy-nftables;
//   - "policy on":  daemons that load @rustynet/policy-nftables, with a signed-netmap ACL that
//                   accepts TCP <port> from b to a (first rule) and ICMP (for the readiness ping);
//                   everything else to a is dropped by the default deny.
// iperf3 TCP, client on b, server on a's overlay address (data flows b -> a and enters a through
// the policy's input chain). Repetitions alternate off / on / underlay within one run (the order
// rotates per round); medians and the ratio on/off are printed (target >= 0.95x). "Underlay" is
// plain iperf3 between a's and b's underlay addresses (198.18.0.x, no tunnel, no policy): the
// raw reference of the machine. A control run, "conntrack only", uses the "off" mesh with one
// nftables rule per node (`iifname <mesh if> ct state established,related accept`, no ACL): what
// an established packet costs with the policy's fast path but without the policy plugin.
// After the runs the bench checks that the policy really was enforcing on the "on" mesh (its
// nftables table present on a, the ACL rule's counter > 0) and not present on the "off" mesh.
//
// Needs root, ip, wg, wireguard-go, ping, nft, tcpdump, iperf3 and a build. Everything runs in
// network namespaces created here; they, the daemons, iperf3 and the runtime sockets are removed
// at the end, on failure and on SIGINT/SIGTERM. The root namespace is never touched. Prints,
// asserts nothing (exit 77 = skipped, prerequisites missing).
import { rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SKIP_EXIT_CODE, problems } from './lib/prereq.mjs';
import { fmt, ratio } from './lib/stats.mjs';
import { renderTable } from './lib/table.mjs';
import { machineInfo, machineLine } from './lib/machine.mjs';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { commOf, findPids } from './lib/proc.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const BACKEND = '@rustynet/backend-wireguard';
const NAME = 'wireguard-policy-throughput';

// Not strict: bench/run.mjs passes the same `-- args` to every selected bench.
const { values: opt } = parseArgs({
  strict: false,
  options: {
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    port: { type: 'string', default: '5201' },
    json: { type: 'boolean', default: false },
  },
});
const SECONDS = Number(opt.seconds);
const ROUNDS = Number(opt.rounds);
const PORT = Number(opt.port);
if (!(SECONDS >= 1 && SECONDS <= 60) || !(ROUNDS >= 1 && ROUNDS <= 20) || !(PORT >= 1024 && PORT <= 65535)) {
  console.error(`${NAME}: bad arguments: --seconds 1..60, --rounds 1..20, --port 1024..65535`);
  process.exit(2);
}

const REQUIREMENTS = {
  root: true,
  tools: ['ip', 'wg', 'wireguard-go', 'ping', 'nft', 'tcpdump', 'iperf3'],
  files: [
    'core/cli/dist/src/testing/mesh.js',
    'core/cli/dist/src/bin/rustynetd.js',
    'core/cli/dist/src/bin/rustynet.js',
    'core/daemon/dist/src/index.js',
    'plugins/backend-wireguard/dist/src/index.js',
    'plugins/policy-nftables/dist/src/index.js',
    'conformance-kit/dist/src/harness/index.js',
  ],
};
const missing = problems(REQUIREMENTS, root);
if (missing.length > 0) {
  console.error(`${NAME}: skipped: ${missing.join('; ')}`);
  process.exit(SKIP_EXIT_CODE);
}

const { Mesh, POLICY_TABLE } = await import('../core/cli/dist/src/testing/mesh.js');

const log = (line) => process.stderr.write(`[${NAME}] ${line}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------ cleanup
const meshes = [];
function cleanupSync() {
  for (const m of meshes.splice(0).reverse()) {
    try {
      m.emergencyStopSync(10_000); // daemons: clean stop (tunnel and nftables table removed)
    } catch {
      /* best effort */
    }
    try {
      m.net.tracker.cleanupSync(); // iperf3 and anything else in the namespaces; namespaces; work dir
    } catch {
      /* best effort */
    }
  }
}
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    log(`${sig}: cleaning up`);
    cleanupSync();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  });
}

// ------------------------------------------------------------------ CPU and conntrack
let CLK_TCK = 100;
try {
  CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
} catch {
  /* Linux default */
}

/** utime + stime of `pid` in seconds (/proc/<pid>/stat fields 14 and 15, proc(5)), or NaN. */
function cpuSecondsOf(pid) {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** rustynetd and wireguard-go pids of a mesh: name -> pid. */
function meshPids(m) {
  const pids = {};
  for (const [id, pid] of Object.entries(m.daemonPids())) pids[`rustynetd ${id}`] = pid;
  for (const n of m.nodes) {
    const wg = findPids([n.ifname]).filter((p) => commOf(p) === 'wireguard-go');
    if (wg.length > 0) pids[`wireguard-go ${n.id}`] = wg[0];
  }
  return pids;
}

/**
 * Sum over CPUs of the columns of /proc/net/stat/nf_conntrack in `host`'s namespace (hex per
 * CPU, first line = names), or null when conntrack is not active there.
 */
async function conntrackStats(host) {
  const r = await host.exec('cat', ['/proc/net/stat/nf_conntrack'], { reject: false });
  if (r.exitCode !== 0) return null;
  const lines = r.stdout.trim().split('\n');
  const names = lines[0].trim().split(/\s+/);
  const sums = Object.fromEntries(names.map((n) => [n, 0]));
  for (const l of lines.slice(1)) l.trim().split(/\s+/).forEach((v, i) => (sums[names[i]] += parseInt(v, 16)));
  return sums;
}

// ------------------------------------------------------------------ iperf3
/**
 * One iperf3 TCP run: server on `server` bound to `addr`, client on `client`.
 * @returns { gbps, retransmits } (receiver side bits/s).
 */
async function iperf(server, client, addr, pids = {}, seconds = SECONDS) {
  const srv = server.spawn('iperf3', ['-s', '-1', '-B', addr, '-p', String(PORT)], { stdin: 'ignore', stdout: 'ignore', stderr: 'pipe', buffer: false });
  try {
    for (let attempt = 0; ; attempt++) {
      await sleep(attempt === 0 ? 300 : 500);
      const cpu0 = Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, cpuSecondsOf(p)]));
      const t0 = Date.now();
      const r = await client.exec('iperf3', ['-c', addr, '-p', String(PORT), '-t', String(seconds), '-J'], {
        reject: false,
        timeoutMs: seconds * 1000 + 30_000,
      });
      let doc;
      try {
        doc = JSON.parse(r.stdout);
      } catch {
        doc = undefined;
      }
      if (r.exitCode === 0 && doc?.end?.sum_received) {
        const wallS = (Date.now() - t0) / 1000;
        const cpu = Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, (cpuSecondsOf(p) - cpu0[k]) / wallS]));
        return { gbps: doc.end.sum_received.bits_per_second / 1e9, retransmits: doc.end.sum_sent?.retransmits ?? null, cpuShare: cpu };
      }
      const why = doc?.error ?? (r.stderr || r.stdout).trim().slice(0, 300);
      // The server may not listen yet (slow start under load): retry a few times.
      if (attempt < 6 && /refused|unable to connect/i.test(why)) continue;
      throw new Error(`iperf3 to ${addr}:${PORT} failed (exit ${r.exitCode}): ${why}`);
    }
  } finally {
    if (srv.exitCode === null) srv.kill('SIGKILL');
    await Promise.resolve(srv).catch(() => undefined);
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// ------------------------------------------------------------------ run
/** nftables table of the conntrack-only control run (in the "off" mesh's namespaces only). */
const CT_TABLE = 'rnbench_ct';

const ACL = {
  rules: [
    { id: 'iperf3', action: 'accept', src: ['b'], dst: ['a'], proto: 'tcp', ports: [PORT] },
    { id: 'icmp', action: 'accept', src: ['*'], dst: ['*'], proto: 'icmp' },
  ],
};

const machine = machineInfo();
const out = {
  bench: NAME,
  machine,
  startedAt: new Date().toISOString(),
  settings: { seconds: SECONDS, rounds: ROUNDS, port: PORT, backend: BACKEND, acl: ACL, direction: 'b -> a (iperf3 client on b)' },
  load: { start: loadavg()[0] },
  samples: { off: [], on: [], conntrack: [], underlay: [] },
};
let failed = false;
try {
  log(machineLine(machine));
  log(`load average at start: ${loadavg().map((x) => x.toFixed(2)).join(' ')} (${machine.nproc} CPUs)`);
  if (loadavg()[0] > machine.nproc / 2) log(`warning: load average above half the CPU count: figures will be noisy`);
  const off = await Mesh.create({ backends: [BACKEND], nodes: ['a', 'b'], cwd: root, logLevel: 'info', log: (l) => log(`off: ${l}`) });
  meshes.push(off);
  const on = await Mesh.create({ backends: [BACKEND], nodes: ['a', 'b'], cwd: root, logLevel: 'info', policy: true, acl: ACL, log: (l) => log(`on: ${l}`) });
  meshes.push(on);
  for (const m of [off, on]) {
    await m.publish(await m.sign(m.netmap(1)));
    await m.startDaemons(BACKEND, 1);
    // First packet triggers the handshake; wait until the tunnel carries traffic b -> a.
    if (!(await m.node('b').host.ping(m.node('a').v4, { attempts: 10, timeoutS: 1 }))) {
      throw new Error(`no ping b -> a over the mesh (${m === on ? 'policy on' : 'policy off'})\n${await m.tail('a')}`);
    }
  }
  const tableOn = await on.node('a').host.exec('nft', ['list', 'tables'], { reject: false });
  const tableOff = await off.node('a').host.exec('nft', ['list', 'tables'], { reject: false });
  out.policyTablePresent = { on: tableOn.stdout.includes(POLICY_TABLE), off: tableOff.stdout.includes(POLICY_TABLE) };
  if (!out.policyTablePresent.on) throw new Error(`policy on: table ${POLICY_TABLE} missing in a's namespace`);
  if (out.policyTablePresent.off) throw new Error(`policy off: table ${POLICY_TABLE} present in a's namespace`);

  const pidsOff = meshPids(off);
  const pidsOn = meshPids(on);
  out.pids = { off: pidsOff, on: pidsOn };
  const ct0 = { a: await conntrackStats(on.node('a').host), b: await conntrackStats(on.node('b').host) };
  const kinds = {
    off: () => iperf(off.node('a').host, off.node('b').host, off.node('a').v4, pidsOff),
    on: () => iperf(on.node('a').host, on.node('b').host, on.node('a').v4, pidsOn),
    underlay: () => iperf(off.node('a').host, off.node('b').host, off.node('a').host.underlayAddress),
    // Control: the "off" mesh plus only what the policy's fast path does to an established
    // packet (conntrack lookup + `ct state established,related accept` on the mesh interface),
    // no ACL. Tells the kernel's conntrack cost from the cost of the rules.
    conntrack: async () => {
      const nodes = off.nodes;
      for (const n of nodes) {
        await n.host.exec('nft', ['-f', '-'], {
          input: `table inet ${CT_TABLE} {\n\tchain input {\n\t\ttype filter hook input priority filter - 10; policy accept;\n\t\tiifname "${n.ifname}" ct state established,related accept\n\t}\n}\n`,
        });
      }
      try {
        return await iperf(off.node('a').host, off.node('b').host, off.node('a').v4, pidsOff);
      } finally {
        for (const n of nodes) await n.host.exec('nft', ['delete', 'table', 'inet', CT_TABLE], { reject: false });
      }
    },
  };
  // Warm-up, not counted: the first transfer through a freshly started tunnel (and right after
  // the daemons' start-up work) was the slowest of its kind in every trial run.
  const warmS = Math.min(2, SECONDS);
  for (const m of [off, on]) {
    await iperf(m.node('a').host, m.node('b').host, m.node('a').v4, {}, warmS);
  }
  const order = ['off', 'on', 'conntrack', 'underlay'];
  for (let round = 0; round < ROUNDS; round++) {
    const seq = order.map((_, i) => order[(i + round) % order.length]);
    for (const k of seq) {
      const r = await kinds[k]();
      out.samples[k].push(r);
      log(
        `round ${round + 1}/${ROUNDS} ${k.padEnd(8)} ${fmt(r.gbps)} Gbit/s (retransmits ${r.retransmits ?? 'n/a'}), ` +
          `CPU share: ${Object.entries(r.cpuShare).map(([n, v]) => `${n} ${(v * 100).toFixed(0)}%`).join(', ') || '-'}; load ${loadavg()[0].toFixed(2)}`,
      );
    }
  }
  const ct1 = { a: await conntrackStats(on.node('a').host), b: await conntrackStats(on.node('b').host) };
  out.conntrackOn = Object.fromEntries(
    ['a', 'b'].map((id) => [id, ct0[id] && ct1[id] ? Object.fromEntries(Object.keys(ct1[id]).filter((k) => k !== 'entries').map((k) => [k, ct1[id][k] - ct0[id][k]])) : null]),
  );
  const counters = await on.policyCounters('a');
  out.policyCounters = counters;
  const rule = counters.find((c) => c.rule === 'iperf3' || c.name.includes('iperf3'));
  out.aclRulePackets = rule?.packets ?? null;
  const daemonsOk = async (m) => {
    const s = await m.status('a');
    return s.state === 'up';
  };
  out.daemonsUpAtEnd = { off: await daemonsOk(off), on: await daemonsOk(on) };
} catch (err) {
  failed = true;
  out.error = String(err?.stack ?? err);
  log(`FAILED: ${out.error}`);
} finally {
  out.load.end = loadavg()[0];
  for (const m of meshes.splice(0).reverse()) {
    await m.destroy().catch(() => undefined);
    for (const n of m.nodes) rmSync(`/var/run/wireguard/${n.ifname}.sock`, { force: true });
  }
}

// ------------------------------------------------------------------ report
const med = Object.fromEntries(Object.entries(out.samples).map(([k, v]) => [k, median(v.map((x) => x.gbps))]));
out.medianGbps = med;
out.ratioOnOff = ratio(med.on, med.off);
out.ratioOffUnderlay = ratio(med.off, med.underlay);
out.ratioConntrackOff = ratio(med.conntrack, med.off);
out.target = { ratioOnOff: 0.95, met: out.ratioOnOff >= 0.95 };
const rows = [['Path', 'Runs (Gbit/s)', 'Median Gbit/s', 'Retransmits (median)']];
const label = {
  off: 'WireGuard, policy off',
  on: 'WireGuard, policy on (ACL)',
  conntrack: 'WireGuard, policy off + conntrack-only rule (control)',
  underlay: 'underlay (no tunnel)',
};
for (const k of ['off', 'on', 'conntrack', 'underlay']) {
  const s = out.samples[k];
  rows.push([label[k], s.map((x) => fmt(x.gbps)).join(', ') || '-', fmt(med[k]), s.length ? String(median(s.map((x) => x.retransmits ?? NaN))) : '-']);
}
const cpuRows = [['Process (CPU share of one core, median)', 'policy off', 'policy on', 'conntrack only']];
const cpuMed = (k, name) => median(out.samples[k].map((r) => r.cpuShare?.[name] ?? NaN));
for (const n of ['rustynetd a', 'rustynetd b', 'wireguard-go a', 'wireguard-go b']) {
  cpuRows.push([n, `${fmt(cpuMed('off', n) * 100)}%`, `${fmt(cpuMed('on', n) * 100)}%`, `${fmt(cpuMed('conntrack', n) * 100)}%`]);
}
out.cpuShareMedian = Object.fromEntries(['off', 'on', 'conntrack'].map((k) => [k, Object.fromEntries(['rustynetd a', 'rustynetd b', 'wireguard-go a', 'wireguard-go b'].map((n) => [n, cpuMed(k, n)]))]));
const ct = out.conntrackOn?.a;
const text = [
  `${NAME}: iperf3 TCP b -> a, ${SECONDS} s x ${ROUNDS} rounds per path, alternating; real rustynetd + wireguard-go`,
  machineLine(machine),
  `load average: ${out.load.start.toFixed(2)} at start, ${out.load.end.toFixed(2)} at end`,
  '',
  renderTable(rows),
  '',
  `ratio policy on / off (medians): ${out.ratioOnOff.toFixed(3)}x   target >= 0.95x: ${Number.isNaN(out.ratioOnOff) ? 'n/a' : out.target.met ? 'met' : 'MISSED'}`,
  `ratio conntrack-only control / off (medians): ${out.ratioConntrackOff.toFixed(3)}x`,
  `tunnel (policy off) / underlay: ${fmt(out.ratioOffUnderlay)}x`,
  `ACL rule "iperf3" counter on a: ${out.aclRulePackets ?? 'n/a'} packets (new flows only; established packets are accepted before the rules)`,
  '',
  renderTable(cpuRows),
  '',
  `conntrack in a's namespace, policy on, over all runs: ${ct ? `found ${ct.found ?? 'n/a'}, invalid ${ct.invalid ?? 'n/a'}, drop ${ct.drop ?? 'n/a'}, early_drop ${ct.early_drop ?? 'n/a'}, search_restart ${ct.search_restart ?? 'n/a'}` : 'n/a'}` +
    ' (the policy drops `ct state invalid`; a non-zero invalid count would mean dropped tunnel packets)',
  ...(failed ? ['', `FAILED: ${out.error.split('\n')[0]}`] : []),
].join('\n');
if (opt.json) {
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  process.stderr.write(`${text}\n`);
} else process.stdout.write(`${text}\n`);
process.exit(failed ? 1 : 0);
