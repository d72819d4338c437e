// Signal-safe cleanup for benches that create network namespaces and start daemons.
//
// Cleanup functions are synchronous (they must run inside a signal handler before exit):
// SIGTERM every live daemon started by bench/lib/daemon.mjs (a clean stop removes its tunnel),
// wait up to 10 s, then run the registered functions newest first (each TestNetwork's tracker
// kills what is left in its namespaces and deletes them).
import { rmSync } from 'node:fs';
import { liveDaemons } from './daemon.mjs';
import { commOf } from './proc.mjs';

const cleanups = []; // sync functions, newest last

/** Runs every registered cleanup once (best effort), after stopping the live daemons. */
export function cleanupSync() {
  const pids = [...liveDaemons].map((d) => d.pid).filter(Boolean);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* gone */
    }
  }
  const deadline = Date.now() + 10_000;
  const alive = (pid) => commOf(pid) !== null;
  while (pids.some(alive) && Date.now() < deadline) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
  for (const f of cleanups.splice(0).reverse()) {
    try {
      f();
    } catch {
      /* best effort */
    }
  }
}

/** On SIGINT/SIGTERM/SIGHUP: log, {@link cleanupSync}, exit 130 (SIGINT) or 143. */
export function cleanupOnSignals(log) {
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      log(`${sig}: cleaning up`);
      cleanupSync();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
}

/**
 * Registers a TestNetwork (conformance-kit harness) for cleanup: its namespaces and processes,
 * the wireguard-go UAPI sockets of `ifnames`, and the directories `dirs`.
 */
export function trackNetwork(net, ifnames, dirs = []) {
  cleanups.push(() => {
    net.tracker.cleanupSync();
    for (const i of ifnames) rmSync(`/var/run/wireguard/${i}.sock`, { force: true });
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
}
