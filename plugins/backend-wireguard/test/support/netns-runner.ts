/**
 * Test-only CommandRunner that runs every command inside a network namespace by prefixing
 * `ip netns exec <ns>`, the way the daemon's runner would run when the daemon itself lives in
 * the node's namespace. Built on node:child_process (no shell); records every argv so tests can
 * check that no secret ever reached a command line.
 */
import { spawn as cpSpawn, type ChildProcess } from 'node:child_process';
import {
  RustynetError,
  type CommandResult,
  type CommandRunner,
  type ManagedProcess,
  type RunOptions,
  type SpawnOptions,
} from '@rustynet/plugin-api';

const TAIL_BYTES = 8192;

export class NetnsRunner implements CommandRunner {
  /** Every argv run or spawned, as given by the plugin (without the netns prefix). */
  readonly calls: Array<{ file: string; args: string[]; env?: Record<string, string> }> = [];
  /** Processes spawned and maybe still running (for cleanup). */
  readonly children = new Set<ChildProcess>();

  constructor(readonly netns: string) {}

  private argv(file: string, args: readonly string[]): string[] {
    return ['netns', 'exec', this.netns, file, ...args];
  }

  run(file: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    this.calls.push(options.env ? { file, args: [...args], env: options.env } : { file, args: [...args] });
    return new Promise<CommandResult>((resolve, reject) => {
      if (options.signal?.aborted) return void reject(new RustynetError('ABORTED', `${file}: aborted before start`));
      const child = cpSpawn('ip', this.argv(file, args), {
        env: { ...process.env, ...options.env },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => err.push(d));
      let ended: 'timeout' | 'abort' | undefined;
      const timer =
        options.timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              ended = 'timeout';
              child.kill('SIGKILL');
            }, options.timeoutMs);
      const onAbort = (): void => {
        ended = 'abort';
        child.kill('SIGKILL');
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      child.on('error', (e) => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        reject(
          new RustynetError('COMMAND_FAILED', `${file} could not be started: ${e.message}`, {
            details: { exitCode: -1, stderr: e.message },
            cause: e,
          }),
        );
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        const result = { stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), exitCode: code ?? -1 };
        if (ended === 'timeout')
          return void reject(new RustynetError('TIMEOUT', `${file} ${args[0] ?? ''}: timed out after ${options.timeoutMs} ms`));
        if (ended === 'abort') return void reject(new RustynetError('ABORTED', `${file} ${args[0] ?? ''}: aborted`));
        if (result.exitCode !== 0 && options.reject !== false) {
          return void reject(
            new RustynetError('COMMAND_FAILED', `${file} ${args[0] ?? ''} exited ${result.exitCode}: ${result.stderr.trim()}`, {
              details: { exitCode: result.exitCode, stderr: result.stderr },
            }),
          );
        }
        resolve(result);
      });
      child.stdin.on('error', () => undefined);
      if (options.input !== undefined) child.stdin.end(options.input);
      else child.stdin.end();
    });
  }

  spawn(file: string, args: readonly string[], options: SpawnOptions = {}): ManagedProcess {
    this.calls.push(options.env ? { file, args: [...args], env: options.env } : { file, args: [...args] });
    const child = cpSpawn('ip', this.argv(file, args), {
      env: { ...process.env, ...options.env },
      cwd: options.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.children.add(child);
    let tail = '';
    const keep = (d: Buffer): void => {
      tail = (tail + d.toString('utf8')).slice(-TAIL_BYTES);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.stdin.on('error', () => undefined);
    if (options.input !== undefined) child.stdin.end(options.input);
    else child.stdin.end();
    const exited = new Promise<{ exitCode: number | null; signal: string | null }>((resolve) => {
      child.on('error', (e) => {
        keep(Buffer.from(`spawn error: ${e.message}\n`));
        this.children.delete(child);
        resolve({ exitCode: -1, signal: null });
      });
      child.on('exit', (exitCode, signal) => {
        this.children.delete(child);
        resolve({ exitCode, signal });
      });
    });
    return {
      pid: child.pid,
      exited,
      kill: (signal = 'SIGTERM') => {
        child.kill(signal);
      },
      outputTail: () => tail,
    };
  }

  /** All recorded argv and env, as one string (for secret scans). */
  argvText(): string {
    return this.calls.map((c) => [c.file, ...c.args, JSON.stringify(c.env ?? {})].join(' ')).join('\n');
  }
}
