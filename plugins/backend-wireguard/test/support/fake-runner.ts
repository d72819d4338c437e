/**
 * Test-only CommandRunner that records every call and answers from a handler, without running
 * anything. Used to check command construction.
 */
import {
  RustynetError,
  type CommandResult,
  type CommandRunner,
  type ManagedProcess,
  type RunOptions,
  type SpawnOptions,
} from '@rustynet/plugin-api';

/** One recorded call. */
export interface RecordedCall {
  kind: 'run' | 'spawn';
  file: string;
  args: string[];
  input?: string;
  env?: Record<string, string>;
  options?: RunOptions | SpawnOptions;
}

/** Answers a call; `undefined` means success with empty output. */
export type FakeHandler = (call: RecordedCall) => Partial<CommandResult> | undefined;

export class FakeRunner implements CommandRunner {
  readonly calls: RecordedCall[] = [];
  constructor(public handler: FakeHandler = () => undefined) {}

  async run(file: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    const input =
      options.input === undefined
        ? undefined
        : typeof options.input === 'string'
          ? options.input
          : Buffer.from(options.input).toString('utf8');
    const call: RecordedCall = { kind: 'run', file, args: [...args], options };
    if (input !== undefined) call.input = input;
    if (options.env) call.env = options.env;
    this.calls.push(call);
    const r = { stdout: '', stderr: '', exitCode: 0, ...this.handler(call) };
    if (r.exitCode !== 0 && options.reject !== false) {
      throw new RustynetError('COMMAND_FAILED', `${file} exited ${r.exitCode}`, { details: { exitCode: r.exitCode, stderr: r.stderr } });
    }
    return r;
  }

  spawn(file: string, args: readonly string[], options: SpawnOptions = {}): ManagedProcess {
    const call: RecordedCall = { kind: 'spawn', file, args: [...args], options };
    if (options.env) call.env = options.env;
    this.calls.push(call);
    let resolveExit: (v: { exitCode: number | null; signal: string | null }) => void = () => undefined;
    const exited = new Promise<{ exitCode: number | null; signal: string | null }>((r) => (resolveExit = r));
    const r = this.handler(call);
    if (r && r.exitCode !== undefined) resolveExit({ exitCode: r.exitCode, signal: null });
    return {
      pid: 4242,
      exited,
      kill: (signal = 'SIGTERM') => resolveExit({ exitCode: null, signal }),
      outputTail: () => r?.stderr ?? '',
    };
  }

  /** Calls of `file` (basename match) whose first argument is `sub` (if given). */
  of(file: string, sub?: string): RecordedCall[] {
    return this.calls.filter(
      (c) => c.kind === 'run' && c.file.endsWith(file) && (sub === undefined || c.args[0] === sub || c.args.includes(sub)),
    );
  }

  /** Everything a child could see of a call: argv, env and stdin, as one string. */
  visibleText(): string {
    return this.calls.map((c) => [c.file, ...c.args, JSON.stringify(c.env ?? {}), c.input ?? ''].join(' ')).join('\n');
  }

  /** argv and env only (what /proc/<pid>/cmdline and environ show). */
  argvAndEnv(): string {
    return this.calls.map((c) => [c.file, ...c.args, JSON.stringify(c.env ?? {})].join(' ')).join('\n');
  }
}
