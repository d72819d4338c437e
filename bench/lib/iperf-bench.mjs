// Shared parts of the benches that run iperf3 across a real rustynetd mesh
// (bench/relay-throughput.mjs, bench/wireguard-policy-throughput.mjs): options, prerequisite
// skip, cleanup on signals, CPU sampling of the mesh's processes, one iperf3 run, medians.
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { SKIP_EXIT_CODE, problems } from './prereq.mjs';
import { commOf, findPids } from './proc.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * `--seconds` (1..60, default 5), `--rounds` (1..20, default 3), `--port` (1024..65535, default
 * 5201), `--json`. Not strict: bench/run.mjs passes the same `-- args` to every selected bench.
 * Exits 2 with a message naming the bench on a bad value.
 * @returns {{ seconds: number, rounds: number, port: number, json: boolean }}
 */
export function iperfBenchOptions(name) {
  const { values: opt } = parseArgs({
    strict: false,
    options: {
      seconds: { type: 'string', default: '5' },
      rounds: { type: 'string', default: '3' },
      port: { type: 'string', default: '5201' },
      json: { type: 'boolean', default: false },
    },
  });
  const seconds = Number(opt.seconds);
  const rounds = Number(opt.rounds);
  const port = Number(opt.port);
  if (!(seconds >= 1 && seconds <= 60) || !(rounds >= 1 && rounds <= 20) || !(port >= 1024 && port <= 65535)) {
    console.error(`${name}: bad arguments: --seconds 1..60, --rounds 1..20, --port 1024..65535`);
    process.exit(2);
  }
  return { seconds, rounds, port, json: Boolean(opt.json) };
}

/** Exits with SKIP_EXIT_CODE (77) and the reasons when `requirements` (see prereq.mjs) are not met. */
export function skipUnlessReady(name, requirements, root) {
  const missing = problems(requirements, root);
  if (missing.length > 0) {
    console.error(`${name}: skipped: ${missing.join('; ')}`);
    process.exit(SKIP_EXIT_CODE);
  }
}

/**
 * Tracks the meshes a bench creates and removes them on SIGINT/SIGTERM/SIGHUP (exit 130/143) or
 * when `cleanupSync()` is called: daemons (and relay server) stopped, then everything the
 * harness tracked in the namespaces, the namespaces and the work directory.
 */
export function meshCleanup(log) {
  const meshes = [];
  const cleanupSync = () => {
    for (const m of meshes.splice(0).reverse()) {
      try {
        m.emergencyStopSync(10_000);
      } catch {
        /* best effort */
      }
      try {
        m.net.tracker.cleanupSync();
      } catch {
        /* best effort */
      }
    }
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      log(`${sig}: cleaning up`);
      cleanupSync();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
  /** Destroys every tracked mesh (newest first) and removes their wireguard-go sockets. */
  const destroyAll = async () => {
    for (const m of meshes.splice(0).reverse()) {
      await m.destroy().catch(() => undefined);
      for (const n of m.nodes) rmSync(`/var/run/wireguard/${n.ifname}.sock`, { force: true });
    }
  };
  return { track: (m) => (meshes.push(m), m), cleanupSync, destroyAll };
}

/** Clock ticks per second of /proc/<pid>/stat times (getconf CLK_TCK; 100 on Linux when unknown). */
export const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of `pid` in seconds (/proc/<pid>/stat fields 14 and 15, proc(5)), or NaN. */
export function cpuSecondsOf(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** The rustynetd and wireguard-go processes of a mesh: name -> pid (`rustynetd a`, `wireguard-go a`, ...). */
export function meshProcessPids(m) {
  const pids = {};
  for (const [id, pid] of Object.entries(m.daemonPids())) pids[`rustynetd ${id}`] = pid;
  for (const n of m.nodes) {
    const wg = findPids([n.ifname]).filter((p) => commOf(p) === 'wireguard-go');
    if (wg.length > 0) pids[`wireguard-go ${n.id}`] = wg[0];
  }
  return pids;
}

/**
 * One iperf3 TCP run: server on `server` bound to `addr`:`port`, client on `client`, for
 * `seconds`. CPU time of `pids` is sampled around the run; `around` (optional) is called before
 * and after and its two results are handed to `around.diff`.
 * Retries a few times while the server is not listening yet (slow start under load).
 * @returns {{ gbps: number, retransmits: number|null, wallS: number,
 *   cpu: Record<string, { seconds: number, share: number }>, extra?: unknown }}
 * @throws Error naming the address and iperf3's error when the run fails.
 */
export async function runIperf3({ server, client, addr, port, seconds, pids = {}, around }) {
  const srv = server.spawn('iperf3', ['-s', '-1', '-B', addr, '-p', String(port)], {
    stdin: 'ignore',
    stdout: 'ignore',
    stderr: 'pipe',
    buffer: false,
  });
  try {
    for (let attempt = 0; ; attempt++) {
      await sleep(attempt === 0 ? 300 : 500);
      const cpu0 = Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, cpuSecondsOf(p)]));
      const before = around ? await around.sample() : undefined;
      const t0 = Date.now();
      const r = await client.exec('iperf3', ['-c', addr, '-p', String(port), '-t', String(seconds), '-J'], {
        reject: false,
        timeoutMs: seconds * 1000 + 30_000,
      });
      const wallS = (Date.now() - t0) / 1000;
      const after = around ? await around.sample() : undefined;
      const cpu = Object.fromEntries(
        Object.entries(pids).map(([k, p]) => {
          const s = cpuSecondsOf(p) - cpu0[k];
          return [k, { seconds: s, share: s / wallS }];
        }),
      );
      let doc;
      try {
        doc = JSON.parse(r.stdout);
      } catch {
        doc = undefined;
      }
      if (r.exitCode === 0 && doc?.end?.sum_received) {
        return {
          gbps: doc.end.sum_received.bits_per_second / 1e9,
          retransmits: doc.end.sum_sent?.retransmits ?? null,
          wallS,
          cpu,
          ...(around && { extra: around.diff(before, after) }),
        };
      }
      const why = doc?.error ?? (r.stderr || r.stdout).trim().slice(0, 300);
      if (attempt < 6 && /refused|unable to connect/i.test(why)) continue;
      throw new Error(`iperf3 to ${addr}:${port} failed (exit ${r.exitCode}): ${why}`);
    }
  } finally {
    if (srv.exitCode === null) srv.kill('SIGKILL');
    await Promise.resolve(srv).catch(() => undefined);
  }
}

/** Median of the numbers in `xs`, NaN ignored; NaN when none is left. */
export function median(xs) {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
