/**
 * Fault injection for the self-healing tests and the recovery bench: a node's backend processes
 * (found by the backend profile's process names and the node's interface name or directory),
 * killing them with SIGKILL, and measuring the time until traffic flows again.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, openSync, closeSync, writeSync, rmSync } from 'node:fs';
import type { TestHost, TestNetwork } from '@rustynet/conformance-kit/harness';
import type { MeshNode } from './node-config.js';
import { listProcesses, pidRunning, sleep } from './processes.js';
import type { BackendProfile } from './profiles.js';

/**
 * pids of the backend processes serving node `n`: a process named in `profile.processNames`
 * whose command line names the node's interface (as one argument) or lies under its directory.
 */
export function backendPids(n: MeshNode, profile: BackendProfile): number[] {
  return listProcesses()
    .filter((p) => profile.processNames.includes(p.comm))
    .filter((p) => p.cmdline.split(' ').includes(n.ifname) || p.cmdline.includes(`${n.dir}/`))
    .map((p) => p.pid);
}

/**
 * Sends SIGKILL to every backend process of node `n` and waits (up to 5 s) until they are gone.
 * @returns the pids killed.
 * @throws Error when there is none (nothing to kill means the test is not testing anything).
 */
export async function killBackend(n: MeshNode, profile: BackendProfile): Promise<number[]> {
  const pids = backendPids(n, profile);
  if (pids.length === 0) throw new Error(`node ${n.id}: no backend process (${profile.processNames.join(', ')}) found`);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (let i = 0; i < 100 && pids.some(pidRunning); i++) await sleep(50);
  return pids;
}

/**
 * Pings `address` from `host` (one echo request with a 200 ms wait, then again) until a reply
 * comes or `timeoutMs` passes.
 * @returns ms from `since` (ms since the epoch) to the reply, or null on timeout.
 */
export async function timeToTraffic(host: TestHost, address: string, since: number, timeoutMs: number): Promise<number | null> {
  const deadline = since + timeoutMs;
  while (Date.now() < deadline) {
    const r = await host.exec('ping', [...(address.includes(':') ? ['-6'] : []), '-n', '-c', '1', '-W', '0.2', address], {
      reject: false,
      timeoutMs: 5_000,
    });
    if (r.exitCode === 0) return Date.now() - since;
    await sleep(20);
  }
  return null;
}

/**
 * Mounts a tmpfs of `sizeKiB` KiB (mode 0700) at `dir` (created if missing), tracked by `net`'s
 * resource tracker: it is unmounted (lazily, so a process still inside cannot keep it) when the
 * network is destroyed, on process exit and on SIGINT/SIGTERM/SIGHUP. Mount it before the
 * daemon starts: `ip netns exec` gives the daemon a slave copy of the mount table.
 * @throws Error with mount's output when the mount fails.
 */
export function mountTmpfs(net: TestNetwork, dir: string, sizeKiB: number): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKiB}k,mode=0700`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mount tmpfs on ${dir} failed: ${r.stderr.trim()}`);
  net.tracker.track('mount', dir, () => {
    spawnSync('umount', ['-l', dir], { stdio: 'ignore' });
  });
}

/** True while something is mounted at `dir` (from /proc/self/mounts). */
export function isMounted(dir: string): boolean {
  const r = spawnSync('findmnt', ['-n', '--mountpoint', dir], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim().length > 0;
}

/**
 * Fills the file system of `file` by writing zeros to `file` until it reports ENOSPC.
 * @returns bytes written; remove `file` to free the space again.
 */
export function fillDisk(file: string): number {
  const fd = openSync(file, 'w', 0o600);
  const chunk = Buffer.alloc(64 * 1024);
  let total = 0;
  try {
    for (;;) {
      let n: number;
      try {
        n = writeSync(fd, chunk, 0, chunk.length);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
        throw err;
      }
      total += n;
      if (n < chunk.length) {
        // The last partial write: try single bytes until none fit.
        try {
          for (;;) total += writeSync(fd, chunk, 0, 1);
        } catch {
          break;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return total;
}

/** Removes `file` (a filler from {@link fillDisk}). Never throws. */
export function freeDisk(file: string): void {
  rmSync(file, { force: true });
}
