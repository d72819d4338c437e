/**
 * The daemon-style pattern around one long-lived `fastd` (fastd(1), v22): spawn it in the
 * foreground (it logs to its stderr, which the runner keeps), wait until its status socket
 * answers, change its peers by rewriting files in its peer directory and sending SIGHUP (fastd
 * re-reads `include peers from` directories: new files become peers, deleted ones are dropped,
 * changed ones are reset), and read its state from the status socket. fastd reads the secret key
 * itself from the fragment its config includes: the key is never on its command line, in its
 * environment or in its output.
 */
import { readdir, readFile } from 'node:fs/promises';
import { RustynetError, type CommandRunner, type Logger, type ManagedProcess } from '@rustynet/plugin-api';
import { readStatus, type FastdStatus } from './status.js';

/** How long fastd may take from spawn to an answering status socket. */
export const READY_TIMEOUT_MS = 10_000;

/** One supervised fastd. */
export class FastdDaemon {
  private proc: ManagedProcess | undefined;
  private exitedAt: number | undefined;

  constructor(
    private readonly runner: CommandRunner,
    private readonly log: Logger,
    private readonly confFile: string,
    private readonly statusSocket: string,
  ) {}

  /**
   * Spawns fastd and waits for its status socket.
   * @throws RustynetError `BACKEND_FAILED` with fastd's output when it exits first or stays silent
   *   (a port in use, a bad config, no /dev/net/tun).
   */
  async start(signal?: AbortSignal): Promise<void> {
    // verbose: peers added, removed and established, for diagnostics; fastd logs no key material
    const proc = this.runner.spawn('fastd', ['--config', this.confFile, '--log-level', 'verbose']);
    this.proc = proc;
    this.exitedAt = undefined;
    let exited = false;
    void proc.exited.then((r) => {
      exited = true;
      if (this.proc === proc) {
        this.exitedAt = Date.now();
        this.log.warn({ exitCode: r.exitCode, signal: r.signal }, 'fastd exited');
      }
    });
    const until = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (
        !exited &&
        (await this.status().then(
          () => true,
          () => false,
        ))
      )
        return;
      if (exited || Date.now() > until || signal?.aborted) {
        const output = proc.outputTail().slice(-2000);
        if (!exited) {
          proc.kill('SIGKILL');
          await proc.exited;
        }
        this.proc = undefined;
        throw new RustynetError('BACKEND_FAILED', exited ? 'fastd exited during start' : 'fastd status socket did not answer in time', {
          details: { output },
        });
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** True while the spawned fastd runs. */
  get alive(): boolean {
    return this.proc !== undefined && this.exitedAt === undefined;
  }

  /** SIGHUP: fastd re-reads its peer directories (fastd(1), `--config-peer-dir`). */
  reload(): void {
    if (!this.alive) throw new RustynetError('BACKEND_FAILED', 'fastd is not running', { details: this.details() });
    this.proc?.kill('SIGHUP');
  }

  /**
   * fastd's status document.
   * @throws Error when the socket does not answer.
   */
  status(): Promise<FastdStatus> {
    return readStatus(this.statusSocket);
  }

  /** fastd's recent output (never holds key material: fastd logs public keys at most). */
  output(): string {
    return this.proc?.outputTail() ?? '';
  }

  /** Diagnostic details for errors. */
  details(): Record<string, unknown> {
    return { output: this.output().slice(-1500), diedAt: this.exitedAt ?? null };
  }

  /** SIGTERM, then SIGKILL after 2 s. Idempotent. */
  async stop(): Promise<void> {
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
 * Ends fastd processes an earlier, crashed instance left behind: those whose command line is
 * `fastd --config <confFile> ...` (they hold our port and the peers' devices). fastd leaves on SIGTERM.
 */
export async function removeStaleDaemons(confFile: string, log: Logger): Promise<void> {
  const needle = `\0--config\0${confFile}\0`;
  const stale: number[] = [];
  for (const pid of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmd.startsWith('fastd\0') && cmd.includes(needle)) stale.push(Number(pid));
  }
  if (stale.length === 0) return;
  log.warn({ pids: stale }, 'ending fastd processes left by an earlier run');
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
