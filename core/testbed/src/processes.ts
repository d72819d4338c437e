/**
 * Process plumbing of the testbed: sleeping (also synchronously, for signal handlers), `/proc`
 * inspection, unix-socket liveness, and the handle of one spawned child (daemon or relay server)
 * whose output goes to a file.
 */
import { readFileSync, readdirSync, type WriteStream } from 'node:fs';
import { connect } from 'node:net';
import type { TestHost } from '@rustynet/conformance-kit/harness';

/** How a process ended. */
export interface ProcessExit {
  code: number | null;
  signal: string | null;
}

/** A child the testbed started inside a namespace, with its output file. */
export interface Running {
  child: ReturnType<TestHost['spawn']>;
  pid: number;
  out: WriteStream;
  exit?: ProcessExit;
  exited: Promise<void>;
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Blocks the thread for `ms` (for signal handlers, which cannot wait on promises). */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** True when something accepts connections on the unix socket `path`. */
export function socketLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function procState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return null;
  }
}

/** True while `pid` exists and is not a zombie. */
export function pidRunning(pid: number): boolean {
  const s = procState(pid);
  return s !== null && s !== 'Z';
}

/** Every live process: pid, comm and cmdline (NULs as spaces). */
export function listProcesses(): Array<{ pid: number; comm: string; cmdline: string }> {
  const out: Array<{ pid: number; comm: string; cmdline: string }> = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const comm = readFileSync(`/proc/${d}/comm`, 'utf8').trim();
      const cmdline = readFileSync(`/proc/${d}/cmdline`).toString('utf8').replace(/\0/g, ' ').trim();
      out.push({ pid: Number(d), comm, cmdline });
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Wraps a spawned child whose stdout and stderr are piped into `out`; records its exit. */
export function track(child: Running['child'], out: WriteStream): Running {
  child.stdout?.pipe(out, { end: false });
  child.stderr?.pipe(out, { end: false });
  const run: Running = {
    child,
    pid: child.pid ?? -1,
    out,
    exited: Promise.resolve(child).then(
      (r) => {
        run.exit = { code: r.exitCode ?? null, signal: r.signal ?? null };
      },
      () => {
        run.exit = { code: null, signal: null };
      },
    ),
  };
  return run;
}

/**
 * Stops a tracked child: SIGTERM (unless it already exited), SIGKILL after `timeoutMs`, then
 * closes its output file.
 * @returns its exit.
 */
export async function stopRunning(run: Running, timeoutMs: number, log?: () => void): Promise<ProcessExit> {
  if (!run.exit) {
    log?.();
    run.child.kill('SIGTERM');
    const timer = setTimeout(() => run.child.kill('SIGKILL'), timeoutMs);
    await run.exited;
    clearTimeout(timer);
  }
  await new Promise<void>((r) => run.out.end(r));
  return run.exit ?? { code: null, signal: null };
}

/**
 * For signal handlers: SIGTERM to every pid, then waits synchronously (up to `timeoutMs`) for
 * them to finish their clean stop, SIGKILL for the rest.
 */
export function terminateSync(pids: readonly number[], timeoutMs: number): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* gone */
    }
  }
  const deadline = Date.now() + timeoutMs;
  while (pids.some(pidRunning) && Date.now() < deadline) sleepSync(50);
  for (const pid of pids.filter(pidRunning)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}
