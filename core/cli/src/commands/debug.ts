/**
 * `rustynet debug bundle`: a JSON (or gzipped JSON) file for bug reports, with no secret in it.
 */
import type { Command } from 'commander';
import { execFile } from 'node:child_process';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { invalidInput } from '@rustynet/plugin-api';
import { buildDebugBundle } from '../diag/bundle.js';
import { io } from '../io.js';
import { CLI_VERSION, addExamples, addSocketOption, apiClient } from '../program.js';
import { daemonModule } from '../daemon-api.js';

/** Runs a program without a shell (journalctl, for the bundle's logs); never rejects. */
const journalRunner = {
  run: (file: string, args: readonly string[], o?: { timeoutMs?: number }) =>
    new Promise<{ stdout: string; stderr: string; exitCode: number }>((resolve) => {
      execFile(file, [...args], { timeout: o?.timeoutMs ?? 10_000, maxBuffer: 8 * 1024 * 1024 }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 127) : 0;
        resolve({ stdout, stderr: stderr || (err ? err.message : ''), exitCode: code });
      });
    }),
};

interface BundleOpts {
  socket?: string;
  config?: string;
  out?: string;
}

/** Registers `debug bundle`. */
export function register(program: Command): void {
  const debug = program.command('debug').description('debugging aids');
  const bundle = debug
    .command('bundle')
    .description('write a bug-report bundle: versions, status, timeline, audit check, netmap, config and recent logs, secrets removed')
    .option('--config <file>', 'daemon config to include (its log file, and its key files so that their secrets are removed)')
    .option('--out <file>', 'write here (.json, or .json.gz / .gz for gzip; mode 0600) instead of stdout');
  addSocketOption(bundle);
  addExamples(bundle, [
    'rustynet debug bundle --config /etc/rustynet/rustynetd.json --out /tmp/rustynet-bundle.json.gz',
    'rustynet debug bundle | jq .status',
  ]);
  bundle.addHelpText(
    'after',
    '\nPrivate keys, pre-auth keys and tokens are replaced by [REDACTED]; a bundle in which one survives is not written.',
  );
  bundle.action(async (opts: BundleOpts) => {
    let config: Record<string, unknown> | undefined;
    if (opts.config) {
      await (await daemonModule()).loadDaemonConfig(opts.config); // validates; named errors on a bad file
      try {
        config = JSON.parse(await readFile(opts.config, 'utf8')) as Record<string, unknown>;
      } catch (err) {
        throw invalidInput('config', `cannot read ${opts.config}: ${(err as Error).message}`);
      }
    }
    const { text } = await buildDebugBundle({
      client: apiClient({ ...opts, timeout: 10_000 }),
      cliVersion: CLI_VERSION,
      ...(opts.config !== undefined && { configPath: opts.config }),
      ...(config && { config }),
      runner: journalRunner,
    });
    if (!opts.out) return io().out(text);
    const data = /\.gz$/.test(opts.out) ? gzipSync(text) : text;
    await writeFile(opts.out, data, { mode: 0o600 });
    await chmod(opts.out, 0o600);
    io().err(`rustynet: debug bundle written to ${opts.out} (${Buffer.byteLength(data)} bytes)\n`);
  });
}
