/**
 * Test-only plugin context: a real-time clock, a file-backed state store in a temp dir, a logger
 * that prints only when DEBUG_OPENVPN is set, no-op metrics and hooks.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync, renameSync } from 'node:fs';
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

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(new RustynetError('ABORTED', 'sleep aborted'));
      const t = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = (): void => {
        clearTimeout(t);
        reject(new RustynetError('ABORTED', 'sleep aborted'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

/** Everything logged, for assertions (e.g. no key material in logs). */
export class MemoryLogger implements Logger {
  constructor(
    readonly records: Array<{ level: string; obj: unknown; msg?: string }> = [],
    private readonly bindings: Record<string, unknown> = {},
  ) {}
  private rec(level: string, obj: object | string, msg?: string): void {
    this.records.push({ level, obj: typeof obj === 'string' ? obj : { ...this.bindings, ...obj }, ...(msg !== undefined ? { msg } : {}) });
    if (process.env['DEBUG_OPENVPN']) console.error(level, JSON.stringify(obj), msg ?? '');
  }
  trace(o: object | string, m?: string): void {
    this.rec('trace', o, m);
  }
  debug(o: object | string, m?: string): void {
    this.rec('debug', o, m);
  }
  info(o: object | string, m?: string): void {
    this.rec('info', o, m);
  }
  warn(o: object | string, m?: string): void {
    this.rec('warn', o, m);
  }
  error(o: object | string, m?: string): void {
    this.rec('error', o, m);
  }
  child(b: Record<string, unknown>): Logger {
    return new MemoryLogger(this.records, { ...this.bindings, ...b });
  }
}

export const noopMetrics: Metrics = {
  counter: () => ({ inc: () => undefined }),
  gauge: () => ({ set: () => undefined }),
  histogram: () => ({ observe: () => undefined }),
};

const noopHook = { tapPromise: () => undefined };
export const noopHooks: PluginHooks = {
  netmapAccepted: noopHook,
  resolvePeerEndpoint: noopHook,
  applied: noopHook,
  shutdown: noopHook,
};

export function fileStateStore(dir: string): StateStore {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return {
    dir,
    async read<T>(key: string): Promise<T | undefined> {
      try {
        return JSON.parse(readFileSync(join(dir, `${key}.json`), 'utf8')) as T;
      } catch {
        return undefined;
      }
    },
    async write(key, value) {
      writeFileSync(join(dir, `${key}.json.tmp`), JSON.stringify(value), { mode: 0o600 });
      renameSync(join(dir, `${key}.json.tmp`), join(dir, `${key}.json`));
    },
    async delete(key) {
      rmSync(join(dir, `${key}.json`), { force: true });
    },
  };
}

export function makeContext(opts: {
  runner: CommandRunner;
  stateDir: string;
  options?: Record<string, unknown>;
  logger?: MemoryLogger;
}): PluginContext {
  return {
    pluginName: '@rustynet/backend-openvpn',
    apiVersion: '1.0',
    options: opts.options ?? {},
    logger: opts.logger ?? new MemoryLogger(),
    runner: opts.runner,
    metrics: noopMetrics,
    clock: realClock,
    state: fileStateStore(opts.stateDir),
    hooks: noopHooks,
  };
}
