import { execa } from 'execa';
import {
  DEFAULT_CALL_TIMEOUT_MS,
  RustynetError,
  type CommandResult,
  type CommandRunner,
  type Logger,
  type ManagedProcess,
  type RunOptions,
  type SpawnOptions,
} from '@rustynet/plugin-api';

/** Parent environment variables a child may inherit; everything else is dropped. */
export const CHILD_ENV_ALLOWLIST: readonly string[] = ['PATH', 'LANG'];

/** Bytes of combined stdout/stderr kept by a {@link ManagedProcess}. */
export const OUTPUT_TAIL_BYTES = 8 * 1024;

/** Bytes of stderr kept in `COMMAND_FAILED` details. */
const STDERR_DETAIL_BYTES = 4 * 1024;

/**
 * The environment of every child: {@link CHILD_ENV_ALLOWLIST} from the parent plus `extra`.
 * The daemon's own environment (which may hold secrets) never reaches a child.
 */
export function childEnv(extra?: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of CHILD_ENV_ALLOWLIST) {
    const v = process.env[name];
    if (v !== undefined) env[name] = v;
  }
  if (env.PATH === undefined) env.PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  return { ...env, ...extra };
}

function tail(text: string, bytes: number): string {
  return text.length > bytes ? text.slice(-bytes) : text;
}

/**
 * {@link CommandRunner} on execa 9: argument arrays (never a shell), `input` to stdin, minimal
 * environment, a deadline on every call (`timeoutMs`, default {@link DEFAULT_CALL_TIMEOUT_MS}
 * unless a `signal` is given).
 */
export class ExecaCommandRunner implements CommandRunner {
  constructor(private readonly logger?: Logger) {}

  /**
   * @throws RustynetError `COMMAND_FAILED` (details `{file,args,exitCode,stderr}`) on a non-zero
   *   exit (unless `reject: false`) or when the program cannot be started; `TIMEOUT` when the
   *   deadline passes; `ABORTED` when `options.signal` aborts.
   */
  async run(file: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    const timeout = options.timeoutMs ?? (options.signal ? undefined : DEFAULT_CALL_TIMEOUT_MS);
    const argv = [...args];
    if (options.signal?.aborted) {
      throw new RustynetError('ABORTED', `${file}: aborted before start`, { details: { file, args: argv } });
    }
    this.logger?.debug({ file, args: argv }, 'run command');
    const result = await execa(file, argv, {
      reject: false,
      shell: false,
      extendEnv: false,
      env: childEnv(options.env),
      stripFinalNewline: false,
      ...(options.input !== undefined ? { input: options.input } : { stdin: 'ignore' as const }),
      ...(timeout !== undefined && { timeout }),
      ...(options.signal && { cancelSignal: options.signal }),
      forceKillAfterDelay: 2000,
    });
    const stdout = typeof result.stdout === 'string' ? result.stdout : '';
    const stderr = typeof result.stderr === 'string' ? result.stderr : '';
    const exitCode = typeof result.exitCode === 'number' ? result.exitCode : -1;
    const details = { file, args: argv, exitCode, stderr: tail(stderr, STDERR_DETAIL_BYTES) };
    if (result.timedOut) {
      throw new RustynetError('TIMEOUT', `${file} timed out after ${timeout} ms`, { details: { ...details, timeoutMs: timeout } });
    }
    if (result.isCanceled) throw new RustynetError('ABORTED', `${file} aborted`, { details });
    if (result.failed && typeof result.exitCode !== 'number') {
      const code = (result as { code?: string }).code;
      throw new RustynetError('COMMAND_FAILED', `${file} could not be started${code ? ` (${code})` : ''}`, {
        details: { ...details, ...(code && { errno: code }) },
      });
    }
    if (exitCode !== 0 && options.reject !== false) {
      throw new RustynetError(
        'COMMAND_FAILED',
        `${file} ${argv.join(' ')} exited with ${exitCode}${stderr ? `: ${tail(stderr.trim(), 500)}` : ''}`,
        { details },
      );
    }
    return { stdout, stderr, exitCode };
  }

  /** Starts a long-lived child; output goes to a bounded tail buffer and the debug log. */
  spawn(file: string, args: readonly string[], options: SpawnOptions = {}): ManagedProcess {
    const argv = [...args];
    let buffer = '';
    const append = (chunk: Buffer | string): void => {
      buffer = tail(buffer + chunk.toString(), OUTPUT_TAIL_BYTES);
    };
    const child = execa(file, argv, {
      reject: false,
      shell: false,
      extendEnv: false,
      buffer: false,
      env: childEnv(options.env),
      ...(options.cwd !== undefined && { cwd: options.cwd }),
      ...(options.input !== undefined ? { input: options.input } : { stdin: 'ignore' as const }),
    });
    const log = this.logger?.child({ cmd: file, childPid: child.pid });
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    log?.debug({ args: argv }, 'spawned process');
    const exited = Promise.resolve(child).then(
      (r) => {
        const exitCode = typeof r.exitCode === 'number' ? r.exitCode : null;
        const signal = typeof r.signal === 'string' ? r.signal : null;
        if (r.failed && exitCode === null && signal === null) append(`\n[spawn failed: ${r.shortMessage ?? 'unknown'}]\n`);
        log?.debug({ exitCode, signal }, 'process exited');
        return { exitCode, signal };
      },
      (err: unknown) => {
        append(`\n[spawn failed: ${String(err)}]\n`);
        return { exitCode: null, signal: null };
      },
    );
    return {
      pid: child.pid,
      exited,
      kill(signal = 'SIGTERM') {
        try {
          child.kill(signal);
        } catch {
          /* already gone */
        }
      },
      outputTail: () => buffer,
    };
  }
}
