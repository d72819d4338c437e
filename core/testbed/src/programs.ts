/**
 * The compiled `rustynet` and `rustynetd` programs of `@rustynet/cli`, and how the testbed runs
 * them (as child processes of node, like an operator would).
 */
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI_DIR = dirname(fileURLToPath(import.meta.resolve('@rustynet/cli/package.json')));

/** The compiled `rustynet` program. */
export const RUSTYNET_BIN = join(CLI_DIR, 'dist/src/bin/rustynet.js');
/** The compiled `rustynetd` program. */
export const RUSTYNETD_BIN = join(CLI_DIR, 'dist/src/bin/rustynetd.js');
/** Node flags before {@link RUSTYNETD_BIN}, as the installed service unit starts it. */
export { RUSTYNETD_NODE_FLAGS } from '@rustynet/cli';

/** Runs a compiled CLI program with node; resolves with its output and exit code (never rejects). */
export function runNodeProgram(
  bin: string,
  args: readonly string[],
  opts: { cwd?: string; input?: string; env?: Record<string, string> } = {},
): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [bin, ...args],
      { cwd: opts.cwd, env: { ...process.env, ...opts.env }, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
        resolve({ stdout, stderr, code });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

/** Runs the `rustynet` CLI; throws with its error line on a non-zero exit. */
export async function rustynet(args: readonly string[], opts: { cwd?: string; input?: string } = {}): Promise<string> {
  const r = await runNodeProgram(RUSTYNET_BIN, args, opts);
  if (r.code !== 0) throw new Error(`rustynet ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}
