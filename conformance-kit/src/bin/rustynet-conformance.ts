#!/usr/bin/env node
/**
 * `rustynet-conformance`: the kit's own executable, so a plugin author can start from the
 * registry without the CLI (`npx @rustynet/conformance-kit init my-backend`) and run the suites
 * (`rustynet-conformance test .`, the same runner as `rustynet plugin test`).
 */
import { parseArgs } from 'node:util';
import { runPluginTest, KIT_VERSION } from '../runner/run-plugin-test.js';
import { initPlugin } from '../init/init-plugin.js';
import { formatRunError, runErrorOf, type RunError } from '../runner/run-error.js';

const USAGE = `usage: rustynet-conformance <command> [options]

commands:
  init <name> [--kind backend] [--dir <dir>] [--json]
      scaffold a plugin package from the template shipped in this kit
  test <plugin> [--profile full|quick] [--grep <re>] [--reporter spec|json|junit]
       [--output <file>] [--seed <n>] [--timeout-multiplier <x>] [--list] [--bail]
       [--keep-logs <dir>] [--backend <plugin>]
      run the conformance suite of the plugin's kind (root: it builds network namespaces)

examples:
  npx @rustynet/conformance-kit init @acme/backend-foo
  sudo npx rustynet-conformance test ./backend-foo --profile quick

Exit status: 0 success, 1 a test failed, 2 usage error or a plugin that failed to load.
Errors print as "rustynet: <CODE>: <message>" (with --json or --reporter json: one JSON object).
`;

function fail(e: RunError, json: boolean): number {
  process.stderr.write(formatRunError(e, json));
  return 2;
}

async function init(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { kind: { type: 'string', default: 'backend' }, dir: { type: 'string' }, json: { type: 'boolean' } },
  });
  const json = values.json === true;
  const name = positionals[0];
  if (name === undefined || positionals.length > 1) {
    return fail({ code: 'INVALID_INPUT', field: 'name', message: 'init takes one argument, the package name of the new plugin' }, json);
  }
  const kind = values.kind as 'backend';
  const res = await initPlugin({ name, kind, ...(values.dir !== undefined && { dir: values.dir }) });
  if (json) process.stdout.write(`${JSON.stringify(res, null, 2)}\n`);
  else {
    process.stdout.write(`created ${name} (${kind}, protocol "${res.protocol}") in ${res.dir}: ${res.files.length} files\n`);
    process.stdout.write(`next:\n  cd ${res.dir} && npm install && npm run build\n  sudo npm run conformance\n`);
  }
  return 0;
}

function number(field: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw Object.assign(new Error(`--${field} must be a number, got "${v}"`), { code: 'INVALID_INPUT', field });
  return n;
}

async function test(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      profile: { type: 'string' },
      grep: { type: 'string' },
      reporter: { type: 'string' },
      output: { type: 'string' },
      seed: { type: 'string' },
      'timeout-multiplier': { type: 'string' },
      list: { type: 'boolean' },
      bail: { type: 'boolean' },
      'keep-logs': { type: 'string' },
      backend: { type: 'string' },
    },
  });
  const json = values.reporter === 'json';
  const plugin = positionals[0];
  if (plugin === undefined || positionals.length > 1) {
    return fail({ code: 'INVALID_INPUT', field: 'plugin', message: 'test takes one argument, a plugin package name or directory' }, json);
  }
  const seed = number('seed', values.seed);
  const timeoutMultiplier = number('timeout-multiplier', values['timeout-multiplier']);
  return runPluginTest({
    plugin,
    ...(values.profile !== undefined && { profile: values.profile }),
    ...(values.grep !== undefined && { grep: values.grep }),
    ...(values.reporter !== undefined && { reporter: values.reporter as 'spec' }),
    ...(values.output !== undefined && { output: values.output }),
    ...(seed !== undefined && { seed }),
    ...(timeoutMultiplier !== undefined && { timeoutMultiplier }),
    ...(values.list === true && { list: true }),
    ...(values.bail === true && { bail: true }),
    ...(values['keep-logs'] !== undefined && { keepLogs: values['keep-logs'] }),
    ...(values.backend !== undefined && { backend: values.backend }),
  });
}

/** Runs the program; @returns the exit status. */
async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const json = rest.includes('--json') || rest.join(' ').includes('--reporter json') || rest.includes('--reporter=json');
  try {
    if (command === 'init') return await init(rest);
    if (command === 'test') return await test(rest);
    if (command === '--version' || command === '-V') {
      process.stdout.write(`${KIT_VERSION}\n`);
      return 0;
    }
    if (command === '--help' || command === '-h' || command === 'help') {
      process.stdout.write(USAGE);
      return 0;
    }
    process.stderr.write(USAGE);
    return fail({ code: 'INVALID_INPUT', message: command === undefined ? 'a command is required' : `unknown command "${command}"` }, json);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    // node:util parseArgs names unknown options and missing values with ERR_PARSE_ARGS_* codes.
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
      return fail({ code: 'INVALID_INPUT', message: (err as Error).message }, json);
    }
    const e = runErrorOf(err);
    process.stderr.write(
      formatRunError(e.code === 'PLUGIN_LOAD_FAILED' && !(typeof code === 'string') ? { ...e, code: 'INTERNAL' } : e, json),
    );
    return code === 'INVALID_INPUT' || code === 'UNSUPPORTED' || code === 'PACKAGE_INCOMPLETE' ? 2 : 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
