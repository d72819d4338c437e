/**
 * `rustynet plugin list|test|init`: loaded plugins of a running daemon (local API), and the
 * conformance kit's runner and scaffolder for plugin authors.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { Option, type Command } from 'commander';
import type { InitPluginOptions, RunPluginTestOptions } from '@rustynet/conformance-kit';
import { RustynetError } from '@rustynet/plugin-api';
import type { PluginStatus } from '../api-client.js';
import { ExitStatus } from '../errors.js';
import { table } from '../format.js';
import { io, printJson } from '../io.js';
import { addExamples, addJsonOption, addSocketOption, apiClient } from '../program.js';

type PluginTestOptions = RunPluginTestOptions;

/**
 * What `plugin test` and `plugin init` take from the kit (optional: an old or half-built kit
 * may lack one). Only types are imported statically; TypeScript erases them, so the compiled
 * CLI has no static import of the kit (dependency rule `cli-loads-the-kit-on-demand`).
 */
type KitModule = Partial<Pick<typeof import('@rustynet/conformance-kit'), 'runPluginTest' | 'initPlugin'>>;

/** A stream that forwards to the CLI's IO (so in-process runs capture the kit's output). */
function ioStream(which: 'out' | 'err'): Writable {
  return new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      io()[which](typeof chunk === 'string' ? chunk : chunk.toString('utf8'));
      cb();
    },
  });
}

/** The kit's package name, and the npm commands that install it (printed when it is missing). */
const KIT = '@rustynet/conformance-kit';
const KIT_INSTALL_HINT =
  `install it next to the CLI: "npm install -g ${KIT}@^1" for a global rustynet, or ` +
  `"npm install --save-dev ${KIT}@^1" in your plugin's folder`;

/** True when `err` says that `pkg` itself (not something inside it) cannot be found. */
function isPackageMissing(err: unknown, pkg: string): boolean {
  const e = err as { code?: unknown; message?: unknown };
  if (e?.code !== 'ERR_MODULE_NOT_FOUND' && e?.code !== 'MODULE_NOT_FOUND') return false;
  return typeof e.message === 'string' && e.message.includes(`'${pkg}'`);
}

/**
 * Imports `@rustynet/conformance-kit` on demand: only `plugin test` and `plugin init` load it,
 * so `rustynet status` and the rest start without it. The kit is an optional peer dependency of
 * `@rustynet/cli` (it brings mocha and chai, which production nodes do not need): it is resolved
 * next to the CLI first, then from the current directory (a plugin project that has it as a
 * devDependency, run by a global `rustynet`).
 * @throws RustynetError `DEPENDENCY_MISSING` (with the npm command) when the kit is installed in
 *   neither place; `INTERNAL` when it is there but fails to load or lacks `name`.
 */
async function kitFunction<K extends keyof KitModule>(name: K): Promise<NonNullable<KitModule[K]>> {
  let mod: KitModule;
  try {
    mod = await import('@rustynet/conformance-kit');
  } catch (cause) {
    if (!isPackageMissing(cause, KIT)) {
      throw new RustynetError('INTERNAL', `cannot load ${KIT} (is it built?): ${(cause as Error).message}`, { cause });
    }
    let local: string;
    try {
      local = createRequire(join(process.cwd(), 'package.json')).resolve(KIT);
    } catch {
      throw new RustynetError(
        'DEPENDENCY_MISSING',
        `"rustynet plugin ${name === 'initPlugin' ? 'init' : 'test'}" needs ${KIT}, which is not installed: ${KIT_INSTALL_HINT}`,
        {
          details: { package: KIT },
          cause,
        },
      );
    }
    mod = (await import(pathToFileURL(local).href)) as KitModule;
  }
  const fn = mod[name];
  if (typeof fn !== 'function') throw new RustynetError('INTERNAL', `${KIT} does not export ${name} (is it built?)`);
  return fn;
}

function parsePositiveNumber(field: string, integer: boolean) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || (integer && !Number.isInteger(n)) || (integer ? n < 0 : n <= 0)) {
      throw new RustynetError('INVALID_INPUT', `${field} must be ${integer ? 'a non-negative integer' : 'a positive number'}, got "${v}"`, {
        field,
      });
    }
    return n;
  };
}

function capabilityText(caps: Record<string, unknown> | undefined): string {
  if (!caps) return '-';
  return (
    Object.entries(caps)
      .map(([k, v]) => (v === true ? k : v === false ? null : `${k}=${String(v)}`))
      .filter((x): x is string => x !== null)
      .join(',') || '-'
  );
}

/** Human rendering of `plugin list`. */
export function renderPlugins(list: PluginStatus[]): string {
  if (list.length === 0) return 'no plugins loaded\n';
  return table(
    ['NAME', 'KIND', 'VERSION', 'API', 'CAPABILITIES'],
    list.map((p) => [p.name, p.kind, p.version, p.apiVersion, capabilityText(p.capabilities)]),
  );
}

/** Registers `plugin list`, `plugin test` and `plugin init`. */
export function register(program: Command): void {
  const plugin = program.command('plugin').description('list loaded plugins; test and scaffold plugins with the conformance kit');
  addExamples(plugin, ['rustynet plugin list', 'rustynet plugin test ./my-backend', 'rustynet plugin init backend-foo --kind backend']);

  const list = plugin.command('list').description('plugins loaded by the running rustynetd, with version, API version and capabilities');
  addSocketOption(addJsonOption(list));
  addExamples(list, ['rustynet plugin list', 'rustynet plugin list --json --socket /run/rustynet/a.sock']);
  list.action(async (opts: { socket?: string; json?: boolean }) => {
    const plugins = await apiClient(opts).plugins();
    if (opts.json) printJson(plugins);
    else io().out(renderPlugins(plugins));
  });

  const test = plugin
    .command('test')
    .description('run the conformance kit against a plugin (needs root for the network suites); exit 0 only if every test passed')
    .argument('<plugin>', 'plugin package name, or path to a directory with rustynet-plugin.json')
    .addOption(
      new Option('--profile <name>', 'test profile of the kit: full (default) or quick (skips the 200-peer batch)').choices([
        'full',
        'quick',
      ]),
    )
    .option('--grep <pattern>', 'run only tests whose id or title matches')
    .addOption(new Option('--reporter <name>', 'report format').choices(['spec', 'json', 'junit']).default('spec'))
    .option('--output <file>', 'write the report to a file instead of stdout')
    .option('--seed <n>', 'seed for randomised tests (reproduce a run)', parsePositiveNumber('--seed', true))
    .option('--timeout-multiplier <x>', 'scale every test deadline (slow machines)', parsePositiveNumber('--timeout-multiplier', false))
    .option('--list', 'list the tests (id, capability gate, title) the run would have; run nothing')
    .option('--bail', 'stop after the first failed test')
    .option('--keep-logs <dir>', 'write per test the full output of every process the plugin ran or spawned, and the hook timeline')
    .option(
      '--backend <plugin>',
      'backend plugin (package name or path) that carries traffic under a policy suite; ignored for other kinds; default @rustynet/backend-wireguard, or RUSTYNET_KIT_POLICY_BACKEND',
    );
  addExamples(test, [
    'sudo rustynet plugin test ./my-backend',
    'sudo rustynet plugin test @rustynet/backend-wireguard --reporter junit --output report.xml',
    'sudo rustynet plugin test ./my-backend --grep backend.peers --seed 42 --timeout-multiplier 2',
    'rustynet plugin test ./my-backend --list',
    'sudo rustynet plugin test ./my-backend --bail --keep-logs ./kit-logs',
    'sudo rustynet plugin test plugins/policy-nftables --backend @rustynet/backend-openvpn',
  ]);
  test.action(async (spec: string, opts: Omit<PluginTestOptions, 'plugin'>) => {
    const run = await kitFunction('runPluginTest');
    // --backend wins over the environment (read through the CLI's IO, like RUSTYNET_SOCKET).
    const backend = opts.backend ?? (io().env['RUSTYNET_KIT_POLICY_BACKEND'] || undefined);
    const code = await run({
      plugin: spec,
      cwd: process.cwd(),
      stdout: ioStream('out'),
      stderr: ioStream('err'),
      ...(opts.reporter !== undefined && { reporter: opts.reporter }),
      ...(opts.profile !== undefined && { profile: opts.profile }),
      ...(opts.grep !== undefined && { grep: opts.grep }),
      ...(opts.output !== undefined && { output: opts.output }),
      ...(opts.seed !== undefined && { seed: opts.seed }),
      ...(opts.timeoutMultiplier !== undefined && { timeoutMultiplier: opts.timeoutMultiplier }),
      ...(opts.list === true && { list: true }),
      ...(opts.bail === true && { bail: true }),
      ...(opts.keepLogs !== undefined && { keepLogs: opts.keepLogs }),
      ...(backend !== undefined && { backend }),
    });
    if (typeof code === 'number' && code !== 0) throw new ExitStatus(code);
  });

  const init = plugin
    .command('init')
    .description('scaffold a new plugin package from the kit template')
    .argument('<name>', 'package name of the new plugin, e.g. @acme/backend-foo')
    .addOption(new Option('--kind <kind>', 'plugin kind').choices(['backend', 'policy', 'dns', 'relay']).makeOptionMandatory())
    .option('--dir <dir>', 'directory to create (default: ./<name without scope>)');
  addExamples(init, [
    'rustynet plugin init backend-foo --kind backend',
    'rustynet plugin init @acme/backend-foo --kind backend --dir ./foo',
  ]);
  addJsonOption(init);
  init.action(async (name: string, opts: { kind: InitPluginOptions['kind']; dir?: string; json?: boolean }) => {
    const fn = await kitFunction('initPlugin');
    const res = await fn({ name, kind: opts.kind, ...(opts.dir !== undefined && { dir: opts.dir }) });
    if (opts.json) return void printJson(res);
    io().out(`created ${name} (${opts.kind}, protocol "${res.protocol}") in ${res.dir}: ${res.files.length} files\n`);
    io().out(`next:\n  cd ${res.dir} && npm install && npx tsc -b\n  sudo rustynet plugin test ${res.dir}\n`);
  });
}
