/**
 * Test-only CommandRunner that runs every command inside one network namespace
 * (`ip netns exec <ns> <file> <args...>`), as the daemon's runner would.
 */
import { spawn } from 'node:child_process';
import { runProc } from './proc.js';
import {
  RustynetError,
  type CommandResult,
  type CommandRunner,
  type ManagedProcess,
  type RunOptions,
  type SpawnOptions,
} from '@rustynet/plugin-api';

/** Rewrites the stdin of a call before it runs (used to inject nft failures). */
export type InputFilter = (file: string, args: readonly string[], input: string | undefined) => string | undefined;

export class NetnsRunner implements CommandRunner {
  /** Every call, in order (file, args, stdin). */
  readonly calls: Array<{ file: string; args: string[]; input: string | undefined }> = [];
  filter: InputFilter | undefined;

  constructor(readonly netns: string) {}

  async run(file: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    let input =
      options.input === undefined
        ? undefined
        : typeof options.input === 'string'
          ? options.input
          : Buffer.from(options.input).toString('utf8');
    if (this.filter) input = this.filter(file, args, input);
    this.calls.push({ file, args: [...args], input });
    const r = await runProc('ip', ['netns', 'exec', this.netns, file, ...args], {
      ...(input !== undefined && { input }),
      ...(options.timeoutMs !== undefined && { timeoutMs: options.timeoutMs }),
      ...(options.signal && { signal: options.signal }),
      ...(options.env && { env: options.env }),
    });
    if (r.timedOut) throw new RustynetError('TIMEOUT', `${file} timed out after ${options.timeoutMs} ms`);
    if (r.aborted) throw new RustynetError('ABORTED', `${file} aborted`);
    const res: CommandResult = { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode };
    if (res.exitCode !== 0 && options.reject !== false) {
      throw new RustynetError('COMMAND_FAILED', `${file} ${args.join(' ')} exited ${res.exitCode}: ${res.stderr.trim()}`, {
        details: { exitCode: res.exitCode, stderr: res.stderr },
      });
    }
    return res;
  }

  spawn(file: string, args: readonly string[], options: SpawnOptions = {}): ManagedProcess {
    let tail = '';
    const child = spawn('ip', ['netns', 'exec', this.netns, file, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(options.env && { env: { ...process.env, ...options.env } }),
      ...(options.cwd && { cwd: options.cwd }),
    });
    if (options.input !== undefined) child.stdin.end(options.input);
    const keep = (d: Buffer): void => {
      tail = (tail + d.toString('utf8')).slice(-8192);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const exited = new Promise<{ exitCode: number | null; signal: string | null }>((resolve) => {
      child.on('close', (exitCode, signal) => resolve({ exitCode, signal }));
      child.on('error', () => resolve({ exitCode: null, signal: null }));
    });
    return { pid: child.pid, exited, kill: (sig = 'SIGTERM') => void child.kill(sig), outputTail: () => tail };
  }
}
