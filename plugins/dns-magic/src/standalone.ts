#!/usr/bin/env node
/**
 * Runs Magic DNS on its own, outside the daemon: for debugging, benchmarks and namespace tests.
 *
 *   node dist/src/standalone.js --listen 198.18.0.1:53 --listen 127.0.0.1:5353 \
 *     --zone-file zone.json [--options '{"ttl":30,"forwarder":{"host":"192.0.2.1","port":53}}']
 *
 * It prints one JSON line `{"event":"ready","listen":[...]}` on stdout once serving, then reads
 * JSON commands on stdin, one per line, answering each with one JSON line:
 *   {"cmd":"update","zone":{...DnsZoneData}}  -> {"event":"updated","serial":N} | {"event":"error",...}
 *   {"cmd":"stats"}                          -> {"event":"stats","stats":{...},"metrics":{...}}
 *   {"cmd":"stop"}                           -> stops and exits 0
 * SIGTERM and SIGINT stop the server and exit 0. Logs go to stderr as JSON lines.
 *
 * The host services here are minimal: a real clock, in-memory metrics, a stderr logger, and a
 * command runner that refuses (the DNS server runs no commands).
 */
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import {
  API_VERSION,
  RustynetError,
  type Counter,
  type DnsZoneData,
  type Endpoint,
  type Gauge,
  type Histogram,
  type Logger,
  type Metrics,
  type PluginContext,
  type TappableHook,
} from '@rustynet/plugin-api';
import { createPlugin } from './index.js';

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;
type Level = (typeof LEVELS)[number];

/** A JSON-lines logger on stderr. */
export function stderrLogger(level: Level, bindings: Record<string, unknown> = {}): Logger {
  const min = LEVELS.indexOf(level);
  const log =
    (l: Level) =>
    (obj: object | string, msg?: string): void => {
      if (LEVELS.indexOf(l) < min) return;
      const rec = typeof obj === 'string' ? { msg: obj } : { ...obj, ...(msg !== undefined && { msg }) };
      process.stderr.write(`${JSON.stringify({ level: l, time: Date.now(), ...bindings, ...rec })}\n`);
    };
  return {
    trace: log('trace'),
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    child: (b) => stderrLogger(level, { ...bindings, ...b }),
  };
}

/** In-memory metrics: `snapshot()` returns `{ "<name>{label=value,...}": value }`. */
export class MemoryMetrics implements Metrics {
  private readonly values = new Map<string, number>();
  private key(name: string, labels?: Record<string, string>): string {
    const l = labels ? Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)) : [];
    return l.length ? `${name}{${l.map(([k, v]) => `${k}=${v}`).join(',')}}` : name;
  }
  counter(name: string): Counter {
    return {
      inc: (labels?: Record<string, string>, value = 1) => {
        const k = this.key(name, labels);
        this.values.set(k, (this.values.get(k) ?? 0) + value);
      },
    };
  }
  gauge(name: string): Gauge {
    return {
      set: (a: Record<string, string> | number, b?: number) => {
        if (typeof a === 'number') this.values.set(this.key(name), a);
        else this.values.set(this.key(name, a), b ?? 0);
      },
    };
  }
  histogram(name: string): Histogram {
    return {
      observe: (a: Record<string, string> | number, _b?: number) => {
        const k = `${this.key(name, typeof a === 'number' ? undefined : a)}_count`;
        this.values.set(k, (this.values.get(k) ?? 0) + 1);
      },
    };
  }
  /** Current values. */
  snapshot(): Record<string, number> {
    return Object.fromEntries(this.values);
  }
}

function hook<A extends unknown[], R>(): TappableHook<A, R> {
  return { tapPromise: () => undefined };
}

/** Builds the minimal standalone context. */
export function standaloneContext(options: Record<string, unknown>, logLevel: Level = 'warn'): PluginContext & { metrics: MemoryMetrics } {
  const store = new Map<string, unknown>();
  return {
    pluginName: '@rustynet/dns-magic',
    apiVersion: API_VERSION,
    options,
    logger: stderrLogger(logLevel, { plugin: '@rustynet/dns-magic' }),
    runner: {
      run: () => Promise.reject(new RustynetError('UNSUPPORTED', 'standalone magic DNS runs no commands')),
      spawn: () => {
        throw new RustynetError('UNSUPPORTED', 'standalone magic DNS runs no commands');
      },
    },
    metrics: new MemoryMetrics(),
    clock: {
      now: () => Date.now(),
      sleep: (ms, signal) =>
        new Promise((resolve, reject) => {
          const t = setTimeout(resolve, ms);
          signal?.addEventListener('abort', () => {
            clearTimeout(t);
            reject(new RustynetError('ABORTED', 'sleep aborted'));
          });
        }),
    },
    state: {
      dir: tmpdir(),
      read: <T>(k: string) => Promise.resolve(store.get(k) as T | undefined),
      write: (k, v) => {
        store.set(k, v);
        return Promise.resolve();
      },
      delete: (k) => {
        store.delete(k);
        return Promise.resolve();
      },
    },
    hooks: { netmapAccepted: hook(), resolvePeerEndpoint: hook(), applied: hook(), shutdown: hook() },
  };
}

/** Parses `host:port` or `[v6]:port`. */
export function parseEndpoint(s: string): Endpoint {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:]+):(\d+)$/.exec(s);
  if (!m) throw new RustynetError('INVALID_INPUT', `not host:port: ${s}`, { field: 'listen' });
  return { host: m[1], port: Number(m[2]) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      listen: { type: 'string', multiple: true },
      'zone-file': { type: 'string' },
      options: { type: 'string' },
      'log-level': { type: 'string', default: 'warn' },
    },
  });
  const level = (LEVELS as readonly string[]).includes(values['log-level']) ? (values['log-level'] as Level) : 'warn';
  const ctx = standaloneContext(values.options ? (JSON.parse(values.options) as Record<string, unknown>) : {}, level);
  const plugin = createPlugin(ctx);
  const listen = (values.listen ?? ['127.0.0.1:5353']).map(parseEndpoint);
  const out = (o: unknown): void => void process.stdout.write(`${JSON.stringify(o)}\n`);
  await plugin.start({ listen });
  if (values['zone-file']) await plugin.update(JSON.parse(await readFile(values['zone-file'], 'utf8')) as DnsZoneData);
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await plugin.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  out({ event: 'ready', listen: plugin.listening(), zone: plugin.zoneInfo() });
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    void (async () => {
      if (!line.trim()) return;
      try {
        const cmd = JSON.parse(line) as { cmd?: string; zone?: DnsZoneData };
        if (cmd.cmd === 'update') {
          await plugin.update(cmd.zone as DnsZoneData);
          out({ event: 'updated', serial: plugin.zoneInfo().serial });
        } else if (cmd.cmd === 'stats') {
          out({ event: 'stats', stats: plugin.stats(), metrics: ctx.metrics.snapshot() });
        } else if (cmd.cmd === 'stop') {
          await stop();
        } else {
          out({ event: 'error', message: `unknown command ${String(cmd.cmd)}` });
        }
      } catch (err) {
        const e = err as Partial<RustynetError>;
        out({ event: 'error', code: e.code ?? 'INTERNAL', field: e.field, message: String(e.message ?? err) });
      }
    })();
  });
  rl.on('close', () => undefined);
}

const isMain = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) {
  main().catch((err: unknown) => {
    const e = err as Partial<RustynetError>;
    process.stdout.write(`${JSON.stringify({ event: 'error', code: e.code ?? 'INTERNAL', message: String(e.message ?? err) })}\n`);
    process.exit(1);
  });
}
