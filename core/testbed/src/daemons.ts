/**
 * The mesh's processes: one `rustynetd` per node inside its namespace and, with a relay, one
 * `rustynet relay serve` on the relay host; starting them, stopping them cleanly (or from a
 * signal handler), and reading their output for error messages.
 */
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { TestHost } from '@rustynet/conformance-kit/harness';
import type { MeshNode } from './node-config.js';
import { stopRunning, terminateSync, track, type ProcessExit, type Running } from './processes.js';
import { RELAY_ID } from './constants.js';
import { RUSTYNETD_BIN, RUSTYNETD_NODE_FLAGS } from './programs.js';

/** The relay server's start parameters, see {@link DaemonProcesses.startRelay}. */
export interface RelayServerStart {
  /** The relay's id (netmap `relays[].id`); default `RELAY_ID`. */
  id?: string;
  host: TestHost;
  /** Program arguments after node (the `rustynet` binary first). */
  args: string[];
  /** File receiving its stdout and stderr. */
  outFile: string;
  cwd: string;
  timeoutMs: number;
}

/** The running daemons of a mesh by node id, and its relay servers by relay id. */
export class DaemonProcesses {
  private readonly running = new Map<string, Running>();
  private readonly relayRuns = new Map<string, Running>();

  constructor(private readonly log: (line: string) => void) {}

  /** Starts `rustynetd --config <n.configFile>` inside node `n`'s namespace (does not wait for it). */
  startDaemon(n: MeshNode, cwd: string): void {
    this.log(
      `node ${n.id}: ip netns exec ${n.host.netns} node ${[...RUSTYNETD_NODE_FLAGS, RUSTYNETD_BIN].join(' ')} --config ${n.configFile}`,
    );
    const out = createWriteStream(n.outFile, { flags: 'a', mode: 0o600 });
    const child = n.host.spawn(process.execPath, [...RUSTYNETD_NODE_FLAGS, RUSTYNETD_BIN, '--config', n.configFile], {
      cwd,
      stdin: 'ignore',
      stdout: 'pipe',
      stderr: 'pipe',
      buffer: false,
    });
    this.running.set(n.id, track(child, out));
  }

  /**
   * Kills the daemon of node `id` with `signal` (default SIGKILL: no clean stop, so whatever it
   * started stays behind, as after a crash) and waits for it to exit.
   * @returns its exit, or null when none was running.
   */
  async kill(id: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<ProcessExit | null> {
    const run = this.running.get(id);
    if (!run) return null;
    this.running.delete(id);
    if (!run.exit) {
      this.log(`node ${id}: kill -${signal} rustynetd (pid ${run.pid})`);
      run.child.kill(signal);
    }
    await run.exited;
    await new Promise<void>((r) => run.out.end(r));
    return run.exit ?? { code: null, signal: null };
  }

  /** Whether a daemon was started for node `id` and not yet stopped by {@link stopAll}. */
  has(id: string): boolean {
    return this.running.has(id);
  }

  /** How the daemon of node `id` exited, or undefined while it runs (or was never started). */
  exitOf(id: string): ProcessExit | undefined {
    return this.running.get(id)?.exit;
  }

  /** pids of the running daemons by node id. */
  pids(): Record<string, number> {
    return Object.fromEntries([...this.running.entries()].map(([id, r]) => [id, r.pid]));
  }

  /** Whether the relay server `id` (default `RELAY_ID`) runs (started and not exited). */
  relayRunning(id = RELAY_ID): boolean {
    const run = this.relayRuns.get(id);
    return run !== undefined && !run.exit;
  }

  /**
   * Starts the relay server and resolves once it prints `listening on`.
   * @returns the line that says where it listens.
   * @throws Error with its output when it exits or does not listen within `timeoutMs`.
   */
  async startRelay(s: RelayServerStart): Promise<string> {
    const out = createWriteStream(s.outFile, { flags: 'a', mode: 0o600 });
    const child = s.host.spawn(process.execPath, s.args, { cwd: s.cwd, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe', buffer: false });
    let text = '';
    let listening!: () => void;
    const ready = new Promise<void>((r) => (listening = r));
    const onData = (d: Buffer): void => {
      text += d.toString();
      if (/listening on/.test(text)) listening();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    const run = track(child, out);
    this.relayRuns.set(s.id ?? RELAY_ID, run);
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      ready.then(() => 'ready' as const),
      run.exited.then(() => 'exited' as const),
      new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), s.timeoutMs))),
    ]);
    clearTimeout(timer);
    if (outcome !== 'ready') {
      if (outcome === 'timeout') child.kill('SIGKILL');
      throw new Error(
        `relay server ${outcome === 'exited' ? `exited (${JSON.stringify(run.exit)})` : `not listening after ${s.timeoutMs} ms`}:\n${text.trim()}`,
      );
    }
    return (
      text
        .trim()
        .split('\n')
        .find((l) => l.includes('listening on'))
        ?.replace(/^rustynet relay: /, '') ?? 'listening'
    );
  }

  /**
   * Stops the relay server `id` (SIGTERM, SIGKILL after `timeoutMs`; `kill`: SIGKILL at once, a crash).
   * @returns its exit, or null when none was running.
   */
  async stopRelay(timeoutMs: number, id = RELAY_ID, kill = false): Promise<ProcessExit | null> {
    const run = this.relayRuns.get(id);
    if (!run) return null;
    this.relayRuns.delete(id);
    if (kill) {
      this.log(`relay ${id}: kill -SIGKILL (pid ${run.pid})`);
      if (!run.exit) run.child.kill('SIGKILL');
      await run.exited;
      await new Promise<void>((r) => run.out.end(r));
      return run.exit ?? { code: null, signal: null };
    }
    return stopRunning(run, timeoutMs, () => this.log(`relay ${id}: stopping the relay server (SIGTERM)`));
  }

  /** Ids of the relay servers started and not stopped. */
  relayIds(): string[] {
    return [...this.relayRuns.keys()];
  }

  /**
   * Stops every daemon with SIGTERM (clean stop), waiting up to `timeoutMs`, then SIGKILL.
   * @returns each daemon's exit by node id.
   */
  async stopAll(timeoutMs: number): Promise<Record<string, ProcessExit>> {
    const exits: Record<string, ProcessExit> = {};
    await Promise.all(
      [...this.running.entries()].map(async ([id, run]) => {
        exits[id] = await stopRunning(run, timeoutMs, () => this.log(`node ${id}: stopping rustynetd (SIGTERM)`));
      }),
    );
    this.running.clear();
    return exits;
  }

  /**
   * For signal handlers: SIGTERM to every daemon and the relay server, then waits synchronously
   * (up to `timeoutMs`) for them to finish their clean stop, SIGKILL for the rest.
   */
  emergencyStopSync(timeoutMs: number): void {
    const runs = [...this.running.values(), ...this.relayRuns.values()];
    terminateSync(
      runs.filter((r) => !r.exit && r.pid > 0).map((r) => r.pid),
      timeoutMs,
    );
  }
}

/** Last `lines` lines of a node's daemon output and log, for error messages. */
export async function outputTail(n: MeshNode, lines: number): Promise<string> {
  const parts: string[] = [];
  for (const f of [n.outFile, n.logFile]) {
    const text = await readFile(f, 'utf8').catch(() => '');
    if (text) parts.push(`--- ${f}\n${text.trimEnd().split('\n').slice(-lines).join('\n')}`);
  }
  return parts.join('\n');
}
