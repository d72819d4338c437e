#!/usr/bin/env node
// iperf3 throughput between two WireGuard nodes through the relay vs the direct path (issue 6), real rustynetd daemons.
//
//   npm run build && node bench/relay-throughput.mjs [--seconds 5] [--rounds 3] [--port 5201] [--no-tls] [--json]
//
// One mesh of two nodes (a, b) plus a relay host (core/cli's Mesh with `relay: true`): a real
// `rustynetd` per node in its own network namespace, WireGuard backend on wireguard-go, the
// relay client plugin and the daemon's path controller, and `rustynet relay serve` in the relay
// host's namespace, started with --kernel-forwarding (IP forwarding on in that namespace only)
// and every node's relay client with fastPath (docs/relay.md, "Kernel fast path").
// Phase 1, each round, in one run:
//   1. direct:   iperf3 TCP b -> a over the mesh while both daemons report `direct`;
//   2. fast:     the direct underlay path a <-> b is blocked with nftables in both namespaces
//                (Mesh.blockDirect); once both daemons report `relay` and a ping passes, the
//                same iperf3 run, through the relay's kernel fast path; then the block is removed
//                and the bench waits for `direct`;
//   3. underlay: plain iperf3 between the underlay addresses (no tunnel): the raw reference.
// Phase 2: the relay is restarted without --kernel-forwarding (ALLOCATE answered 0, so the clients
// fall back to the loopback proxy) and `relay` rounds run like `fast`: the userspace relay.
// After the rounds, the TLS carrier (docs/relay.md): UDP from a and b to the relay is dropped with
// nftables in their namespaces, both daemons are restarted so their relay clients register over
// TLS (TCP 443), the direct path is blocked, and the same iperf3 run is repeated `rounds` times
// (`tls`): TCP-in-TLS-in-TCP, so it shows the head-of-line and double congestion-control cost.
// Prints medians and the ratios fast/direct (target >= 0.8x, issue 15) and relay/direct; --no-tls
// skips the TLS part. Also machine-wide kernel CPU (/proc/stat) per Gbit: kernel forwarding has no process. During every run it
// reads /proc/<pid>/stat (utime + stime) of the relay server, both rustynetd processes (the relay
// client plugin forwards datagrams inside the daemon) and both wireguard-go processes, and the
// relay host's eth0 packet/byte counters (ip -s -j link): relay CPU share, CPU seconds per Gbit
// forwarded and CPU microseconds per datagram, to show what limits the relayed path.
//
// Needs root, ip, wg, wireguard-go, ping, nft, tcpdump, iperf3 and a build. Everything runs in
// network namespaces created here; they, the daemons, the relay server, iperf3 and the runtime
// sockets are removed at the end, on failure and on SIGINT/SIGTERM. The root namespace is never
// touched. Prints, asserts nothing (exit 77 = skipped, prerequisites missing).//
// Measuring helpers: bench/lib/relay-measure.mjs; summary and text: bench/lib/relay-throughput-report.mjs.
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SKIP_EXIT_CODE } from './lib/prereq.mjs';
import { CLK_TCK, iperfBenchOptions, meshCleanup, meshProcessPids, skipUnlessReady } from './lib/iperf-bench.mjs';
import { fmt } from './lib/stats.mjs';
import { machineInfo, machineLine } from './lib/machine.mjs';
import { pathsOf, relayIperf, watchedPids } from './lib/relay-measure.mjs';
import { summarizeRelayThroughput } from './lib/relay-throughput-report.mjs';
import { exitWithHelpIfAsked } from './lib/help.mjs';

exitWithHelpIfAsked(import.meta.url);

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const BACKEND = '@rustynet/backend-wireguard';
const NAME = 'relay-throughput';

const opt = iperfBenchOptions(NAME);
const SECONDS = opt.seconds;
const ROUNDS = opt.rounds;
const PORT = opt.port;
const NO_TLS = process.argv.includes('--no-tls');

const REQUIREMENTS = {
  root: true,
  tools: ['ip', 'wg', 'wireguard-go', 'ping', 'nft', 'tcpdump', 'iperf3'],
  files: [
    'core/testbed/dist/src/index.js',
    'core/cli/dist/src/bin/rustynetd.js',
    'core/cli/dist/src/bin/rustynet.js',
    'core/daemon/dist/src/index.js',
    'plugins/backend-wireguard/dist/src/index.js',
    'plugins/relay/dist/src/index.js',
    'conformance-kit/dist/src/harness/index.js',
  ],
};
skipUnlessReady(NAME, REQUIREMENTS, root);

const { Mesh, relayUnsupportedReason } = await import('../core/testbed/dist/src/index.js');
const unsupported = await relayUnsupportedReason(BACKEND, root);
if (unsupported) {
  console.error(`${NAME}: skipped: ${unsupported}`);
  process.exit(SKIP_EXIT_CODE);
}

const log = (line) => process.stderr.write(`[${NAME}] ${line}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------ cleanup
const cleanup = meshCleanup(log);

// ------------------------------------------------------------------ measuring
/** One iperf3 run with this bench's --port and --seconds (relay-measure.mjs). */
const iperf = (server, client, addr, pids, relayHost) =>
  relayIperf(server, client, addr, pids, relayHost, { port: PORT, seconds: SECONDS });

// ------------------------------------------------------------------ run
const machine = machineInfo();
const out = {
  bench: NAME,
  machine,
  startedAt: new Date().toISOString(),
  settings: { seconds: SECONDS, rounds: ROUNDS, port: PORT, backend: BACKEND, direction: 'b -> a (iperf3 client on b)', clkTck: CLK_TCK },
  load: { start: loadavg()[0] },
  samples: { direct: [], fast: [], relay: [], underlay: [], tls: [] },
  switches: [],
};
let failed = false;
try {
  log(machineLine(machine));
  log(
    `load average at start: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')} (${machine.nproc} CPUs)`,
  );
  if (loadavg()[0] > machine.nproc / 2) log('warning: load average above half the CPU count: figures will be noisy');
  // Kernel fast path (docs/relay.md): the relay forwards allocations with nftables in its own
  // namespace (IP forwarding on there only), the nodes' backends send straight to the allocations.
  const m = cleanup.track(
    await Mesh.create({
      backends: [BACKEND],
      nodes: ['a', 'b'],
      cwd: root,
      relay: true,
      logLevel: 'info',
      log,
      relayExtraArgs: ['--kernel-forwarding'],
      relayClientOptions: { fastPath: true },
    }),
  );
  await m.relayHost.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  await m.publish(await m.sign(m.netmap(1)));
  await m.startDaemons(BACKEND, 1);
  const [a, b] = [m.node('a'), m.node('b')];
  if (!(await b.host.ping(a.v4, { attempts: 10, timeoutS: 1 }))) throw new Error(`no ping b -> a over the mesh\n${await m.tail('a')}`);
  await m.waitForPath(
    [
      ['a', 'b'],
      ['b', 'a'],
    ],
    'direct',
    20_000,
  );
  let pids = watchedPids(m);
  out.pids = pids;
  log(
    `watching CPU of: ${Object.entries(pids)
      .map(([k, p]) => `${k} (${p})`)
      .join(', ')}`,
  );

  const run = async (kind, round) => {
    let r;
    if (kind === 'underlay') {
      r = await iperf(a.host, b.host, a.host.underlayAddress, pids, m.relayHost);
    } else if (kind === 'direct') {
      const paths = await pathsOf(m);
      if (Object.values(paths).some((p) => p !== 'direct')) throw new Error(`direct run: paths are ${JSON.stringify(paths)}`);
      r = await iperf(a.host, b.host, a.v4, pids, m.relayHost);
      r.paths = paths;
    } else {
      const tBlock = await m.blockDirect('a', 'b');
      const tRelay = await m.waitForPath(
        [
          ['a', 'b'],
          ['b', 'a'],
        ],
        'relay',
        15_000,
      );
      if (!(await b.host.ping(a.v4, { attempts: 10, timeoutS: 1 })))
        throw new Error(`no ping b -> a through the relay\n${await m.tail('a')}`);
      const paths = await pathsOf(m);
      r = await iperf(a.host, b.host, a.v4, pids, m.relayHost);
      r.relayEndpoint = (await m.status('b')).peers.find((p) => p.id === 'a')?.endpoint ?? null;
      const pathsAfter = await pathsOf(m);
      if (Object.values(pathsAfter).some((p) => p !== 'relay'))
        throw new Error(`relay run: paths changed during the run: ${JSON.stringify(pathsAfter)}`);
      r.paths = paths;
      const tUnblock = await m.unblockDirect('a', 'b');
      const tDirect = await m.waitForPath(
        [
          ['a', 'b'],
          ['b', 'a'],
        ],
        'direct',
        30_000,
      );
      out.switches.push({ round, blockToRelayStatusMs: tRelay - tBlock, unblockToDirectStatusMs: tDirect - tUnblock });
    }
    out.samples[kind].push(r);
    const relayCpu = r.cpu['relay server'];
    log(
      `round ${round}/${ROUNDS} ${kind.padEnd(8)} ${fmt(r.gbps)} Gbit/s (retransmits ${r.retransmits ?? 'n/a'}); relay host eth0 rx ${r.relayLink.rxPackets} pkts; ` +
        `CPU share: ${Object.entries(r.cpu)
          .map(([k, v]) => `${k} ${(v.share * 100).toFixed(0)}%`)
          .join(', ')}; relay ${fmt(relayCpu.seconds)} s; load ${loadavg()[0].toFixed(2)}`,
    );
  };
  // Phase 1: the relay with --kernel-forwarding, nodes with fastPath: the relayed rounds ("fast") take the kernel path.
  const order = ['direct', 'fast', 'underlay'];
  for (let round = 1; round <= ROUNDS; round++) {
    for (let i = 0; i < order.length; i++) await run(order[(i + round - 1) % order.length], round);
  }
  const { readFile } = await import('node:fs/promises');
  out.relayOutPhase1 = (await readFile(m.relayOutFile, 'utf8').catch(() => '')).split('\n').filter((l) => /kernel forwarding/.test(l));
  if (!out.relayOutPhase1.some((l) => /kernel forwarding active/.test(l)))
    log('warning: the relay did not report kernel forwarding active');
  // Phase 2: the same relay restarted without --kernel-forwarding: ALLOCATE is answered 0, the
  // clients fall back to the userspace path (loopback proxy in the daemon + relay in Node).
  await m.stopRelayServer();
  m.opts.relayExtraArgs.length = 0;
  await m.startRelayServer();
  await sleep(12_000); // a keepalive (10 s) meets REJECT NOT_REGISTERED: both clients register again
  pids = watchedPids(m);
  for (let round = 1; round <= ROUNDS; round++) await run('relay', round);
  // TLS carrier: UDP to the relay dropped in a and b, daemons restarted -> they register over TLS.
  if (NO_TLS) throw Object.assign(new Error('skip tls'), { skipTls: true });
  const relayIp = m.relayHost.underlayAddress;
  const nft = `table inet rn_bench_relay_udp {\n chain out {\n  type filter hook output priority 0; policy accept;\n  ip daddr ${relayIp} udp dport 3478 drop\n }\n}\n`;
  for (const n of [a, b]) await n.host.exec('nft', ['-f', '-'], { input: nft });
  for (const id of ['a', 'b']) {
    await m.stopDaemon(id);
    m.restartDaemon(id);
  }
  await m.waitFor((_id, st) => st.state === 'up', 'daemons up after the restart', 60_000);
  await m.blockDirect('a', 'b');
  const tTls = Date.now();
  await m.waitForPath(
    [
      ['a', 'b'],
      ['b', 'a'],
    ],
    'relay',
    60_000,
  );
  if (!(await b.host.ping(a.v4, { attempts: 10, timeoutS: 1 })))
    throw new Error(`no ping b -> a through the TLS carrier\n${await m.tail('a')}`);
  const overTls = (await m.tail('a', 400)).includes('"carrier":"tls"');
  if (!overTls) throw new Error(`a did not register through the TLS carrier\n${await m.tail('a')}`);
  out.tlsSetupMs = Date.now() - tTls;
  const tlsPids = { 'relay server': pids['relay server'], ...meshProcessPids(m) };
  for (let round = 1; round <= ROUNDS; round++) {
    const r = await iperf(a.host, b.host, a.v4, tlsPids, m.relayHost);
    r.paths = await pathsOf(m);
    out.samples.tls.push(r);
    log(
      `round ${round}/${ROUNDS} tls      ${fmt(r.gbps)} Gbit/s (retransmits ${r.retransmits ?? 'n/a'}); relay ${fmt(r.cpu['relay server'].seconds)} s CPU`,
    );
  }
  out.relayServerOutputTail = (await m.stopRelayServer())?.output.trim().split('\n').slice(-3) ?? null;
} catch (err) {
  if (err?.skipTls) {
    out.tls = 'skipped (--no-tls)';
  } else {
    failed = true;
    out.error = String(err?.stack ?? err);
    log(`FAILED: ${out.error}`);
  }
} finally {
  out.load.end = loadavg()[0];
  await cleanup.destroyAll();
}

const text = summarizeRelayThroughput(out, { name: NAME, seconds: SECONDS, rounds: ROUNDS, machine, failed });
if (opt.json) {
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  process.stderr.write(`${text}\n`);
} else process.stdout.write(`${text}\n`);
process.exit(failed ? 1 : 0);
