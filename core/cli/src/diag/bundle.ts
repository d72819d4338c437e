/**
 * The debug bundle (`rustynet debug bundle`): one JSON document with what a bug report needs —
 * versions, status, plugins, hook timeline, audit check, the applied netmap (public keys only),
 * the daemon config and recent log lines — with every secret removed (see ./secrets.ts).
 */
import { readFile, stat, open } from 'node:fs/promises';
import { arch, platform, release } from 'node:os';
import { RustynetError } from '@rustynet/plugin-api';
import type { LocalApiClient } from '../api-client.js';
import { collectSecrets, containsSecret, redactJson, redactText, type SecretSet, type SecretSources } from './secrets.js';

/** Format version of the bundle document. */
export const BUNDLE_VERSION = 1;
/** Log lines kept. */
export const BUNDLE_LOG_LINES = 1_000;
/** Bytes read from the end of a log file. */
const LOG_TAIL_BYTES = 1024 * 1024;

/** What the bundle is built from. */
export interface BundleInputs {
  client: LocalApiClient;
  cliVersion: string;
  /** The daemon config file (optional: without it there are no config, log or key-file secrets). */
  configPath?: string;
  /** Parsed daemon config (the file's JSON), when `configPath` was read. */
  config?: Record<string, unknown>;
  /** Runs `journalctl` when the config names no log file. */
  runner?: {
    run(
      file: string,
      args: readonly string[],
      opts?: { timeoutMs?: number },
    ): Promise<{ stdout: string; stderr: string; exitCode: number }>;
  };
  now?: () => number;
}

/** The bundle document. */
export interface DebugBundle {
  bundleVersion: number;
  createdAt: string;
  versions: Record<string, unknown>;
  status: unknown;
  plugins: unknown;
  timeline: unknown;
  audit: unknown;
  netmap: unknown;
  config: unknown;
  logs: { source: string; lines: string[] } | null;
  /** Sections that could not be gathered, and why. */
  errors: Record<string, string>;
}

async function tailLines(path: string, max: number): Promise<string[]> {
  const st = await stat(path);
  const fh = await open(path, 'r');
  try {
    const len = Math.min(st.size, LOG_TAIL_BYTES);
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, st.size - len);
    const lines = buf.toString('utf8').split('\n');
    if (len < st.size) lines.shift(); // a partial first line
    return lines.filter((l) => l !== '').slice(-max);
  } finally {
    await fh.close();
  }
}

function secretSources(cfg: Record<string, unknown> | undefined): SecretSources {
  if (!cfg) return {};
  const backend = (cfg['backend'] ?? {}) as Record<string, unknown>;
  const control = ((cfg['netmap'] ?? {}) as Record<string, unknown>)['control'] as Record<string, unknown> | undefined;
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  const out: SecretSources = {};
  const id = str(cfg['identityKeyFile']);
  const dir = str(backend['keyDirectory']);
  const auth = str(control?.['authKeyFile']);
  if (id) out.identityKeyFile = id;
  if (dir) out.keyDirectory = dir;
  if (auth) out.authKeyFile = auth;
  return out;
}

/**
 * Gathers the bundle. Each section that fails is recorded in `errors` (a bundle of a stopped
 * daemon still has versions, config and logs).
 * @throws RustynetError `INTERNAL` when, after redaction, a known secret is still in the document
 *   (the bundle is then not returned at all).
 */
export async function buildDebugBundle(inp: BundleInputs): Promise<{ bundle: DebugBundle; text: string }> {
  const errors: Record<string, string> = {};
  const section = async <T>(name: string, fn: () => Promise<T>): Promise<T | null> => {
    try {
      return await fn();
    } catch (err) {
      errors[name] = err instanceof Error ? err.message : String(err);
      return null;
    }
  };
  const secrets: SecretSet = await collectSecrets(secretSources(inp.config));
  const c = inp.client;
  const [status, plugins, timeline, audit, netmap] = await Promise.all([
    section('status', () => c.status()),
    section('plugins', () => c.plugins()),
    section('timeline', () => c.timeline()),
    section('audit', () => c.audit()),
    section('netmap', () => c.netmap()),
  ]);
  const versions: Record<string, unknown> = {
    rustynet: inp.cliVersion,
    node: process.version,
    platform: platform(),
    arch: arch(),
    kernel: release(),
  };
  const osRelease = await readFile('/etc/os-release', 'utf8').catch(() => undefined);
  if (osRelease) versions['os'] = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(osRelease)?.[1] ?? null;
  let logs: DebugBundle['logs'] = null;
  const logFile = ((inp.config?.['log'] ?? {}) as Record<string, unknown>)['file'];
  if (typeof logFile === 'string') {
    const lines = await section('logs', () => tailLines(logFile, BUNDLE_LOG_LINES));
    if (lines) logs = { source: logFile, lines };
  } else if (inp.runner) {
    const runner = inp.runner;
    const r = await section('logs', () =>
      runner.run('journalctl', ['-u', 'rustynetd', '-n', String(BUNDLE_LOG_LINES), '--no-pager', '-o', 'short-iso'], {
        timeoutMs: 10_000,
      }),
    );
    if (r && r.exitCode === 0) logs = { source: 'journalctl -u rustynetd', lines: r.stdout.split('\n').filter((l) => l !== '') };
    else if (r) errors['logs'] = `no log file in the config and journalctl failed: ${r.stderr.trim().slice(0, 200)}`;
  }
  const raw: DebugBundle = {
    bundleVersion: BUNDLE_VERSION,
    createdAt: new Date((inp.now ?? Date.now)()).toISOString(),
    versions,
    status,
    plugins,
    timeline,
    audit,
    netmap,
    config: inp.config ? { path: inp.configPath ?? null, content: inp.config } : null,
    logs: logs && { source: logs.source, lines: logs.lines.map((l) => redactText(l, secrets)) },
    errors,
  };
  const bundle = redactJson(raw, secrets);
  const text = `${JSON.stringify(bundle, null, 2)}\n`;
  const bytes = Buffer.from(text, 'utf8');
  if (secrets.some((s) => containsSecret(bytes, s))) {
    throw new RustynetError('INTERNAL', 'a secret survived redaction: the debug bundle was not written (please report this)');
  }
  return { bundle, text };
}
