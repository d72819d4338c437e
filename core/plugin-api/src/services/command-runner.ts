import type { CallOptions } from '../call-options.js';

/** Outcome of a finished command. */
export interface CommandResult {
  /** Everything the program wrote to standard output (UTF-8). */
  stdout: string;
  /** Everything the program wrote to standard error (UTF-8). */
  stderr: string;
  /** Exit status of the program. */
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
  /** Extra environment variables (never secrets: `/proc/<pid>/environ` is readable). */
  env?: Record<string, string>;
  /** Working directory. */
  cwd?: string;
  /** Data written to stdin, after which stdin is closed. */
  input?: string;
}

/** A long-lived child process started by {@link CommandRunner.spawn}. */
export interface ManagedProcess {
  /** Process id of the spawned program. */
  readonly pid: number | undefined;
  /** Settles when the process exits; never rejects. */
  readonly exited: Promise<{
    /** Exit status, or null when a signal ended the process. */
    exitCode: number | null;
    /** Name of the signal that ended the process (e.g. `SIGKILL`), or null. */
    signal: string | null;
  }>;
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
