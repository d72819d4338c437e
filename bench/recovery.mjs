#!/usr/bin/env node
// Time to traffic after a fault (issue 10): backend data-plane process killed, daemon killed and restarted; both backends.
//
//   npm run build && node bench/recovery.mjs [--runs 5] [--backend <package>] [--json]
//
// Per backend, one two-node mesh (core/testbed's Mesh: a real `rustynetd` per node in its own
// network namespace). Each run injects one fault on node a and measures the milliseconds until a
// ping a -> b over the mesh is answered again (one echo request with a 200 ms wait, repeated):
//   backend-killed   SIGKILL of a's data-plane processes (wireguard-go / openvpn); the daemon's
//                    watchdog (or the backend itself) restores the data plane; before each
//                    sample `rustynet down && up` gives a fresh data plane, so a backend's own
//                    crash back-off does not carry from one sample to the next;
//   daemon-restart   SIGKILL of a's rustynetd, then the same command again; timed from the
//                    restart, counting only traffic after the new daemon reports `up` (the dead
//                    daemon's orphaned data plane is replaced at start).
// Prints every figure and the median of the runs (default 5). Needs root, ip, wg, wireguard-go,
// openvpn, ping, nft, tcpdump and a build. Namespaces, daemons and sockets are removed at the end,
// on failure and on SIGINT/SIGTERM; the root namespace is never touched. Prints, asserts nothing
// (exit 77 = skipped, prerequisites missing).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { meshCleanup, median, skipUnlessReady } from './lib/iperf-bench.mjs';
import { machineInfo, machineLine } from './lib/machine.mjs';
import { exitWithHelpIfAsked } from './lib/help.mjs';

exitWithHelpIfAsked(import.meta.url);

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const NAME = 'recovery';
const BACKENDS = ['@rustynet/backend-wireguard', '@rustynet/backend-openvpn'];

const { values: opt } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    backend: { type: 'string', multiple: true },
    json: { type: 'boolean', default: false },
  },
  allowPositionals: true,
});
const RUNS = Math.max(1, Number(opt.runs) || 5);
const backends = opt.backend?.length ? opt.backend : BACKENDS;

skipUnlessReady(
  NAME,
  {
    root: true,
    tools: ['ip', 'wg', 'wireguard-go', 'openvpn', 'ping', 'nft', 'tcpdump'],
    files: [
      'core/testbed/dist/src/index.js',
      'core/cli/dist/src/bin/rustynetd.js',
      'core/daemon/dist/src/index.js',
      'plugins/backend-wireguard/dist/src/index.js',
      'plugins/backend-openvpn/dist/src/index.js',
      'conformance-kit/dist/src/harness/index.js',
    ],
  },
  root,
);

const { Mesh, rustynet, timeToTraffic } = await import('../core/testbed/dist/src/index.js');
const log = (line) => process.stderr.write(`[${NAME}] ${line}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const cleanup = meshCleanup(log);
const TIMEOUT_MS = 60_000;

/** Polls a's status until `pred` holds; @returns ms since `since`. */
async function waitStatus(m, id, pred, since, what) {
  while (Date.now() < since + TIMEOUT_MS) {
    const s = await m.status(id).catch(() => undefined);
    if (s && pred(s)) return Date.now() - since;
    await sleep(25);
  }
  throw new Error(`node ${id}: not ${what} within ${TIMEOUT_MS} ms\n${await m.tail(id, 30)}`);
}

/**
 * A fresh data plane on a (`rustynet down`, `rustynet up`), so each backend-killed sample starts
 * from the same state: a backend's own restart back-off (OpenVPN doubles its restart delay for an
 * instance that crashed again within 60 s) would otherwise grow from sample to sample.
 */
async function freshDataPlane(m) {
  const a = m.node('a');
  await rustynet(['down', '--socket', a.socket]);
  await rustynet(['up', '--socket', a.socket]);
  await waitStatus(m, 'a', (s) => s.state === 'up', Date.now(), 'up');
  if ((await timeToTraffic(a.host, m.node('b').v4, Date.now(), TIMEOUT_MS)) === null) throw new Error('no traffic after down/up');
}

async function measure(m, backend, fault) {
  const a = m.node('a');
  const b = m.node('b');
  if (fault === 'backend-killed') {
    await freshDataPlane(m);
    const t0 = Date.now();
    await m.killBackend('a', backend);
    const ms = await timeToTraffic(a.host, b.v4, t0, TIMEOUT_MS);
    if (ms === null) throw new Error(`no traffic within ${TIMEOUT_MS} ms after the kill\n${await m.tail('a', 30)}`);
    await waitStatus(m, 'a', (s) => s.dataPlane?.state === 'ok', Date.now(), 'healthy again');
    return ms;
  }
  await m.killDaemon('a');
  const t0 = Date.now();
  m.restartDaemon('a');
  await waitStatus(m, 'a', (s) => s.state === 'up' && s.netmap?.version === 1, t0, 'up');
  const ms = await timeToTraffic(a.host, b.v4, t0, TIMEOUT_MS);
  if (ms === null) throw new Error(`no traffic within ${TIMEOUT_MS} ms after the restart\n${await m.tail('a', 30)}`);
  return ms;
}

const machine = machineInfo();
const out = { bench: NAME, machine, startedAt: new Date().toISOString(), settings: { runs: RUNS, backends }, results: {} };
let failed = false;
try {
  log(machineLine(machine));
  for (const backend of backends) {
    const m = cleanup.track(
      await Mesh.create({ backends: [backend], nodes: ['a', 'b'], cwd: root, logLevel: 'info', log: () => undefined }),
    );
    await m.publish(await m.sign(m.netmap(1)));
    await m.startDaemons(backend, 1);
    if ((await timeToTraffic(m.node('a').host, m.node('b').v4, Date.now(), TIMEOUT_MS)) === null)
      throw new Error(`no traffic a -> b before the faults\n${await m.tail('a')}`);
    out.results[backend] = {};
    for (const fault of ['backend-killed', 'daemon-restart']) {
      const samples = [];
      for (let i = 1; i <= RUNS; i++) {
        const ms = await measure(m, backend, fault);
        samples.push(ms);
        log(`${backend} ${fault} run ${i}/${RUNS}: traffic back in ${ms} ms`);
        await sleep(1000);
      }
      const med = median(samples);
      out.results[backend][fault] = { samplesMs: samples, medianMs: med };
      log(`${backend} ${fault}: median ${med} ms of ${RUNS} (${samples.join(', ')} ms)`);
    }
    await cleanup.destroyAll();
  }
} catch (err) {
  failed = true;
  log(`failed: ${err instanceof Error ? err.message : String(err)}`);
} finally {
  await cleanup.destroyAll();
}

if (opt.json) {
  console.log(JSON.stringify(out, null, 2));
} else {
  console.log(`time to traffic after a fault, median of ${RUNS} runs (ms)`);
  for (const [backend, r] of Object.entries(out.results)) {
    for (const [fault, v] of Object.entries(r))
      console.log(`  ${backend.padEnd(30)} ${fault.padEnd(16)} ${String(v.medianMs).padStart(6)}   runs: ${v.samplesMs.join(', ')}`);
  }
}
process.exit(failed ? 1 : 0);
