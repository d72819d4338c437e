// Phase 2 of bench/daemon-wireguard.mjs: rustynetd start -> first ping over a 2-node mesh
// (both nodes start together, or one joins a running peer). Imported after the prerequisite check.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Mesh } from '../../core/testbed/dist/src/index.js';
import { readPrivateKeyFile } from '../../core/daemon/dist/src/index.js';
import { fmt } from './stats.mjs';
import { startDaemon } from './daemon.mjs';
import { trackNetwork } from './cleanup.mjs';
import { Publisher } from './synthetic-netmap.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

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

/**
 * Runs phase 2 (`cfg.startRuns` runs + 1 warm-up, modes `both` and `join`) and stores
 * `results.start` = { both: { toPing, toUp }, join: { toPing, toUp } } (ms).
 * `cfg`: { root, log, backend, startRuns, nodeArgs }.
 */
export async function startPhase(results, cfg) {
  const { root, log, backend: BACKEND, startRuns: START_RUNS, nodeArgs: NODE_ARGS } = cfg;
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
