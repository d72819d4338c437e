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
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SKIP_EXIT_CODE } from './lib/prereq.mjs';
import { iperfBenchOptions, meshCleanup, meshProcessPids, median, runIperf3, skipUnlessReady } from './lib/iperf-bench.mjs';
import { fmt, ratio } from './lib/stats.mjs';
import { renderTable } from './lib/table.mjs';
import { machineInfo, machineLine } from './lib/machine.mjs';
import { exitWithHelpIfAsked } from './lib/help.mjs';

exitWithHelpIfAsked(import.meta.url);

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const BACKEND = '@rustynet/backend-wireguard';
const NAME = 'wireguard-policy-throughput';

const opt = iperfBenchOptions(NAME);
const SECONDS = opt.seconds;
const ROUNDS = opt.rounds;
const PORT = opt.port;

const REQUIREMENTS = {
  root: true,
  tools: ['ip', 'wg', 'wireguard-go', 'ping', 'nft', 'tcpdump', 'iperf3'],
  files: [
    'core/testbed/dist/src/index.js',
    'core/cli/dist/src/bin/rustynetd.js',
    'core/cli/dist/src/bin/rustynet.js',
    'core/daemon/dist/src/index.js',
    'plugins/backend-wireguard/dist/src/index.js',
    'plugins/policy-nftables/dist/src/index.js',
    'conformance-kit/dist/src/harness/index.js',
  ],
};
skipUnlessReady(NAME, REQUIREMENTS, root);

const { Mesh, POLICY_TABLE } = await import('../core/testbed/dist/src/index.js');

const log = (line) => process.stderr.write(`[${NAME}] ${line}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------ cleanup
const cleanup = meshCleanup(log);

// ------------------------------------------------------------------ CPU and conntrack

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
  for (const l of lines.slice(1))
    l.trim()
      .split(/\s+/)
      .forEach((v, i) => (sums[names[i]] += parseInt(v, 16)));
  return sums;
}

// ------------------------------------------------------------------ iperf3
/** One iperf3 TCP run b -> a style: server on `server` at `addr`, client on `client` (bench/lib/iperf-bench.mjs). */
const iperf = (server, client, addr, pids = {}, seconds = SECONDS) => runIperf3({ server, client, addr, port: PORT, seconds, pids });

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
  log(
    `load average at start: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')} (${machine.nproc} CPUs)`,
  );
  if (loadavg()[0] > machine.nproc / 2) log(`warning: load average above half the CPU count: figures will be noisy`);
  const off = await Mesh.create({ backends: [BACKEND], nodes: ['a', 'b'], cwd: root, logLevel: 'info', log: (l) => log(`off: ${l}`) });
  cleanup.track(off);
  const on = await Mesh.create({
    backends: [BACKEND],
    nodes: ['a', 'b'],
    cwd: root,
    logLevel: 'info',
    policy: true,
    acl: ACL,
    log: (l) => log(`on: ${l}`),
  });
  cleanup.track(on);
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

  const pidsOff = meshProcessPids(off);
  const pidsOn = meshProcessPids(on);
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
          `CPU share: ${
            Object.entries(r.cpu)
              .map(([n, v]) => `${n} ${(v.share * 100).toFixed(0)}%`)
              .join(', ') || '-'
          }; load ${loadavg()[0].toFixed(2)}`,
      );
    }
  }
  const ct1 = { a: await conntrackStats(on.node('a').host), b: await conntrackStats(on.node('b').host) };
  out.conntrackOn = Object.fromEntries(
    ['a', 'b'].map((id) => [
      id,
      ct0[id] && ct1[id]
        ? Object.fromEntries(
            Object.keys(ct1[id])
              .filter((k) => k !== 'entries')
              .map((k) => [k, ct1[id][k] - ct0[id][k]]),
          )
        : null,
    ]),
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
  await cleanup.destroyAll();
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
  rows.push([
    label[k],
    s.map((x) => fmt(x.gbps)).join(', ') || '-',
    fmt(med[k]),
    s.length ? String(median(s.map((x) => x.retransmits ?? NaN))) : '-',
  ]);
}
const cpuRows = [['Process (CPU share of one core, median)', 'policy off', 'policy on', 'conntrack only']];
const cpuMed = (k, name) => median(out.samples[k].map((r) => r.cpu?.[name]?.share ?? NaN));
for (const n of ['rustynetd a', 'rustynetd b', 'wireguard-go a', 'wireguard-go b']) {
  cpuRows.push([n, `${fmt(cpuMed('off', n) * 100)}%`, `${fmt(cpuMed('on', n) * 100)}%`, `${fmt(cpuMed('conntrack', n) * 100)}%`]);
}
out.cpuShareMedian = Object.fromEntries(
  ['off', 'on', 'conntrack'].map((k) => [
    k,
    Object.fromEntries(['rustynetd a', 'rustynetd b', 'wireguard-go a', 'wireguard-go b'].map((n) => [n, cpuMed(k, n)])),
  ]),
);
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
