import type { CallOptions } from '../call-options.js';

/** Outcome of a finished command. */
export interface CommandResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Options of {@link CommandRunner.run}. */
export interface RunOptions extends CallOptions {
  /** Data written to the child's stdin: the way to hand a child secrets or large configs. */
  input?: string | Uint8Array;
  /** When false, a non-zero exit resolves instead of throwing. Default true. */
  reject?: boolean;
  /** Extra environment variables. Never put secrets here. */
  env?: Record<string, string>;
}

/** Options of {@link CommandRunner.spawn}. */
export interface SpawnOptions {
  env?: Record<string, string>;
  /** Working directory. */
  cwd?: string;
  /** Data written to stdin, after which stdin is closed. */
  input?: string;
}

/** A long-lived child process started by {@link CommandRunner.spawn}. */
export interface ManagedProcess {
  readonly pid: number | undefined;
  /** Settles when the process exits; never rejects. */
  readonly exited: Promise<{ exitCode: number | null; signal: string | null }>;
  /** Sends a signal (default SIGTERM). */
  kill(signal?: 'SIGTERM' | 'SIGKILL' | 'SIGINT' | 'SIGHUP' | 'SIGUSR1' | 'SIGUSR2'): void;
  /** The last few KiB of the process's stderr and stdout, for error reports. */
  outputTail(): string;
}

/**
 * Runs external programs (`ip`, `nft`, a backend's own tools, ...). The daemon implements it with
 * execa. Arguments are passed as an array, never through a shell. Secrets travel in files or
 * on stdin, never in `args` or `env`: every command line is readable by every user in
 * `/proc/<pid>/cmdline`.
 */
export interface CommandRunner {
  /**
   * Runs a command to completion.
   * @throws RustynetError `COMMAND_FAILED` (with `details.exitCode`, `details.stderr`) when it
   *   exits non-zero and `reject` is not false; `TIMEOUT` or `ABORTED` on deadline or signal.
   */
  run(file: string, args: readonly string[], options?: RunOptions): Promise<CommandResult>;
  /** Starts a long-lived process; its output is kept in a bounded buffer and logged. */
  spawn(file: string, args: readonly string[], options?: SpawnOptions): ManagedProcess;
}
