/**
 * How the runner reports an error that ends a run before any test: the one error format of every
 * Rustynet tool (`rustynet: <CODE>: <message>` on stderr), or, with the `json` reporter, one
 * JSON error object on stderr (`{"error":{"code","errno","message",...}}`).
 */
import { ErrorCodes, type ErrorCode } from '@rustynet/plugin-api';

/** The test profiles the kit knows: `full` runs everything, `quick` skips the slowest tests. */
export const PROFILES = ['full', 'quick'] as const;

/** One of {@link PROFILES}. */
export type Profile = (typeof PROFILES)[number];

/** An error that ends a run before it starts: a stable code, a message, optionally the field. */
export interface RunError {
  /** A stable code of `@rustynet/plugin-api` (an unknown code is reported as `PLUGIN_LOAD_FAILED`). */
  code: string;
  /** What went wrong and what to do, in words. */
  message: string;
  /** The option or manifest field at fault, e.g. `profile` or `capabilities.ipv6`. */
  field?: string;
  /** Machine-readable details (e.g. every schema error of a manifest). */
  details?: Record<string, unknown>;
}

/**
 * Formats `e` for the stream: `rustynet: CODE: message\n`, or with `json` one line
 * `{"error":{"code":"CODE","errno":N,"message":"...","field":"..."}}\n`.
 */
export function formatRunError(e: RunError, json: boolean): string {
  const code: ErrorCode = e.code in ErrorCodes ? (e.code as ErrorCode) : 'PLUGIN_LOAD_FAILED';
  if (!json) return `rustynet: ${code}: ${e.message}\n`;
  const error = {
    code,
    errno: ErrorCodes[code],
    message: e.message,
    ...(e.field !== undefined && { field: e.field }),
    ...(e.details !== undefined && { details: e.details }),
  };
  return `${JSON.stringify({ error })}\n`;
}

/** The {@link RunError} of an error thrown by the loader (a `RustynetError` from any copy). */
export function runErrorOf(err: unknown, prefix = ''): RunError {
  const e = err as { code?: unknown; message?: unknown; field?: unknown; details?: unknown };
  return {
    code: typeof e?.code === 'string' ? e.code : 'PLUGIN_LOAD_FAILED',
    message: `${prefix}${typeof e?.message === 'string' ? e.message : String(err)}`,
    ...(typeof e?.field === 'string' && { field: e.field }),
    ...(typeof e?.details === 'object' && e.details !== null && { details: e.details as Record<string, unknown> }),
  };
}
