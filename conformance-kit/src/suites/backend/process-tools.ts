/**
 * What the fault tests need to know about a backend's processes: the live processes it spawned
 * through the plugin host's command runner, killing them, and their CPU time.
 */
import { readFile } from 'node:fs/promises';
import type { SuiteNode } from './fixture.js';

/** Whether `pid` is alive (and not a zombie). */
export async function alive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return stat !== '' && !/\)\s+Z\s/.test(stat);
}

/** pids of the live processes `n`'s plugin spawned through its command runner. */
export async function spawnedPids(n: SuiteNode): Promise<number[]> {
  const recs = await n.plugin.commands();
  const pids = [...new Set(recs.filter((r) => r.via === 'spawn' && r.pid !== undefined).map((r) => r.pid ?? 0))];
  const live = await Promise.all(pids.map(async (p) => ((await alive(p)) ? p : 0)));
  return live.filter((p) => p > 0);
}

/** Kills `pids` with SIGKILL and waits (up to `waitMs`) until they are gone. @returns the pids killed. */
export async function killAll(pids: readonly number[], waitMs = 3000): Promise<number[]> {
  const killed: number[] = [];
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
      killed.push(p);
    } catch {
      /* gone already */
    }
  }
  const until = Date.now() + waitMs;
  while (Date.now() < until && (await Promise.all(killed.map(alive))).some(Boolean)) await new Promise((r) => setTimeout(r, 50));
  return killed;
}

/** User plus system CPU time of `pids` in clock ticks (1/100 s on Linux); gone processes count 0. */
export async function cpuTicks(pids: readonly number[]): Promise<number> {
  const per = await Promise.all(
    pids.map(async (p) => {
      const stat = await readFile(`/proc/${p}/stat`, 'utf8').catch(() => '');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // fields after the command: state(0) ppid(1) ... utime(11) stime(12)
      return Number(f[11] ?? 0) + Number(f[12] ?? 0);
    }),
  );
  return per.reduce((a, b) => a + b, 0);
}
