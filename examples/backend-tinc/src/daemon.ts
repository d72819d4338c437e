/**
 * The daemon-style pattern around one long-lived `tincd` (tincd(8), tinc 1.0):
 * spawn it in the foreground (`-D`, so it logs to its stderr, which the runner keeps), wait for
 * its `Ready` line, change its configuration by rewriting files under its config directory and
 * sending SIGHUP (tinc re-reads `tinc.conf` and `hosts/`, closes connections whose host file
 * changed or vanished, and connects to new `ConnectTo` peers), and read its output for its
 * state. tincd reads the private key itself from the file `PrivateKeyFile` names: the key is
 * never on its command line, in its environment or in its output.
 */
import { readdir, readFile } from 'node:fs/promises';
import { RustynetError, type CommandRunner, type Logger, type ManagedProcess } from '@rustynet/plugin-api';

/** How long tincd may take from spawn to `Ready` (RSA key load, device, sockets). */
export const READY_TIMEOUT_MS = 10_000;
/** Interval of SIGALRM nudges while a wanted peer has no active connection (see {@link TincDaemon.nudgeUntilUp}). */
export const NUDGE_INTERVAL_MS = 500;
/** How long after a start or reload the nudges go on at most; then tinc's own back-off (`MaxTimeout`) rules. */
export const NUDGE_WINDOW_MS = 20_000;

/** One supervised tincd. */
export class TincDaemon {
  private proc: ManagedProcess | undefined;
  private exitedAt: number | undefined;
  /** Second (epoch) of the last SIGHUP as tincd will see it; see {@link TincDaemon.waitForNewSecond}. */
  private lastReloadSec = 0;
  private nudgeTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly runner: CommandRunner,
    private readonly log: Logger,
    private readonly confDir: string,
    private readonly pidFile: string,
  ) {}

  /**
   * Spawns tincd and waits for `Ready`.
   * @throws RustynetError `BACKEND_FAILED` with tincd's output when it exits first or stays silent
   *   (a port in use, a bad key, no /dev/net/tun).
   */
  async start(signal?: AbortSignal): Promise<void> {
    const proc = this.runner.spawn('tincd', ['-c', this.confDir, '-D', '-d1', `--pidfile=${this.pidFile}`]);
    this.proc = proc;
    this.exitedAt = undefined;
    let exited = false;
    void proc.exited.then((r) => {
      exited = true;
      if (this.proc === proc) {
        this.exitedAt = Date.now();
        this.log.warn({ exitCode: r.exitCode, signal: r.signal }, 'tincd exited');
      }
    });
    const until = Date.now() + READY_TIMEOUT_MS;
    while (!/\bReady\b/.test(proc.outputTail())) {
      if (exited || Date.now() > until || signal?.aborted) {
        const output = proc.outputTail().slice(-2000);
        if (!exited) {
          proc.kill('SIGKILL');
          await proc.exited;
        }
        this.proc = undefined;
        throw new RustynetError('BACKEND_FAILED', exited ? 'tincd exited during start' : 'tincd did not report Ready in time', {
          details: { output },
        });
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    this.lastReloadSec = Math.floor((Date.now() + 300) / 1000);
  }

  /** True while the spawned tincd runs. */
  get alive(): boolean {
    return this.proc !== undefined && this.exitedAt === undefined;
  }

  /** When tincd died on its own (ms since the epoch), if it did. */
  get diedAt(): number | undefined {
    return this.exitedAt;
  }

  /**
   * tinc closes a connection on reload only if its host file's mtime (whole seconds) is newer
   * than the previous reload's second. Before rewriting a host file, wait for a new second so
   * a changed key or subnet list always drops the old connection.
   */
  async waitForNewSecond(): Promise<void> {
    for (;;) {
      const ms = Date.now();
      if (Math.floor(ms / 1000) > this.lastReloadSec) return;
      await new Promise((r) => setTimeout(r, 1000 - (ms % 1000) + 5));
    }
  }

  /** SIGHUP: tincd re-reads tinc.conf and hosts/ (tincd(8), SIGNALS). */
  reload(): void {
    if (!this.alive) throw new RustynetError('BACKEND_FAILED', 'tincd is not running', { details: this.details() });
    this.proc?.kill('SIGHUP');
    this.lastReloadSec = Math.floor((Date.now() + 300) / 1000);
  }

  /**
   * After a start or reload, sends tincd SIGALRM every {@link NUDGE_INTERVAL_MS} while one of
   * `wanted` (tinc names of the peers this node dials, its `ConnectTo` lines) has no active meta
   * connection, for at most
   * {@link NUDGE_WINDOW_MS}. SIGALRM makes tinc 1.0 run its pending events at once, so a
   * connection attempt waiting on tinc's retry back-off is made now, and it pings every active
   * connection, so a connection to a peer's dead predecessor is found and replaced (tincd(8),
   * SIGNALS). Without it, a peer whose tincd restarted is reached only after tinc's back-off
   * (up to `MaxTimeout` seconds, then more for each failure). Replaces an earlier window.
   */
  nudgeUntilUp(wanted: readonly string[]): void {
    this.stopNudging();
    if (wanted.length === 0) return;
    const until = Date.now() + NUDGE_WINDOW_MS;
    const tick = (): void => {
      const states = connectionStates(this.output());
      if (!this.alive || Date.now() > until || wanted.every((n) => states.get(n) === 'up')) {
        this.nudgeTimer = undefined;
        return;
      }
      // ManagedProcess.kill() offers no SIGALRM; the pid is our own child's while it is alive.
      const pid = this.proc?.pid;
      if (pid !== undefined) {
        try {
          process.kill(pid, 'SIGALRM');
        } catch {
          /* exited between the check and the signal: the next tick sees it */
        }
      }
      this.nudgeTimer = setTimeout(tick, NUDGE_INTERVAL_MS);
      this.nudgeTimer.unref();
    };
    this.nudgeTimer = setTimeout(tick, NUDGE_INTERVAL_MS);
    this.nudgeTimer.unref();
  }

  private stopNudging(): void {
    if (this.nudgeTimer) clearTimeout(this.nudgeTimer);
    this.nudgeTimer = undefined;
  }

  /** tincd's recent output (never holds key material: tinc does not log keys). */
  output(): string {
    return this.proc?.outputTail() ?? '';
  }

  /** Diagnostic details for errors. */
  details(): Record<string, unknown> {
    return { output: this.output().slice(-1500), diedAt: this.exitedAt ?? null };
  }

  /** SIGTERM, then SIGKILL after 2 s. Idempotent. */
  async stop(): Promise<void> {
    this.stopNudging();
    const proc = this.proc;
    this.proc = undefined;
    if (!proc) return;
    proc.kill('SIGTERM');
    const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 2000));
    if ((await Promise.race([proc.exited, timer])) === 'timeout') {
      proc.kill('SIGKILL');
      await proc.exited;
    }
  }
}

/**
 * Ends tincd processes an earlier, crashed instance left behind: those whose command line is
 * `tincd -c <confDir> ...` (they hold our device name and port). tincd leaves on SIGTERM.
 */
export async function removeStaleDaemons(confDir: string, log: Logger): Promise<void> {
  const needle = `\0-c\0${confDir}\0`;
  const stale: number[] = [];
  for (const pid of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmd.startsWith('tincd\0') && cmd.includes(needle)) stale.push(Number(pid));
  }
  if (stale.length === 0) return;
  log.warn({ pids: stale }, 'ending tincd processes left by an earlier run');
  const alive = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const send = (sig: NodeJS.Signals): void => {
    for (const pid of stale.filter(alive)) {
      try {
        process.kill(pid, sig);
      } catch {
        /* gone already */
      }
    }
  };
  send('SIGTERM');
  for (let i = 0; i < 40 && stale.some(alive); i++) await new Promise((r) => setTimeout(r, 50));
  send('SIGKILL');
  for (let i = 0; i < 40 && stale.some(alive); i++) await new Promise((r) => setTimeout(r, 50));
}

/**
 * Which peers (by tinc name) have an active meta connection, from tincd's `-d1` output:
 * `Connection with <name> (<host> port <port>) activated` and `Closing connection with <name>
 * (<host> port <port>)`. A peer is `up` while at least one of its connections is active (tinc
 * may hold two for a moment, when both sides dialled at once, and close either); `down` once all
 * it had are closed; names not mentioned in the kept output are reported `unknown`.
 */
export function connectionStates(output: string): Map<string, 'up' | 'down'> {
  const active = new Map<string, Set<string>>();
  for (const m of output.matchAll(/(?:Connection with (\w+) \(([^)]*)\) activated)|(?:Closing connection with (\w+) \(([^)]*)\))/g)) {
    const name = m[1] ?? m[3] ?? '';
    const conns = active.get(name) ?? new Set<string>();
    if (m[1]) conns.add(m[2] ?? '');
    else conns.delete(m[4] ?? '');
    active.set(name, conns);
  }
  return new Map([...active].map(([name, conns]) => [name, conns.size > 0 ? 'up' : 'down']));
}
