/**
 * The `rustynet` command-line program: commander setup shared by every command group,
 * error reporting and exit statuses.
 */
import { Command, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { LocalApiClient, resolveSocket } from './api-client.js';
import { EXIT_CODES_HELP, EXIT_OK, ExitStatus, exitCodeFor, formatError, formatErrorJson, isCommanderError, wantsJson } from './errors.js';
import { io, processIo, withIo, type CliIo } from './io.js';

/** Version of this package (read from its package.json). */
export const CLI_VERSION: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
})();

/**
 * Adds an "Examples:" block to a command's `--help`.
 * @param lines each line is one example command, optionally followed by `  # comment`.
 */
export function addExamples(cmd: Command, lines: readonly string[]): Command {
  return cmd.addHelpText('after', `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}`);
}

/** Adds `--socket <path>` (default: `RUSTYNET_SOCKET` or /run/rustynet/rustynetd.sock). */
export function addSocketOption(cmd: Command): Command {
  return cmd.addOption(
    new Option('--socket <path>', 'local API socket of rustynetd (env RUSTYNET_SOCKET; default /run/rustynet/rustynetd.sock)'),
  );
}

/** Adds `--json` (machine-readable output on stdout). */
export function addJsonOption(cmd: Command): Command {
  return cmd.option('--json', 'print machine-readable JSON on stdout');
}

/** A local API client for the socket selected by `--socket` / `RUSTYNET_SOCKET`. */
export function apiClient(opts: { socket?: string; timeout?: number }): LocalApiClient {
  return new LocalApiClient(resolveSocket(opts.socket, io().env), opts.timeout);
}

/**
 * Creates a bare program with the settings every Rustynet command inherits: output through
 * {@link io}, errors through exceptions (no `process.exit` inside commander), help after
 * usage errors, and the exit-status table in `--help`. Configure before adding subcommands:
 * commander copies these settings into each subcommand when it is created.
 */
export function createBaseProgram(name: string, description: string): Command {
  const program = new Command(name);
  program
    .description(description)
    .version(CLI_VERSION, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help for the command')
    .configureOutput({
      writeOut: (s) => io().out(s),
      writeErr: (s) => io().err(s),
      // Usage errors are printed by runCli in the "<prog>: <CODE>: <message>" form.
      outputError: () => undefined,
    })
    .exitOverride();
  program.addHelpText('afterAll', EXIT_CODES_HELP);
  return program;
}

/**
 * Parses `argv` (as in `process.argv`, i.e. starting with node and the script) and runs the
 * selected command.
 * @returns the exit status: 0 success, 1 failure, 2 usage / load error. Errors are printed to
 *   stderr as `<program>: <CODE>: <message>`, or (with `--json` / `--reporter json` in `argv`) as
 *   one JSON object `{"error":{"code","errno","message",...}}`.
 */
export async function runProgram(program: Command, argv: readonly string[], cliIo: CliIo = processIo): Promise<number> {
  return withIo(cliIo, async () => {
    try {
      await program.parseAsync([...argv]);
      return EXIT_OK;
    } catch (err) {
      if (err instanceof ExitStatus) return err.status;
      const code = exitCodeFor(err);
      const json = wantsJson(argv);
      if (isCommanderError(err)) {
        if (code === EXIT_OK) return EXIT_OK; // --help, --version
        cliIo.err(`${json ? formatErrorJson(err) : formatError(program.name(), err)}\n`);
        if (!json) cliIo.err(`(run "${program.name()} --help" for usage)\n`);
        return code;
      }
      cliIo.err(`${json ? formatErrorJson(err) : formatError(program.name(), err)}\n`);
      if (cliIo.env['RUSTYNET_DEBUG'] && err instanceof Error && err.stack) cliIo.err(`${err.stack}\n`);
      return code;
    }
  });
}
