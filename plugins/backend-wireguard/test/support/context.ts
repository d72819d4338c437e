/**
 * Test-only PluginContext: a logger that records every line, a real clock, no-op metrics and
 * hooks, and a state store in a temporary directory.
 */
import { mkdtempSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  RustynetError,
  type Clock,
  type CommandRunner,
  type Logger,
  type Metrics,
  type PluginContext,
  type PluginHooks,
  type StateStore,
} from '@rustynet/plugin-api';

/** One recorded log line. */
export interface LogLine {
  level: string;
  obj: object | string;
  msg?: string;
}

/** A logger that keeps every line in `lines` (shared by its children). */
export class RecordingLogger implements Logger {
  constructor(
    readonly lines: LogLine[] = [],
    private readonly bindings: Record<string, unknown> = {},
  ) {}
  private rec(level: string, obj: object | string, msg?: string): void {
    const o = typeof obj === 'string' ? obj : { ...this.bindings, ...obj };
    this.lines.push(msg === undefined ? { level, obj: o } : { level, obj: o, msg });
    if (process.env.RN_TEST_LOG) console.log(level, JSON.stringify(o), msg ?? '');
  }
  trace(obj: object | string, msg?: string): void {
    this.rec('trace', obj, msg);
  }
  debug(obj: object | string, msg?: string): void {
    this.rec('debug', obj, msg);
  }
  info(obj: object | string, msg?: string): void {
    this.rec('info', obj, msg);
  }
  warn(obj: object | string, msg?: string): void {
    this.rec('warn', obj, msg);
  }
  error(obj: object | string, msg?: string): void {
    this.rec('error', obj, msg);
  }
  child(bindings: Record<string, unknown>): Logger {
    return new RecordingLogger(this.lines, { ...this.bindings, ...bindings });
  }
  /** Every line as one string, for secret scans. */
  text(): string {
    return this.lines.map((l) => JSON.stringify(l)).join('\n');
  }
}

/** The real clock. */
export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(new RustynetError('ABORTED', 'aborted'));
      const t = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = (): void => {
        clearTimeout(t);
        reject(new RustynetError('ABORTED', 'aborted'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

const noopMetric = { inc: () => undefined, set: () => undefined, observe: () => undefined };
const metrics: Metrics = {
  counter: () => noopMetric,
  gauge: () => noopMetric,
  histogram: () => noopMetric,
};
const hook = { tapPromise: () => undefined };
const hooks: PluginHooks = { netmapAccepted: hook, resolvePeerEndpoint: hook, applied: hook, shutdown: hook };

/** A JSON file store in `dir`. */
class DirStateStore implements StateStore {
  constructor(readonly dir: string) {}
  async read<T>(key: string): Promise<T | undefined> {
    try {
      return JSON.parse(await readFile(join(this.dir, `${key}.json`), 'utf8')) as T;
    } catch {
      return undefined;
    }
  }
  async write(key: string, value: unknown): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFile(join(this.dir, `${key}.json`), JSON.stringify(value), { mode: 0o600 });
  }
  async delete(key: string): Promise<void> {
    await rm(join(this.dir, `${key}.json`), { force: true });
  }
}

/** A fresh temporary directory (mode 0700). */
export function tempDir(prefix = 'rn-wg-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Builds a PluginContext around `runner`. */
export function makeContext(
  runner: CommandRunner,
  options: Record<string, unknown> = {},
  logger = new RecordingLogger(),
): PluginContext & { logger: RecordingLogger } {
  return {
    pluginName: '@rustynet/backend-wireguard',
    apiVersion: '1.0',
    options,
    logger,
    runner,
    metrics,
    clock: realClock,
    state: new DirStateStore(tempDir('rn-wg-state-')),
    hooks,
  };
}
