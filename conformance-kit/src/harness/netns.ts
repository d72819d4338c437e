/**
 * Network namespaces of the harness: the naming and owner-file conventions, and removing the
 * namespaces of runs whose owner process is gone.
 */
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { runSyncQuiet } from './tracker.js';

/** Prefix of every namespace the harness creates; `rnt-<hex>` is one run. */
export const HARNESS_PREFIX = 'rnt';
/** Directory holding one `<prefix>.pid` owner file per live run (tmpfs, gone at reboot). */
export const RUN_DIR = '/run/rustynet-testnet';
/** Underlay network of every test network (RFC 2544 benchmarking range). */
export const UNDERLAY_PREFIX = '198.18.0';

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Ends every process inside a namespace (SIGTERM, then SIGKILL after up to 1 s, so daemons
 * such as userspace tunnels can remove their sockets), then deletes the namespace. Synchronous.
 */
export function killAndDeleteNetnsSync(netns: string): void {
  const pids = (): number[] => runSyncQuiet('ip', ['netns', 'pids', netns]).stdout.split(/\s+/).filter(Boolean).map(Number);
  const signal = (list: number[], sig: NodeJS.Signals): void => {
    for (const p of list) {
      try {
        process.kill(p, sig);
      } catch {
        /* gone */
      }
    }
  };
  let list = pids();
  if (list.length) {
    signal(list, 'SIGTERM');
    for (let i = 0; i < 20 && list.length; i++) {
      sleepSync(50);
      list = pids();
    }
    signal(list, 'SIGKILL');
  }
  runSyncQuiet('ip', ['netns', 'del', netns]);
}

/**
 * Removes namespaces left by earlier runs of the harness whose owner process is gone
 * (names `rnt-<hex>-*` without a live `RUN_DIR/<prefix>.pid`). Runs of other live processes
 * are left alone. @returns the namespaces removed.
 */
export function cleanStaleNetworks(): string[] {
  const removed: string[] = [];
  const { stdout } = runSyncQuiet('ip', ['netns', 'list']);
  const names = stdout
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter((n) => n.startsWith(`${HARNESS_PREFIX}-`));
  for (const ns of names) {
    const m = /^(rnt-[0-9a-f]+)-/.exec(ns);
    const runPrefix = m?.[1];
    let owner = 0;
    if (runPrefix) {
      try {
        owner = Number(readFileSync(join(RUN_DIR, `${runPrefix}.pid`), 'utf8').trim());
      } catch {
        owner = 0;
      }
    }
    if (owner > 0 && pidAlive(owner)) continue;
    killAndDeleteNetnsSync(ns);
    removed.push(ns);
  }
  if (existsSync(RUN_DIR)) {
    for (const f of readdirSync(RUN_DIR)) {
      const pid = Number(readFileSync(join(RUN_DIR, f), 'utf8').trim());
      if (!(pid > 0 && pidAlive(pid))) rmSync(join(RUN_DIR, f), { force: true });
    }
  }
  return removed;
}
