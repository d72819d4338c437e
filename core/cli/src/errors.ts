import { CommanderError } from 'commander';
import { ErrorCodes, isRustynetError, type ErrorCode } from '@rustynet/plugin-api';

/** Exit status: success. */
export const EXIT_OK = 0;
/** Exit status: the operation failed (daemon unreachable, verification failed, backend error...). */
export const EXIT_FAILURE = 1;
/** Exit status: usage error (bad arguments) or a configuration / plugin that failed to load. */
export const EXIT_USAGE = 2;

/** Error codes that mean "what you gave me is wrong" rather than "the operation failed". */
const USAGE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'INVALID_INPUT',
  'PLUGIN_NOT_FOUND',
  'MANIFEST_INVALID',
  'API_VERSION_MISMATCH',
  'PLUGIN_LOAD_FAILED',
  'CONFIG_INVALID',
  'DEPENDENCY_MISSING',
  'PACKAGE_INCOMPLETE',
]);

/** Text appended to every `--help`: the exit statuses. */
export const EXIT_CODES_HELP = `
Exit status:
  0  success
  1  the operation failed (on stderr "<program>: <CODE>: <message>"; with --json, {"error":{...}})
  2  usage error, or a configuration, plugin or optional package that failed to load`;

/** An error already reported by commander (usage errors, `--help`, `--version`). */
export function isCommanderError(err: unknown): err is CommanderError {
  return err instanceof CommanderError;
}

/**
 * The exit status for an error thrown by a command: {@link EXIT_USAGE} for usage, config and
 * plugin-load errors, {@link EXIT_FAILURE} for everything else.
 */
export function exitCodeFor(err: unknown): number {
  if (isCommanderError(err)) return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
  if (isRustynetError(err)) return USAGE_CODES.has(err.code) ? EXIT_USAGE : EXIT_FAILURE;
  return EXIT_FAILURE;
}

/** The stable code of an error: its RustynetError code, `INVALID_INPUT` for usage errors, else `INTERNAL`. */
export function errorCodeOf(err: unknown): ErrorCode {
  if (isRustynetError(err)) return err.code;
  if (isCommanderError(err)) return 'INVALID_INPUT';
  return 'INTERNAL';
}

/** Formats an error as the one line the CLI prints: `<program>: <CODE>: <message>`. */
export function formatError(program: string, err: unknown): string {
  const message = messageOf(err);
  const field = isRustynetError(err) && err.field && !message.includes(err.field) ? ` (field ${err.field})` : '';
  return `${program}: ${errorCodeOf(err)}: ${message}${field}`;
}

function messageOf(err: unknown): string {
  if (isCommanderError(err)) return err.message.replace(/^error:\s*/, '');
  if (err instanceof Error) return err.message;
  return String(err);
}

/**
 * Formats an error as one line of JSON, the `--json` form of {@link formatError}:
 * `{"error":{"code":"CODE","errno":N,"message":"...","field":"...","details":{...}}}`.
 */
export function formatErrorJson(err: unknown): string {
  const code = errorCodeOf(err);
  const error: Record<string, unknown> = { code, errno: ErrorCodes[code], message: messageOf(err) };
  if (isRustynetError(err)) {
    if (err.field !== undefined) error['field'] = err.field;
    if (err.plugin !== undefined) error['plugin'] = err.plugin;
    if (err.details !== undefined) error['details'] = err.details;
  }
  return JSON.stringify({ error });
}

/** True when `argv` asks for machine-readable output (`--json`, or `--reporter json`). */
export function wantsJson(argv: readonly string[]): boolean {
  const i = argv.indexOf('--reporter');
  return argv.includes('--json') || argv.includes('--reporter=json') || (i >= 0 && argv[i + 1] === 'json');
}

/**
 * Thrown by a command that has already reported its outcome and only needs the process to end
 * with `status` (e.g. `plugin test` with failing tests). Printed as nothing.
 */
export class ExitStatus extends Error {
  constructor(readonly status: number) {
    super(`exit status ${status}`);
    this.name = 'ExitStatus';
  }
}
