import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { pino, type DestinationStream, type Level, type Logger as PinoLogger } from 'pino';
import type { build as PrettyBuild } from 'pino-pretty';

/**
 * pino-pretty's stream factory, loaded on first use: only `log.pretty` needs it, and a daemon that
 * logs JSON lines does not carry the module's memory (CommonJS, so `require` keeps this sync).
 */
function prettyStream(...args: Parameters<typeof PrettyBuild>): ReturnType<typeof PrettyBuild> {
  const load = createRequire(import.meta.url) as (id: string) => { build: typeof PrettyBuild };
  return load('pino-pretty').build(...args);
}
import type { Logger } from '@rustynet/plugin-api';

/**
 * Field paths (pino `redact` syntax) whose values are replaced by `[Redacted]` in every record.
 * Covers the plugin-api list (`privateKey`, `secret`, `password`, `token`) plus `key` and `pem`,
 * at the top level and one or two levels deep.
 */
export const REDACT_PATHS: readonly string[] = (() => {
  const names = ['privateKey', 'private_key', 'secret', 'key', 'pem', 'password', 'token', 'identityKeyPem', 'privateKeyPem'];
  const out: string[] = [];
  for (const n of names) out.push(n, `*.${n}`, `*.*.${n}`);
  return out;
})();

/** Text of a PEM private key block, or a line that carries one. */
const PEM_PRIVATE = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z0-9 ]*PRIVATE KEY-----|$)/g;

/** Replaces PEM private-key blocks in a string with `[Redacted]`. */
export function scrubSecrets(text: string): string {
  return text.includes('PRIVATE KEY-----') ? text.replace(PEM_PRIVATE, '[Redacted]') : text;
}

function scrubValue(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return scrubSecrets(value);
  if (depth <= 0 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) return value;
  if (Array.isArray(value)) return value.map((v) => scrubValue(v, depth - 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = scrubValue(v, depth - 1);
  return out;
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** pino level: `trace`, `debug`, `info` (default), `warn`, `error`, `fatal`, `silent`. */
  level?: string;
  /** Append JSON lines to this file (created, parent dir 0700) instead of stdout. */
  file?: string;
  /**
   * Human-readable lines (pino-pretty, in process, no colours) instead of JSON lines; to the
   * file when `file` is set, else stdout. For people reading a terminal or journal, not for log
   * shippers.
   */
  pretty?: boolean;
  /** Write to this stream (tests). Takes precedence over `file`. */
  stream?: DestinationStream;
}

const bindingsCache = new WeakMap<object, Record<string, unknown>>();

/** The bindings of `logger` (base fields such as `pid`, and every `child` binding), cached. */
function bindingsOf(logger: PinoLogger): Record<string, unknown> {
  let b = bindingsCache.get(logger);
  if (!b) {
    b = { pid: process.pid, ...logger.bindings() };
    bindingsCache.set(logger, b);
  }
  return b;
}

/**
 * `fields` without the keys `bound` already carries: an equal value is dropped; a different one
 * is kept under `<key>_2` (pino writes bound fields and record fields side by side, so a repeated
 * key would otherwise appear twice on one line).
 */
export function withoutBoundKeys(fields: Record<string, unknown>, bound: Record<string, unknown>): Record<string, unknown> {
  if (!Object.keys(fields).some((k) => k in bound)) return fields;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (!(k in bound)) out[k] = v;
    else if (JSON.stringify(bound[k]) !== JSON.stringify(v)) out[`${k}_2`] = v;
  }
  return out;
}

/**
 * Creates the daemon's structured logger: pino with path redaction ({@link REDACT_PATHS}) and a
 * scrubber that removes PEM private-key blocks from any string value or message.
 */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = (opts.level ?? 'info') as Level;
  let dest: DestinationStream | undefined = opts.stream;
  if (!dest && opts.file) {
    mkdirSync(dirname(opts.file), { recursive: true, mode: 0o700 });
    dest = opts.pretty
      ? prettyStream({ destination: pino.destination({ dest: opts.file, append: true, sync: true, mode: 0o600 }), colorize: false })
      : pino.destination({ dest: opts.file, append: true, sync: true, mode: 0o600 });
  }
  if (!dest && opts.pretty) dest = prettyStream({ destination: 1, sync: true, colorize: false });
  const logger = pino(
    {
      level,
      base: { pid: process.pid },
      redact: { paths: [...REDACT_PATHS], censor: '[Redacted]' },
      formatters: {
        log: (obj) => scrubValue(obj, 4) as Record<string, unknown>,
      },
      hooks: {
        logMethod(args, method) {
          const scrubbed = args.map((a) => (typeof a === 'string' ? scrubSecrets(a) : a)) as typeof args;
          const first: unknown = scrubbed[0];
          if (first !== null && typeof first === 'object' && !(first instanceof Error)) {
            (scrubbed as unknown[])[0] = withoutBoundKeys(first as Record<string, unknown>, bindingsOf(this));
          }
          method.apply(this, scrubbed);
        },
      },
    },
    dest ?? process.stdout,
  );
  // pino writes a child's bindings after its parent's, so re-binding a key (`component`,
  // `plugin`) would repeat it on every line. Every child is therefore made from the root with the
  // merged bindings (the newer value wins); pino creates children with Object.create(parent), so
  // this override reaches every descendant.
  const root = logger;
  const pinoChild = Reflect.get(Object.getPrototypeOf(logger) as object, 'child') as PinoLogger['child'];
  logger.child = function (this: PinoLogger, bindings, options) {
    const rootBound = bindingsOf(root);
    const merged: Record<string, unknown> = {};
    for (const [k, v] of Object.entries({ ...bindingsOf(this), ...bindings })) {
      if (!(k in rootBound)) merged[k] = v;
      else if (JSON.stringify(rootBound[k]) !== JSON.stringify(v)) merged[`${k}_2`] = v;
    }
    const child = pinoChild.call(root, merged, options);
    if (options?.level === undefined) child.level = this.level;
    return child;
  } as PinoLogger['child'];
  const typed: Logger = logger;
  return typed;
}
