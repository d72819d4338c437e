/**
 * Test doubles for the plugin context: a recording command runner, recording metrics, a manual
 * clock, an in-memory state store and a logger that keeps its records.
 */
import {
  RustynetError,
  type Clock,
  type CommandResult,
  type CommandRunner,
  type Counter,
  type Gauge,
  type Histogram,
  type Logger,
  type ManagedProcess,
  type Metrics,
  type PluginContext,
  type RunOptions,
  type StateStore,
} from '@rustynet/plugin-api';

/** One recorded command. */
export interface RecordedCall {
  file: string;
  args: string[];
  input: string | undefined;
  options: RunOptions | undefined;
}

/** What a scripted command answers. */
export type Responder = (call: RecordedCall) => Partial<CommandResult> | Promise<Partial<CommandResult>>;

/**
 * A CommandRunner that records every call and answers from `responder` (default: exit 0, no
 * output). Honours `reject` like the daemon's runner: a non-zero exit throws COMMAND_FAILED.
 */
export class RecordingRunner implements CommandRunner {
  readonly calls: RecordedCall[] = [];
  constructor(public responder: Responder = () => ({})) {}

  async run(file: string, args: readonly string[], options?: RunOptions): Promise<CommandResult> {
    const input =
      options?.input === undefined
        ? undefined
        : typeof options.input === 'string'
          ? options.input
          : Buffer.from(options.input).toString('utf8');
    const call: RecordedCall = { file, args: [...args], input, options };
    this.calls.push(call);
    const r = await this.responder(call);
    const res: CommandResult = { stdout: r.stdout ?? '', stderr: r.stderr ?? '', exitCode: r.exitCode ?? 0 };
    if (res.exitCode !== 0 && options?.reject !== false) {
      throw new RustynetError('COMMAND_FAILED', `${file} exited ${res.exitCode}`, {
        details: { exitCode: res.exitCode, stderr: res.stderr },
      });
    }
    return res;
  }

  spawn(): ManagedProcess {
    throw new RustynetError('UNSUPPORTED', 'RecordingRunner.spawn is not used by the policy plugin');
  }
}

type Labels = Record<string, string> | undefined;
const key = (labels: Labels): string => JSON.stringify(Object.entries(labels ?? {}).sort());

/** Metrics that keep every value, for assertions. */
export class RecordingMetrics implements Metrics {
  readonly counters = new Map<string, Map<string, number>>();
  readonly gauges = new Map<string, Map<string, number>>();
  readonly histograms = new Map<string, number[]>();

  counter(name: string): Counter {
    const m = this.counters.get(name) ?? new Map<string, number>();
    this.counters.set(name, m);
    return { inc: (labels?: Labels, value = 1) => m.set(key(labels), (m.get(key(labels)) ?? 0) + value) };
  }
  gauge(name: string): Gauge {
    const m = this.gauges.get(name) ?? new Map<string, number>();
    this.gauges.set(name, m);
    return {
      set: (a: Record<string, string> | number, b?: number) => {
        if (typeof a === 'number') m.set(key(undefined), a);
        else m.set(key(a), b as number);
      },
    };
  }
  histogram(name: string): Histogram {
    const list = this.histograms.get(name) ?? [];
    this.histograms.set(name, list);
    return {
      observe: (a: Record<string, string> | number, b?: number) => list.push(typeof a === 'number' ? a : (b as number)),
    };
  }
  /** Value of counter `name` with exactly `labels`. */
  counterValue(name: string, labels?: Record<string, string>): number {
    return this.counters.get(name)?.get(key(labels)) ?? 0;
  }
  gaugeValue(name: string, labels?: Record<string, string>): number | undefined {
    return this.gauges.get(name)?.get(key(labels));
  }
}

/** A clock whose sleeps resolve only when the test calls {@link ManualClock.advance}. */
export class ManualClock implements Clock {
  t = 1_700_000_000_000;
  private pending: Array<{ until: number; resolve: () => void }> = [];
  now(): number {
    return this.t;
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return void reject(new RustynetError('ABORTED', 'aborted'));
      const entry = { until: this.t + ms, resolve };
      this.pending.push(entry);
      signal?.addEventListener('abort', () => {
        this.pending = this.pending.filter((p) => p !== entry);
        reject(new RustynetError('ABORTED', 'aborted'));
      });
    });
  }
  /** Moves time forward and resolves the sleeps that are due. */
  advance(ms: number): void {
    this.t += ms;
    const due = this.pending.filter((p) => p.until <= this.t);
    this.pending = this.pending.filter((p) => p.until > this.t);
    for (const p of due) p.resolve();
  }
  get sleepers(): number {
    return this.pending.length;
  }
}

/** Log records kept in memory. */
export class MemoryLogger implements Logger {
  constructor(readonly records: Array<{ level: string; obj: unknown; msg?: string }> = []) {}
  private rec(level: string): (obj: object | string, msg?: string) => void {
    return (obj, msg) => {
      this.records.push({ level, obj, ...(msg !== undefined && { msg }) });
    };
  }
  trace = this.rec('trace');
  debug = this.rec('debug');
  info = this.rec('info');
  warn = this.rec('warn');
  error = this.rec('error');
  child(): Logger {
    return new MemoryLogger(this.records);
  }
}

class MemoryState implements StateStore {
  private m = new Map<string, unknown>();
  constructor(readonly dir: string) {}
  async read<T>(k: string): Promise<T | undefined> {
    return this.m.get(k) as T | undefined;
  }
  async write(k: string, v: unknown): Promise<void> {
    this.m.set(k, v);
  }
  async delete(k: string): Promise<void> {
    this.m.delete(k);
  }
}

const noHook = { tapPromise: () => undefined };

/** A complete PluginContext built from test doubles. */
export function makeContext(opts: {
  runner: CommandRunner;
  options?: Record<string, unknown>;
  metrics?: RecordingMetrics;
  clock?: Clock;
  logger?: MemoryLogger;
}): PluginContext & { metrics: RecordingMetrics; logger: MemoryLogger } {
  return {
    pluginName: '@rustynet/policy-nftables',
    apiVersion: '1.0',
    options: { counterPollIntervalMs: 0, ...(opts.options ?? {}) },
    logger: opts.logger ?? new MemoryLogger(),
    runner: opts.runner,
    metrics: opts.metrics ?? new RecordingMetrics(),
    clock: opts.clock ?? new ManualClock(),
    state: new MemoryState('/nonexistent'),
    hooks: { netmapAccepted: noHook, resolvePeerEndpoint: noHook, applied: noHook, shutdown: noHook },
  };
}
