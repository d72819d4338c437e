import type { CliIo } from '../src/io.js';
import type { DaemonStatus } from '../src/api-client.js';
import { runCli } from '../src/rustynet.js';
import { runDaemonCli } from '../src/rustynetd.js';

/** Output of one in-process CLI run. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `rustynet <args>` in-process with captured output. */
export async function rn(args: string[], opts: { env?: Record<string, string>; stdin?: string } = {}): Promise<RunResult> {
  let stdout = '';
  let stderr = '';
  const cliIo: CliIo = {
    out: (t) => void (stdout += t),
    err: (t) => void (stderr += t),
    env: { ...(opts.env ?? {}) },
    readStdin: async () => opts.stdin ?? '',
  };
  const code = await runCli(['node', 'rustynet', ...args], cliIo);
  return { code, stdout, stderr };
}

/** Runs `rustynetd <args>` in-process with captured output (only for arguments that return at once). */
export async function rnd(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  let stdout = '';
  let stderr = '';
  const code = await runDaemonCli(['node', 'rustynetd', ...args], {
    out: (t) => void (stdout += t),
    err: (t) => void (stderr += t),
    env: { ...env },
    readStdin: async () => '',
  });
  return { code, stdout, stderr };
}

/** A status of an `up` node (id `x`) with no netmap, peers or plugins, for rendering tests. */
export const QUIET_UP: DaemonStatus = {
  node: 'x',
  state: 'up',
  netmap: null,
  lastRejection: null,
  backend: null,
  peers: [],
  plugins: [],
  policy: null,
  dns: null,
};
