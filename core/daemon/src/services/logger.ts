import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { pino, type DestinationStream, type Level } from 'pino';
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
  /** Human-readable output; needs `pino-pretty`, falls back to JSON lines when absent. */
  pretty?: boolean;
  /** Write to this stream (tests). Takes precedence over `file`. */
  stream?: DestinationStream;
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
    dest = pino.destination({ dest: opts.file, append: true, sync: true, mode: 0o600 });
  }
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
          method.apply(this, scrubbed);
        },
      },
    },
    dest ?? process.stdout,
  );
  const typed: Logger = logger;
  return typed;
}
