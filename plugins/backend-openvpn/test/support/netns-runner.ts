/**
 * Test-only CommandRunner that runs every command inside one network namespace
 * (`ip netns exec <ns> <file> <args...>`), built on node:child_process. It records every argv
 * and environment it was given so tests can assert that no secret travelled there.
 */
import { spawn as spawnChild } from 'node:child_process';
import {
  RustynetError,
  type CommandResult,
  type CommandRunner,
  type ManagedProcess,
  type RunOptions,
  type SpawnOptions,
} from '@rustynet/plugin-api';

export interface RecordedCall {
  kind: 'run' | 'spawn';
  file: string;
  args: string[];
  env?: Record<string, string>;
  input?: string;
}

export class NetnsRunner implements CommandRunner {
  readonly calls: RecordedCall[] = [];
  readonly processes: ManagedProcess[] = [];
  constructor(readonly netns: string | undefined) {}

  private argv(file: string, args: readonly string[]): [string, string[]] {
    return this.netns ? ['ip', ['netns', 'exec', this.netns, file, ...args]] : [file, [...args]];
  }

  run(file: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    this.calls.push({
      kind: 'run',
      file,
      args: [...args],
      ...(options.env ? { env: options.env } : {}),
      ...(typeof options.input === 'string' ? { input: options.input } : {}),
    });
    const [cmd, argv] = this.argv(file, args);
    return new Promise((resolve, reject) => {
      const child = spawnChild(cmd, argv, { env: { ...process.env, ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = options.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), options.timeoutMs) : undefined;
      const onAbort = (): void => void child.kill('SIGKILL');
      options.signal?.addEventListener('abort', onAbort, { once: true });
      child.on('error', (err) => {
        if (timer) clearTimeout(timer);
        reject(new RustynetError('COMMAND_FAILED', `${file}: ${err.message}`, { details: { file, exitCode: -1, stderr: err.message } }));
      });
      child.on('close', (code) => {
        if (timer) clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        if (options.signal?.aborted) return reject(new RustynetError('ABORTED', `${file} aborted`));
        const exitCode = code ?? -1;
        if (exitCode !== 0 && options.reject !== false) {
          return reject(
            new RustynetError('COMMAND_FAILED', `${file} ${args.join(' ')} exited ${exitCode}: ${stderr.trim()}`, {
              details: { file, exitCode, stderr },
            }),
          );
        }
        resolve({ stdout, stderr, exitCode });
      });
      if (options.input !== undefined) child.stdin.end(options.input);
      else child.stdin.end();
    });
  }

  spawn(file: string, args: readonly string[], options: SpawnOptions = {}): ManagedProcess {
    this.calls.push({ kind: 'spawn', file, args: [...args], ...(options.env ? { env: options.env } : {}) });
    const [cmd, argv] = this.argv(file, args);
    const child = spawnChild(cmd, argv, {
      env: { ...process.env, ...options.env },
      ...(options.cwd ? { cwd: options.cwd } : {}),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let tail = '';
    const keep = (d: Buffer): void => {
      tail = (tail + d.toString()).slice(-8192);
      if (process.env['DEBUG_OPENVPN']) process.stderr.write(`[${this.netns ?? 'root'} ${child.pid}] ${d.toString()}`);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const exited = new Promise<{ exitCode: number | null; signal: string | null }>((resolve) => {
      child.on('error', (err) => {
        tail += `\nspawn error: ${err.message}`;
        resolve({ exitCode: -1, signal: null });
      });
      child.on('exit', (code, signal) => resolve({ exitCode: code, signal }));
    });
    if (options.input !== undefined) child.stdin.end(options.input);
    else child.stdin.end();
    const proc: ManagedProcess = {
      pid: child.pid,
      exited,
      kill: (signal = 'SIGTERM') => void child.kill(signal),
      outputTail: () => tail,
    };
    this.processes.push(proc);
    return proc;
  }
}
