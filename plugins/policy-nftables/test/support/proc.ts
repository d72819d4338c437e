/**
 * Minimal promise wrapper over node:child_process for the test support code (the root
 * node_modules only carries an old execa; the test needs nothing more than this).
 */
import { spawn } from 'node:child_process';

export interface ProcResult {
  stdout: string;
  stderr: string;
  exitCode: number;
  timedOut: boolean;
  aborted: boolean;
}

/** Runs `file args` to completion; never rejects for a non-zero exit. */
export function runProc(
  file: string,
  args: readonly string[],
  opts: { input?: string; timeoutMs?: number; signal?: AbortSignal; env?: Record<string, string> } = {},
): Promise<ProcResult> {
  return new Promise((resolve) => {
    const child = spawn(file, args, {
      stdio: [opts.input !== undefined ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      ...(opts.env && { env: { ...process.env, ...opts.env } }),
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let aborted = false;
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = opts.timeoutMs !== undefined ? setTimeout(() => ((timedOut = true), child.kill('SIGKILL')), opts.timeoutMs) : undefined;
    const onAbort = (): void => {
      aborted = true;
      child.kill('SIGKILL');
    };
    opts.signal?.addEventListener('abort', onAbort);
    child.on('error', (e) => {
      stderr += String(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      resolve({ stdout, stderr, exitCode: code ?? -1, timedOut, aborted });
    });
    if (opts.input !== undefined) {
      child.stdin!.on('error', () => undefined);
      child.stdin!.end(opts.input);
    }
  });
}

/** Like {@link runProc} but rejects on a non-zero exit; resolves to stdout. */
export async function mustRun(file: string, args: readonly string[], input?: string): Promise<string> {
  const r = await runProc(file, args, input !== undefined ? { input } : {});
  if (r.exitCode !== 0) throw new Error(`${file} ${args.join(' ')} exited ${r.exitCode}: ${r.stderr.trim()}`);
  return r.stdout;
}
